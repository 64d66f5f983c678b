"""Points far from the training data, for 2-D out-of-distribution checks."""

import numpy as np
from scipy.spatial import cKDTree

from keras_ssl.core._checks import check_integer
from keras_ssl.core._checks import check_number


def far_points(
    x_train,
    n=2000,
    low=(-4, -4),
    high=(5, 4),
    min_distance=1.0,
    seed=0,
    max_draws=1_000_000,
):
    """Draws uniform points at least `min_distance` away from the data.

    Rejection sampling: points are drawn uniformly in the box
    `[low, high]` and kept when their Euclidean distance to the nearest
    training point is at least `min_distance`, until `n` are kept. On two
    moons these points are "obviously out of distribution", the region
    where DUQ and SDE-Net should report high uncertainty.

    Args:
        x_train: array of shape `(num_points, dim)`, the training points.
        n: number of points to return.
        low: lower corner of the sampling box, one value per dimension.
        high: upper corner of the sampling box, one value per dimension.
        min_distance: smallest allowed distance to any training point.
        seed: random seed.
        max_draws: give up after drawing this many candidates.

    Returns:
        float32 array of shape `(n, dim)`.

    Raises:
        ValueError: if the arguments do not fit together, or if fewer than
            `n` points were found in `max_draws` draws (the box is mostly
            within `min_distance` of the data).

    Example:

    ```python
    from keras_ssl.data import far_points, two_moons

    (x_train, _), _ = two_moons()
    x_far = far_points(x_train, n=500, min_distance=1.0)
    ```
    """
    x_train = np.asarray(x_train, dtype="float64")
    if x_train.ndim != 2 or len(x_train) == 0:
        raise ValueError(
            "x_train must be a non-empty array of shape (num_points, dim); "
            f"got shape {x_train.shape}"
        )
    dim = x_train.shape[1]
    low = np.asarray(low, dtype="float64")
    high = np.asarray(high, dtype="float64")
    if low.shape != (dim,) or high.shape != (dim,):
        raise ValueError(
            f"low and high must have {dim} values (one per dimension of "
            f"x_train); got low={low.tolist()} and high={high.tolist()}"
        )
    if np.any(high <= low):
        raise ValueError(
            f"high must be larger than low in every dimension; got "
            f"low={low.tolist()} and high={high.tolist()}"
        )
    n = check_integer(n, 1, "n")
    min_distance = check_number(min_distance, "min_distance", ">= 0")
    tree = cKDTree(x_train)
    rng = np.random.default_rng(seed)
    kept = []
    num_kept = 0
    num_drawn = 0
    while num_kept < n and num_drawn < max_draws:
        candidates = rng.uniform(low, high, size=(max(4 * n, 1024), dim))
        num_drawn += len(candidates)
        distance, _ = tree.query(candidates, k=1)
        candidates = candidates[distance >= min_distance]
        kept.append(candidates)
        num_kept += len(candidates)
    if num_kept < n:
        raise ValueError(
            f"found only {num_kept} of n={n} points at distance >= "
            f"min_distance={min_distance} in {num_drawn} draws; lower "
            "min_distance or widen low/high"
        )
    return np.concatenate(kept)[:n].astype("float32")
