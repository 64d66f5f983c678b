"""Uniform-noise images, a classic far out-of-distribution set."""

import numpy as np

from keras_ssl.core._checks import check_integer
from keras_ssl.core._checks import check_integers


def uniform_noise(n, shape, seed=0, low=0.0, high=1.0):
    """Draws `n` images of i.i.d. uniform noise in `[low, high)`.

    Used as an out-of-distribution set next to real images (for example
    the "Uniform" OOD set of the Gram-matrix and Belief Matching papers).

    Args:
        n: number of images.
        shape: shape of one image, for example `(8, 8, 1)`.
        seed: random seed; the same seed gives the same images.
        low: smallest value.
        high: largest value (excluded).

    Returns:
        float32 array of shape `(n, *shape)`.

    Raises:
        ValueError: if `n` is not an integer >= 1, `shape` not a tuple of
            integers >= 1 or `high <= low`.

    Example:

    ```python
    from keras_ssl.data import uniform_noise

    x_noise = uniform_noise(500, (8, 8, 1))
    ```

    Reference:
        Hendrycks & Gimpel, "A Baseline for Detecting Misclassified and
        Out-of-Distribution Examples in Neural Networks" (ICLR 2017).
    """
    n = check_integer(n, 1, "n")
    shape = check_integers(shape, 1, "shape")
    if not high > low:
        raise ValueError(f"high must be larger than low; got {low} and {high}")
    rng = np.random.default_rng(seed)
    return rng.uniform(low, high, size=(n, *shape)).astype("float32")
