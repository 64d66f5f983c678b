"""The two-moons toy problem with a fresh test sample."""

import numpy as np
from sklearn.datasets import make_moons

from keras_ssl.core._checks import check_integer
from keras_ssl.core._checks import check_number


def two_moons(n_samples=1500, noise=0.1, test_size=200, seed=0):
    """Draws the two interleaving half circles of scikit-learn.

    The 2-D toy used by the uncertainty papers (DUQ, SDE-Net) to show
    decision regions and how uncertainty grows away from the data. Train
    and test points are independent draws: both come from one
    `np.random.RandomState(seed)`, the test points after the train points.

    Args:
        n_samples: number of training points (at least 2).
        noise: standard deviation of the Gaussian noise added to the
            points (`>= 0`).
        test_size: number of test points (at least 2).
        seed: random seed; the same seed gives the same data.

    Returns:
        `((x_train, y_train), (x_test, y_test))`: float32 points of shape
        `(n, 2)` and int32 labels in `{0, 1}`.

    Raises:
        ValueError: if `n_samples`, `test_size` or `noise` is invalid.

    Example:

    ```python
    from keras_ssl.data import two_moons

    (x_train, y_train), (x_test, y_test) = two_moons(n_samples=500)
    x_train.shape, x_test.shape  # ((500, 2), (200, 2))
    ```

    Reference:
        `sklearn.datasets.make_moons`; van Amersfoort et al., "Uncertainty
        Estimation Using a Single Deep Deterministic Neural Network"
        (ICML 2020), Figure 1.
    """
    n_samples = check_integer(n_samples, 2, "n_samples")
    test_size = check_integer(test_size, 2, "test_size")
    noise = check_number(noise, "noise", ">= 0")
    rng = np.random.RandomState(seed)
    x_train, y_train = make_moons(n_samples, noise=noise, random_state=rng)
    x_test, y_test = make_moons(test_size, noise=noise, random_state=rng)
    return (
        (x_train.astype("float32"), y_train.astype("int32")),
        (x_test.astype("float32"), y_test.astype("int32")),
    )
