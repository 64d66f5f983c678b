"""The Fréchet distance between two sample sets (FID-style)."""

import warnings

import numpy as np
import scipy.linalg

from keras_ssl.evaluation._validation import check_features
from keras_ssl.evaluation.encoder_features import encoder_features

# The diagonal offset tried when the product of the covariances is too
# singular for its square root (the official FID code's 1e-6).
OFFSET = 1e-6
# The largest imaginary part of the square root's diagonal accepted as
# rounding (the official FID code's tolerance).
IMAGINARY_TOLERANCE = 1e-3


def frechet_distance(x, y, feature_model=None, batch_size=256):
    """The Fréchet distance of two sample sets in a feature space.

    Each set is summarised by the mean and covariance of its features and
    the distance of the two Gaussians is returned
    (`gaussian_frechet_distance`). With `feature_model=None` the features
    are the flattened inputs (e.g. pixels); otherwise the caller's model
    maps inputs to features in inference mode (`encoder_features`). FID
    is this distance in the pool features of Inception-v3, which cannot
    be downloaded here: pass any feature extractor you trust, and compare
    only numbers computed with the same extractor and the same sample
    counts (the distance is biased upwards for small sets).

    Args:
        x, y: two sets of inputs (arrays, first axis = samples); each needs
            at least 2 samples.
        feature_model: `None` (the flattened inputs) or a `keras.Model`
            with one output.
        batch_size: inference batch of `feature_model`.

    Returns:
        The distance, a Python float >= 0 (up to rounding).

    Raises:
        ValueError: if a set has fewer than 2 samples, the two feature
            dimensions differ, or a set has NaN or inf features.

    Example:

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> a = rng.normal(size=(500, 2))
    >>> round(frechet_distance(a, a + [3.0, 0.0]), 6)  # a shift by 3
    9.0
    >>> b = rng.normal(size=(500, 2))
    >>> frechet_distance(a, b) < 0.05  # two samples of one Gaussian
    True

    Reference:
        Heusel, Ramsauer, Unterthiner, Nessler and Hochreiter, "GANs
        Trained by a Two Time-Scale Update Rule Converge to a Local Nash
        Equilibrium", NeurIPS 2017 (FID); Dowson and Landau, "The Fréchet
        distance between multivariate normal distributions", 1982.
    """
    features = []
    for name, inputs in (("x", x), ("y", y)):
        if feature_model is not None:
            inputs = encoder_features(feature_model, inputs, batch_size)
        values = check_features(inputs, name)
        if values.shape[0] < 2:
            raise ValueError(
                f"{name} must hold at least 2 samples for a covariance; got "
                f"{values.shape[0]}"
            )
        features.append(values)
    if features[0].shape[1] != features[1].shape[1]:
        raise ValueError(
            "x and y must have features of the same size; got "
            f"{features[0].shape[1]} and {features[1].shape[1]}"
        )
    (mean_x, cov_x), (mean_y, cov_y) = (
        (f.mean(axis=0), np.cov(f, rowvar=False)) for f in features
    )
    return gaussian_frechet_distance(mean_x, cov_x, mean_y, cov_y)


def gaussian_frechet_distance(mean1, cov1, mean2, cov2):
    """The Fréchet (2-Wasserstein squared) distance of two Gaussians.

    `||mean1 - mean2||^2 + Tr(cov1 + cov2 - 2 (cov1 cov2)^(1/2))`, with the
    matrix square root of `scipy.linalg.sqrtm`. As the official FID code
    does, a product too singular for a finite root is retried with
    `1e-6 I` added to both covariances, and an imaginary part of the
    root's diagonal below 1e-3 is dropped as rounding.

    Args:
        mean1, mean2: means, shape `(d,)`.
        cov1, cov2: covariances, shape `(d, d)` (symmetric, positive
            semi-definite).

    Returns:
        The distance, a Python float.

    Raises:
        ValueError: for mismatched shapes, or a root whose diagonal has an
            imaginary part of 1e-3 or more (a covariance that is not
            positive semi-definite).

    Example:

    >>> import numpy as np
    >>> round(gaussian_frechet_distance(
    ...     np.zeros(2), np.eye(2), np.ones(2), 4.0 * np.eye(2)), 6)
    4.0
    """
    mean1, mean2 = np.atleast_1d(mean1), np.atleast_1d(mean2)
    cov1, cov2 = np.atleast_2d(cov1), np.atleast_2d(cov2)
    mean1, mean2, cov1, cov2 = (
        np.asarray(a, dtype=np.float64) for a in (mean1, mean2, cov1, cov2)
    )
    d = mean1.shape[0]
    if (
        mean1.shape != (d,)
        or mean2.shape != (d,)
        or cov1.shape != (d, d)
        or cov2.shape != (d, d)
    ):
        raise ValueError(
            "mean1 and mean2 must have shape (d,) and cov1 and cov2 shape "
            f"(d, d); got {mean1.shape}, {mean2.shape}, {cov1.shape}, "
            f"{cov2.shape}"
        )
    with warnings.catch_warnings():
        # Singular products are common (pixels that never change) and
        # sqrtm warns about them; its root is still usable (the tests
        # check singular sets), and a non-finite one is retried below.
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        root = scipy.linalg.sqrtm(cov1 @ cov2)
        if not np.all(np.isfinite(root)):
            offset = OFFSET * np.eye(d)
            root = scipy.linalg.sqrtm((cov1 + offset) @ (cov2 + offset))
    if np.iscomplexobj(root):
        imaginary = np.max(np.abs(np.diagonal(root).imag))
        if imaginary >= IMAGINARY_TOLERANCE:
            raise ValueError(
                "the square root of cov1 @ cov2 has an imaginary part of "
                f"{imaginary:.3g} on its diagonal: are both covariances "
                "positive semi-definite?"
            )
        root = root.real
    difference = mean1 - mean2
    return float(
        difference @ difference
        + np.trace(cov1)
        + np.trace(cov2)
        - 2.0 * np.trace(root)
    )
