"""Argument checks shared by the data functions (private)."""

import numpy as np


def check_count_and_shape(n, shape):
    """Validates a sample count `n >= 1` and a per-sample `shape`."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an int >= 1; got {n!r}")
    shape = tuple(int(d) for d in shape)
    if not shape or min(shape) < 1:
        raise ValueError(f"shape must be positive sizes; got {shape!r}")
    return shape


def check_xy(x, y):
    """Returns `x`, `y` as arrays; `y` must be 1-D and as long as `x`."""
    x = np.asarray(x)
    y = np.asarray(y)
    if y.ndim != 1 or len(x) != len(y):
        raise ValueError(
            "y must be a 1-D array as long as x; got x with "
            f"{len(x)} rows and y of shape {y.shape}"
        )
    return x, y
