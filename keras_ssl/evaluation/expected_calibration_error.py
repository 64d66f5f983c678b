"""Expected calibration error (ECE) of top-class predictions."""

import numpy as np

from keras_ssl.evaluation.calibration_bins import calibration_bins


def expected_calibration_error(probs, labels, num_bins=15, strategy="uniform"):
    """Expected calibration error of the top-class confidence.

    `ECE = sum_b (n_b / n) * |accuracy_b - confidence_b|` over the bins of
    `calibration_bins` (default: 15 equal-width bins, right-closed, as
    torch-uncertainty and uncertainty-baselines; netcal defaults to 10).

    Args:
        probs: probabilities, shape `(num_samples, num_classes)`; rows sum
            to 1 within 1e-3.
        labels: integer class ids in `[0, num_classes)`, shape
            `(num_samples,)`.
        num_bins: number of bins, `>= 1`.
        strategy: `"uniform"` (equal-width bins) or `"quantile"`
            (equal-mass bins, "adaptive ECE").

    Returns:
        ECE as a Python float in `[0, 1]`.

    Raises:
        ValueError: on invalid `probs`, `labels`, `num_bins` or `strategy`.

    Example:

    Two bins: (0, 0.5] is empty; (0.5, 1] holds confidences 0.9, 0.8, 0.7,
    0.6 (mean 0.75) with 3 of 4 correct (accuracy 0.75), so ECE = 0.

    >>> import numpy as np
    >>> probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])
    >>> round(expected_calibration_error(probs, [0, 1, 1, 1], num_bins=2), 6)
    0.0
    >>> round(expected_calibration_error(probs, [0, 0, 1, 1], num_bins=2), 4)
    0.25

    Reference:
        Guo et al., "On Calibration of Modern Neural Networks", ICML 2017;
        Naeini et al., "Obtaining Well Calibrated Probabilities Using
        Bayesian Binning", AAAI 2015.
    """
    bins = calibration_bins(probs, labels, num_bins=num_bins, strategy=strategy)
    weights = bins["counts"] / bins["counts"].sum()
    gaps = np.abs(bins["accuracy"] - bins["confidence"])
    return float(np.sum(weights * gaps))
