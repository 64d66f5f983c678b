"""Pieces the keras_ssl plots share (private)."""

import numpy as np

from keras_ssl.evaluation._validation import check_features


def finish_figure(figure, path):
    """Tightens the layout and saves `figure` as a PNG when `path` is set."""
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, format="png", dpi=120)
    return figure


def label_axes(axes, x_label, y_label, title=None, legend=None):
    """Sets the axis labels, the legend (`legend`: the keyword arguments of
    `axes.legend`; None: no legend) and the optional title."""
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    if legend is not None:
        axes.legend(**legend)
    if title is not None:
        axes.set_title(title)


def label_plane(axes, bounds, title=None, axis_labels=("x1", "x2"), **legend):
    """`label_axes` for a 2-D input plane, limited to `bounds`."""
    axes.set_xlim(bounds[0], bounds[1])
    axes.set_ylim(bounds[2], bounds[3])
    label_axes(axes, *axis_labels, title=title, legend=legend)


def plane_points(x, name):
    """`x` as a finite float `(n, 2)` array, or a ValueError naming it."""
    x = check_features(x, name)
    if x.shape[1] != 2:
        raise ValueError(
            f"{name} must have shape (num_samples, 2); got {x.shape}"
        )
    return x


def plane_bounds(x, bounds=None, margin=0.15):
    """`(x_min, x_max, y_min, y_max)`: `bounds` checked, or the range of
    the 2-D points `x` widened by `margin` of its extent on each side."""
    if bounds is None:
        low, high = x.min(axis=0), x.max(axis=0)
        pad = margin * np.maximum(high - low, 1e-3)
        bounds = (low[0] - pad[0], high[0] + pad[0], low[1] - pad[1])
        bounds = (*bounds, high[1] + pad[1])
    bounds = tuple(float(b) for b in bounds)
    if len(bounds) != 4 or not (
        bounds[0] < bounds[1] and bounds[2] < bounds[3]
    ):
        raise ValueError(
            "bounds must be (x_min, x_max, y_min, y_max) with x_min < x_max "
            f"and y_min < y_max; got {bounds}"
        )
    return bounds


def plane_mesh(x, bounds, grid, margin):
    """The `grid x grid` mesh over the plane of the points `x`.

    `grid` is checked (an integer >= 2) and `bounds` resolved by
    `plane_bounds(x, bounds, margin)`. Returns `(bounds, mesh_x, mesh_y,
    points)`, `points` being the `(grid * grid, 2)` mesh points in the
    order of `mesh_x.ravel()`.
    """
    if isinstance(grid, bool) or int(grid) < 2:
        raise ValueError(f"grid must be an integer >= 2; got {grid!r}")
    grid = int(grid)
    bounds = plane_bounds(x, bounds, margin=margin)
    xs = np.linspace(bounds[0], bounds[1], grid)
    ys = np.linspace(bounds[2], bounds[3], grid)
    mesh_x, mesh_y = np.meshgrid(xs, ys)
    points = np.stack([mesh_x.ravel(), mesh_y.ravel()], axis=1)
    return bounds, mesh_x, mesh_y, points


def tab10_colors(count):
    """The `tab10` colours of class ids `0 .. count - 1` (cycling)."""
    from matplotlib import colormaps

    return colormaps["tab10"](np.arange(count) % 10)


def scatter_classes(axes, points, labels, colors=None, **style):
    """One scatter series per class of the 2-D `points`, labelled
    `"class k"`, in `colors[k]` (None: the axes' colour cycle)."""
    for class_id in np.unique(labels):
        members = labels == class_id
        if colors is not None:
            style["color"] = colors[class_id]
        axes.scatter(
            points[members, 0],
            points[members, 1],
            label=f"class {class_id}",
            **style,
        )


def scatter_labeled(axes, points, labels, colors):
    """The labeled points of a semi-supervised run, drawn on top as large
    black-edged triangles in the colours `colors[label]`."""
    axes.scatter(
        points[:, 0],
        points[:, 1],
        s=90,
        marker="^",
        c=colors[labels],
        edgecolors="black",
        linewidths=1.0,
        label="labeled",
    )
