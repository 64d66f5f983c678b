"""Images next to their transformed copies."""

import numpy as np

from keras_ssl.evaluation._plotting import finish_figure


def image_pair_grid(images, transformed, path=None, title=None, columns=8):
    """A grid of image pairs: each image above its transformed copy.

    Pairs are laid out `columns` per row band; every band is two rows,
    the images (`x`) over their transformed copies (`t(x)`). Gray images
    are drawn in gray, RGB images as they are (values clipped to
    `[0, 1]`).

    Args:
        images: array `(n, height, width, channels)`, 1 or 3 channels.
        transformed: array of the same shape.
        path: optional file path; the figure is saved there as PNG.
        title: optional title of the figure.
        columns: pairs per row band, `>= 1`.

    Returns:
        The `matplotlib.figure.Figure`.

    Raises:
        ValueError: if the arrays differ in shape or are not image
            batches with 1 or 3 channels.

    Example:

    ```python
    import numpy as np
    from keras_ssl.evaluation import image_pair_grid

    images = np.random.default_rng(0).random((4, 8, 8, 1))
    figure = image_pair_grid(images, images[:, ::-1], columns=4)
    ```
    """
    from matplotlib.figure import Figure

    images = np.asarray(images, dtype="float64")
    transformed = np.asarray(transformed, dtype="float64")
    if (
        images.shape != transformed.shape
        or images.ndim != 4
        or images.shape[-1] not in (1, 3)
        or not len(images)
    ):
        raise ValueError(
            "images and transformed must be batches of one shape (n, "
            "height, width, 1 or 3); got "
            f"{images.shape} and {transformed.shape}"
        )
    if isinstance(columns, bool) or not isinstance(columns, int) or columns < 1:
        raise ValueError(f"columns must be an integer >= 1; got {columns!r}")
    columns = min(columns, len(images))
    bands = -(-len(images) // columns)
    figure = Figure(figsize=(1.2 * columns, 2.4 * bands + 0.4))
    axes = figure.subplots(2 * bands, columns, squeeze=False)
    for panel in axes.ravel():
        panel.set_axis_off()
    for n in range(len(images)):
        band, column = divmod(n, columns)
        for row, batch, label in ((0, images, "x"), (1, transformed, "t(x)")):
            panel = axes[2 * band + row, column]
            picture = np.clip(batch[n], 0.0, 1.0)
            if picture.shape[-1] == 1:
                panel.imshow(picture[..., 0], cmap="gray", vmin=0, vmax=1)
            else:
                panel.imshow(picture)
            if column == 0:
                panel.set_axis_on()
                panel.set_xticks([])
                panel.set_yticks([])
                panel.set_ylabel(label)
    if title is not None:
        figure.suptitle(title)
    return finish_figure(figure, path)
