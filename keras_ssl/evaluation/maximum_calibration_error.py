"""Maximum calibration error (MCE) of top-class predictions."""

import numpy as np

from keras_ssl.evaluation.calibration_bins import calibration_bins


def maximum_calibration_error(probs, labels, num_bins=15, strategy="uniform"):
    """Largest per-bin gap between accuracy and confidence.

    `MCE = max_b |accuracy_b - confidence_b|` over the non-empty bins of
    `calibration_bins` (same bins as `expected_calibration_error`).

    Args:
        probs: probabilities, shape `(num_samples, num_classes)`; rows sum
            to 1 within 1e-3.
        labels: integer class ids in `[0, num_classes)`, shape
            `(num_samples,)`.
        num_bins: number of bins, `>= 1`.
        strategy: `"uniform"` (equal-width bins) or `"quantile"`
            (equal-mass bins).

    Returns:
        MCE as a Python float in `[0, 1]`.

    Raises:
        ValueError: on invalid `probs`, `labels`, `num_bins` or `strategy`.

    Example:

    Bin (0.5, 0.75] holds confidences 0.7, 0.6 with one correct (gap 0.15);
    bin (0.75, 1] holds 0.9, 0.8 with both correct (gap 0.15).

    >>> import numpy as np
    >>> probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])
    >>> round(maximum_calibration_error(probs, [0, 0, 1, 0], num_bins=4), 4)
    0.15

    Reference:
        Naeini et al., "Obtaining Well Calibrated Probabilities Using
        Bayesian Binning", AAAI 2015.
    """
    bins = calibration_bins(probs, labels, num_bins=num_bins, strategy=strategy)
    nonempty = bins["counts"] > 0
    gaps = np.abs(bins["accuracy"] - bins["confidence"])[nonempty]
    return float(gaps.max())
