"""Contour map of a model's certainty over a 2-D input plane."""

import numpy as np

from keras_ssl.evaluation._plotting import finish_figure
from keras_ssl.evaluation._plotting import label_plane
from keras_ssl.evaluation._plotting import plane_mesh
from keras_ssl.evaluation._plotting import plane_points
from keras_ssl.evaluation._plotting import scatter_classes
from keras_ssl.evaluation._validation import check_labels


def certainty_map(
    predict_fn, x_train, y_train, path=None, grid=200, bounds=None, title=None
):
    """Plots the certainty of a 2-D model over the plane, with the data.

    `predict_fn` is evaluated once on a `grid x grid` mesh covering
    `bounds`; its certainty (e.g. max kernel value of DUQ, max softmax
    probability) is drawn as filled contours on a fixed `[0, 1]` colour
    scale, and the training points are overlaid, one colour per class. The
    figure is a `matplotlib.figure.Figure` not registered with `pyplot`.

    Args:
        predict_fn: callable mapping a float array `(n, 2)` to certainties
            in `[0, 1]`, shape `(n,)` or `(n, 1)`.
        x_train: training inputs, shape `(num_samples, 2)`.
        y_train: integer class ids, shape `(num_samples,)`.
        path: optional file path; the figure is saved there as PNG
            (dpi 120).
        grid: number of mesh points per axis, `>= 2`.
        bounds: `(x_min, x_max, y_min, y_max)`; defaults to the data range
            widened by 25% of its extent on each side.
        title: optional title.

    Returns:
        The `matplotlib.figure.Figure`.

    Raises:
        ValueError: if `x_train` is not `(n, 2)`, `y_train` does not match,
            `grid < 2`, `bounds` is malformed, or `predict_fn` returns the
            wrong number of values or values outside `[0, 1]`.

    Example:

    >>> import numpy as np
    >>> x = np.array([[0.0, 0.0], [1.0, 1.0]])
    >>> def certainty(points):
    ...     return np.exp(-np.min(np.linalg.norm(
    ...         points[:, None] - x[None], axis=-1), axis=1))
    >>> figure = certainty_map(certainty, x, [0, 1], grid=20)
    >>> figure.axes[1].get_ylabel()
    'certainty'

    Reference:
        van Amersfoort et al., "Uncertainty Estimation Using a Single Deep
        Deterministic Neural Network" (DUQ), ICML 2020, Figure 1.
    """
    from matplotlib.figure import Figure

    x_train = plane_points(x_train, "x_train")
    y_train = check_labels(y_train, x_train.shape[0], "y_train")
    bounds, mesh_x, mesh_y, points = plane_mesh(x_train, bounds, grid, 0.25)
    grid = mesh_x.shape[0]
    certainty = np.asarray(predict_fn(points), dtype=np.float64)
    if certainty.size != points.shape[0]:
        raise ValueError(
            f"predict_fn must return one certainty per point ({grid * grid}); "
            f"got shape {certainty.shape}"
        )
    certainty = certainty.reshape(grid, grid)
    if not np.all(np.isfinite(certainty)) or (
        certainty.min() < -1e-6 or certainty.max() > 1 + 1e-6
    ):
        raise ValueError(
            "predict_fn must return finite certainties in [0, 1]; got "
            f"range [{np.nanmin(certainty):.4g}, {np.nanmax(certainty):.4g}]"
        )

    figure = Figure(figsize=(6.0, 5.0))
    axes = figure.subplots()
    contours = axes.contourf(
        mesh_x,
        mesh_y,
        np.clip(certainty, 0.0, 1.0),
        levels=np.linspace(0.0, 1.0, 21),
        cmap="viridis",
    )
    colorbar = figure.colorbar(contours, ax=axes)
    colorbar.set_label("certainty")
    scatter_classes(
        axes, x_train, y_train, s=12, edgecolors="white", linewidths=0.5
    )
    label_plane(axes, bounds, title, loc="upper right")
    return finish_figure(figure, path)
