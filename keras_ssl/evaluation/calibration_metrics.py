"""All calibration metrics of a classifier in one dict."""

import numpy as np

from keras_ssl.evaluation._validation import check_probs_and_labels
from keras_ssl.evaluation.brier_score import brier_score
from keras_ssl.evaluation.expected_calibration_error import (
    expected_calibration_error,
)
from keras_ssl.evaluation.maximum_calibration_error import (
    maximum_calibration_error,
)
from keras_ssl.evaluation.negative_log_likelihood import negative_log_likelihood


def calibration_metrics(probs, labels, num_bins=15, strategy="uniform"):
    """Accuracy, ECE, MCE, NLL and Brier score of predicted probabilities.

    Args:
        probs: probabilities, shape `(num_samples, num_classes)`; rows sum
            to 1 within 1e-3.
        labels: integer class ids in `[0, num_classes)`, shape
            `(num_samples,)`.
        num_bins: number of confidence bins of ECE and MCE.
        strategy: `"uniform"` (equal-width) or `"quantile"` (equal-mass)
            bins.

    Returns:
        Dict of Python floats: `accuracy` (top-1), `ece`
        (`expected_calibration_error`), `mce`
        (`maximum_calibration_error`), `nll` (`negative_log_likelihood`),
        `brier` (full-vector `brier_score`).

    Raises:
        ValueError: on invalid `probs`, `labels`, `num_bins` or `strategy`.

    Example:

    >>> import numpy as np
    >>> probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])
    >>> metrics = calibration_metrics(probs, [0, 1, 1, 1], num_bins=2)
    >>> metrics["accuracy"], round(metrics["ece"], 6)
    (0.75, 0.0)
    """
    probs, labels = check_probs_and_labels(probs, labels)
    accuracy = float(np.mean(probs.argmax(axis=1) == labels))
    return {
        "accuracy": accuracy,
        "ece": expected_calibration_error(probs, labels, num_bins, strategy),
        "mce": maximum_calibration_error(probs, labels, num_bins, strategy),
        "nll": negative_log_likelihood(probs, labels),
        "brier": brier_score(probs, labels),
    }
