"""Pieces the keras_ssl plots share (private)."""

import numpy as np


def finish_figure(figure, path):
    """Tightens the layout and saves `figure` as a PNG when `path` is set."""
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, format="png", dpi=120)
    return figure


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
