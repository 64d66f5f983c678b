"""Decision regions of a classifier over a 2-D input plane."""

import numpy as np

from keras_ssl.evaluation._plotting import finish_figure
from keras_ssl.evaluation._plotting import label_plane
from keras_ssl.evaluation._plotting import plane_mesh
from keras_ssl.evaluation._plotting import plane_points
from keras_ssl.evaluation._plotting import scatter_classes
from keras_ssl.evaluation._plotting import scatter_labeled
from keras_ssl.evaluation._plotting import tab10_colors
from keras_ssl.evaluation._validation import check_labels


def decision_regions(
    predict_fn,
    x,
    y,
    labeled=None,
    path=None,
    grid=200,
    bounds=None,
    title=None,
):
    """Plots which class a 2-D classifier predicts over the plane.

    `predict_fn` is evaluated once on a `grid x grid` mesh covering
    `bounds`; each predicted class fills its region in its own colour, the
    points `x` are overlaid in the colours of their classes `y`, and the
    optional `labeled` points (the few labels of a semi-supervised run)
    are drawn on top as large black-edged triangles. The figure is a
    `matplotlib.figure.Figure` not registered with `pyplot`.

    Args:
        predict_fn: callable mapping a float array `(n, 2)` to integer
            class ids `(n,)`.
        x: points, shape `(num_samples, 2)`.
        y: their integer class ids, shape `(num_samples,)`.
        labeled: optional `(x_labeled, y_labeled)` to highlight.
        path: optional file path; the figure is saved there as PNG
            (dpi 120).
        grid: number of mesh points per axis, `>= 2`.
        bounds: `(x_min, x_max, y_min, y_max)`; defaults to the data range
            widened by 15% of its extent on each side.
        title: optional title.

    Returns:
        The `matplotlib.figure.Figure`.

    Raises:
        ValueError: if `x` is not `(n, 2)`, `y` or `labeled` does not
            match, `grid < 2`, `bounds` is malformed, or `predict_fn`
            returns the wrong number of values or non-integer ids.

    Example:

    ```python
    import numpy as np
    from keras_ssl.evaluation import decision_regions

    x = np.array([[0.0, 0.0], [1.0, 1.0]])
    figure = decision_regions(
        lambda p: (p[:, 0] > 0.5).astype(int), x, [0, 1], grid=20
    )
    ```
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure

    x = plane_points(x, "x")
    y = check_labels(y, x.shape[0], "y")
    if labeled is not None:
        x_labeled = plane_points(labeled[0], "labeled x")
        y_labeled = check_labels(labeled[1], x_labeled.shape[0], "labeled y")
    bounds, mesh_x, mesh_y, points = plane_mesh(x, bounds, grid, 0.15)
    grid = mesh_x.shape[0]
    predicted = np.asarray(predict_fn(points.astype("float32")))
    if predicted.size != points.shape[0] or not np.all(
        predicted == np.round(predicted)
    ):
        raise ValueError(
            f"predict_fn must return one integer class id per point "
            f"({grid * grid}); got shape {predicted.shape}"
        )
    predicted = predicted.reshape(grid, grid).astype(np.int64)
    classes = np.unique(np.concatenate([y, predicted.ravel()]))
    colors = tab10_colors(int(classes.max()) + 1)
    figure = Figure(figsize=(6.0, 5.0))
    axes = figure.subplots()
    axes.contourf(
        mesh_x,
        mesh_y,
        predicted,
        levels=np.arange(-0.5, classes.max() + 1.0),
        cmap=ListedColormap(colors),
        alpha=0.3,
    )
    scatter_classes(axes, x, y, colors, s=6)
    if labeled is not None:
        scatter_labeled(axes, x_labeled, y_labeled, colors)
    label_plane(axes, bounds, title, loc="upper right", fontsize="small")
    return finish_figure(figure, path)
