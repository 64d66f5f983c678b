"""Gaussian-noise images, a classic far out-of-distribution set."""

import numpy as np

from keras_ssl.core._checks import check_integer
from keras_ssl.core._checks import check_integers
from keras_ssl.core._checks import check_number


def gaussian_noise(n, shape, seed=0, mean=0.5, std=0.25, clip=(0.0, 1.0)):
    """Draws `n` images of i.i.d. Gaussian noise, clipped to a range.

    Used as an out-of-distribution set next to real images in `[0, 1]`
    (for example the "Gaussian" OOD set of the Gram-matrix and
    Belief Matching papers).

    Args:
        n: number of images.
        shape: shape of one image, for example `(8, 8, 1)`.
        seed: random seed; the same seed gives the same images.
        mean: mean of the noise.
        std: standard deviation of the noise (`>= 0`).
        clip: `(low, high)` range the values are clipped to, or `None` for
            no clipping.

    Returns:
        float32 array of shape `(n, *shape)`.

    Raises:
        ValueError: if `n` is not an integer >= 1, `shape` not a tuple of
            integers >= 1, `std < 0` or `clip` is not an increasing pair.

    Example:

    ```python
    from keras_ssl.data import gaussian_noise

    x_noise = gaussian_noise(500, (8, 8, 1), std=0.25)
    ```

    Reference:
        Hendrycks & Gimpel, "A Baseline for Detecting Misclassified and
        Out-of-Distribution Examples in Neural Networks" (ICLR 2017).
    """
    n = check_integer(n, 1, "n")
    shape = check_integers(shape, 1, "shape")
    std = check_number(std, "std", ">= 0")
    if clip is not None and (len(clip) != 2 or not clip[1] > clip[0]):
        raise ValueError(
            f"clip must be (low, high) with low < high; got {clip}"
        )
    rng = np.random.default_rng(seed)
    x = rng.normal(mean, std, size=(n, *shape))
    if clip is not None:
        x = np.clip(x, clip[0], clip[1])
    return x.astype("float32")
