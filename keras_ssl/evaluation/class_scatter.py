"""2-D points coloured by class, with optional centres and highlights."""

import numpy as np

from keras_ssl.evaluation._plotting import finish_figure
from keras_ssl.evaluation._plotting import label_plane
from keras_ssl.evaluation._plotting import plane_bounds
from keras_ssl.evaluation._plotting import plane_points
from keras_ssl.evaluation._plotting import scatter_classes
from keras_ssl.evaluation._plotting import scatter_labeled
from keras_ssl.evaluation._plotting import tab10_colors
from keras_ssl.evaluation._validation import check_labels


def class_scatter(
    points,
    labels,
    path=None,
    title=None,
    centers=None,
    highlight=None,
    background=None,
    axis_labels=("x1", "x2"),
    bounds=None,
):
    """Scatters 2-D points in the colours of their classes.

    For the latent space of a flow (points `f(x)` by true class, the class
    means as `centers`, the labeled points as `highlight`) and for
    class-conditional samples in data space (samples by class over the
    data as grey `background`). The figure is a `matplotlib.figure.Figure`
    not registered with `pyplot`.

    Args:
        points: `(num_samples, 2)`.
        labels: their integer class ids `(num_samples,)`.
        path: optional file path; the figure is saved there as PNG
            (dpi 120).
        title: optional title.
        centers: optional `(num_classes, 2)`; row `k` is drawn as a large
            star in the colour of class `k`.
        highlight: optional `(x, y)` of points drawn on top as large
            black-edged triangles in the colours of their classes.
        background: optional `(m, 2)` points drawn first, in light grey.
        axis_labels: the two axis labels.
        bounds: `(x_min, x_max, y_min, y_max)`; default: the range of all
            points drawn, widened by 10% on each side.

    Returns:
        The `matplotlib.figure.Figure`.

    Raises:
        ValueError: if an array is not `(n, 2)` or the labels do not match.

    Example:

    ```python
    import numpy as np
    from keras_ssl.evaluation import class_scatter

    z = np.array([[-3.0, -3.0], [3.0, 3.0], [2.5, 3.5]])
    means = [[-3.5, -3.5], [3.5, 3.5]]
    figure = class_scatter(z, [0, 1, 1], centers=means, title="latent")
    ```
    """
    from matplotlib.figure import Figure

    points = plane_points(points, "points")
    labels = check_labels(labels, points.shape[0], "labels")
    drawn = [points]
    if centers is not None:
        centers = plane_points(centers, "centers")
        drawn.append(centers)
    if highlight is not None:
        highlight_x = plane_points(highlight[0], "highlight x")
        highlight_y = check_labels(
            highlight[1], highlight_x.shape[0], "highlight y"
        )
        drawn.append(highlight_x)
    if background is not None:
        background = plane_points(background, "background")
        drawn.append(background)
    bounds = plane_bounds(np.concatenate(drawn), bounds, margin=0.1)
    count = int(labels.max()) + 1
    if centers is not None:
        count = max(count, len(centers))
    colors = tab10_colors(count)
    figure = Figure(figsize=(6.0, 5.0))
    axes = figure.subplots()
    if background is not None:
        axes.scatter(
            background[:, 0],
            background[:, 1],
            s=4,
            color="0.75",
            label="data",
        )
    scatter_classes(axes, points, labels, colors, s=6)
    if centers is not None:
        axes.scatter(
            centers[:, 0],
            centers[:, 1],
            s=260,
            marker="*",
            c=colors[: len(centers)],
            edgecolors="black",
            linewidths=1.0,
            label="class means",
        )
    if highlight is not None:
        scatter_labeled(axes, highlight_x, highlight_y, colors)
    label_plane(
        axes,
        bounds,
        title,
        axis_labels,
        loc="upper left",
        fontsize="small",
        markerscale=1.5,
    )
    return finish_figure(figure, path)
