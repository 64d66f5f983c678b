"""Images, their lensed versions and where the lens changed them."""

import numpy as np

from keras_ssl.evaluation._plotting import finish_figure


def lens_plot(images, lensed, path=None, title=None, count=8):
    """Plots x, L(x) and |x - L(x)| for a few images, one column each.

    The picture of automatic shortcut removal: the top row shows the
    inputs, the middle row the lens's outputs and the bottom row the
    absolute change per pixel (the mean over channels), on one colour
    scale for the whole row with its maximum in the row label, so it
    shows *where* the lens acts (on a shortcut marker, on edges, ...).

    Args:
        images: array `(n, height, width, channels)`, 1 or 3 channels,
            values in `[0, 1]`.
        lensed: the lens's outputs, the same shape.
        path: optional file path; the figure is saved there as PNG
            (dpi 120).
        title: optional title.
        count: how many images (the first `count`), at least 1.

    Returns:
        The `matplotlib.figure.Figure`.

    Raises:
        ValueError: if the arrays are not matching image batches or
            `count` < 1.

    Example:

    ```python
    import numpy as np
    from keras_ssl.evaluation import lens_plot

    x = np.random.default_rng(0).random((4, 16, 16, 1))
    lensed = x.copy()
    lensed[:, 1:4, 1:3] = 0.0  # a lens that erased a corner
    figure = lens_plot(x, lensed, count=4)
    len(figure.axes)  # 12: three rows of four images
    ```
    """
    from matplotlib.figure import Figure

    images = np.asarray(images, dtype="float64")
    lensed = np.asarray(lensed, dtype="float64")
    if (
        images.ndim != 4
        or images.shape != lensed.shape
        or images.shape[-1] not in (1, 3)
        or len(images) == 0
    ):
        raise ValueError(
            "images and lensed must be non-empty batches of the same shape "
            "(n, height, width, 1 or 3); got shapes "
            f"{images.shape} and {lensed.shape}"
        )
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be an integer >= 1; got {count!r}")
    count = min(count, len(images))
    change = np.abs(images - lensed).mean(axis=-1)[:count]
    scale = max(float(change.max()), 1e-12)
    figure = Figure(figsize=(1.4 * count + 0.6, 4.6))
    axes = figure.subplots(3, count, squeeze=False)
    rows = (
        ("x", images[:count]),
        ("L(x)", lensed[:count]),
        (f"|x - L(x)|\n(max {scale:.2f})", change),
    )
    for row, (label, pictures) in enumerate(rows):
        for column in range(count):
            ax = axes[row, column]
            picture = np.clip(pictures[column], 0.0, 1.0)
            if row == 2:
                ax.imshow(picture, cmap="magma", vmin=0.0, vmax=scale)
            elif picture.shape[-1] == 1:
                ax.imshow(picture[..., 0], cmap="gray", vmin=0.0, vmax=1.0)
            else:
                ax.imshow(picture)
            ax.set_xticks([])
            ax.set_yticks([])
            if column == 0:
                ax.set_ylabel(label, fontsize="small")
    if title is not None:
        figure.suptitle(title)
    return finish_figure(figure, path)
