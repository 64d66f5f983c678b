"""Grids of images side by side: samples beside real images."""

import numpy as np

from keras_ssl.evaluation._plotting import finish_figure


def image_grids(
    panels,
    path=None,
    title=None,
    columns=10,
    rows=10,
    value_range=(-1.0, 1.0),
):
    """Draws each set of images as a grid, the grids side by side.

    Args:
        panels: a dict `{panel title: images}`, images of shape `(n,
            height, width, channels)` with 1 (gray) or 3 (RGB) channels,
            or `(n, height, width)`. Each panel shows its first `rows *
            columns` images row by row (fewer if it has fewer).
        path: optional file path; the figure is saved there as PNG
            (dpi 120).
        title: optional title of the figure.
        columns, rows: the grid of each panel.
        value_range: `(low, high)` of the pixel values, mapped to black
            and white (default `(-1, 1)`, the range of a tanh decoder).

    Returns:
        The `matplotlib.figure.Figure` (not registered with `pyplot`).

    Raises:
        ValueError: for no panels, images of another rank or channel
            count, or gray panels mixed with RGB ones.

    Example:

    >>> import numpy as np
    >>> images = np.zeros((20, 8, 8, 1))
    >>> figure = image_grids({"real": images, "samples": images}, rows=2)
    >>> len(figure.axes)
    2
    """
    from matplotlib.figure import Figure

    if not panels:
        raise ValueError("panels must hold at least one set of images")
    low, high = value_range
    tiles = {}
    for name, images in panels.items():
        images = np.asarray(images, dtype=np.float64)
        if images.ndim == 3:
            images = images[..., None]
        if images.ndim != 4 or images.shape[-1] not in (1, 3):
            raise ValueError(
                f"panels[{name!r}] must be images (n, height, width) or (n, "
                f"height, width, 1 or 3); got shape {images.shape}"
            )
        tiles[name] = _tile(
            images[: rows * columns], columns, fill=(low + high) / 2.0
        )
    shapes = {tile.shape for tile in tiles.values()}
    if len({s[-1] for s in shapes}) > 1:
        raise ValueError("panels must all be gray or all RGB")
    width = 3.0 * len(tiles)
    figure = Figure(figsize=(width, 3.4 if title else 3.1))
    axes = figure.subplots(1, len(tiles), squeeze=False)[0]
    for axis, (name, tile) in zip(axes, tiles.items(), strict=True):
        tile = np.clip((tile - low) / (high - low), 0.0, 1.0)
        if tile.shape[-1] == 1:
            axis.imshow(tile[..., 0], cmap="gray", vmin=0.0, vmax=1.0)
        else:
            axis.imshow(tile)
        axis.set_title(name, fontsize="medium")
        axis.set_xticks([])
        axis.set_yticks([])
    if title is not None:
        figure.suptitle(title)
    return finish_figure(figure, path)


def _tile(images, columns, fill):
    """One array holding the images in rows of `columns`, 1 px apart
    (the gaps and empty places set to `fill`)."""
    n, height, width, channels = images.shape
    grid_rows = max(1, -(-n // columns))
    grid_columns = max(1, min(n, columns))
    tile = np.full(
        (
            grid_rows * (height + 1) - 1,
            grid_columns * (width + 1) - 1,
            channels,
        ),
        fill,
    )
    for i, image in enumerate(images):
        row, column = divmod(i, columns)
        top, left = row * (height + 1), column * (width + 1)
        tile[top : top + height, left : left + width] = image
    return tile
