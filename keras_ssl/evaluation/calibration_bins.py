"""Per-bin accuracy and confidence of top-class predictions."""

import numpy as np

from keras_ssl.evaluation._validation import check_probs_and_labels


def calibration_bins(probs, labels, num_bins=15, strategy="uniform"):
    """Bins top-class confidences and returns per-bin accuracy/confidence.

    The confidence of a sample is its largest probability and it is correct
    when that class (first one on ties) equals the label. Bins are
    right-closed intervals `(edge_i, edge_{i+1}]` (the first also holds
    `edge_0`):

    - `strategy="uniform"`: `num_bins` equal-width bins on `[0, 1]`
      (Guo et al. 2017).
    - `strategy="quantile"`: equal-mass bins whose edges are the
      `i / num_bins` quantiles of the confidences (tied confidences stay in
      one bin, so bins can be empty).

    This is the building block of `expected_calibration_error`,
    `maximum_calibration_error` and `reliability_diagram`.

    Args:
        probs: probabilities, shape `(num_samples, num_classes)`; rows sum
            to 1 within 1e-3.
        labels: integer class ids in `[0, num_classes)`, shape
            `(num_samples,)`.
        num_bins: number of bins, `>= 1`.
        strategy: `"uniform"` or `"quantile"`.

    Returns:
        Dict of NumPy arrays: `edges` (`num_bins + 1`), `counts`,
        `accuracy` and `confidence` (`num_bins` each; mean correctness and
        mean confidence per bin, 0 for empty bins).

    Raises:
        ValueError: on invalid `probs` / `labels` (see above), `num_bins < 1`
            or an unknown `strategy`.

    Example:

    >>> import numpy as np
    >>> probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])
    >>> bins = calibration_bins(probs, [0, 1, 1, 1], num_bins=2)
    >>> bins["counts"].tolist(), bins["accuracy"].tolist()
    ([0, 4], [0.0, 0.75])
    """
    probs, labels = check_probs_and_labels(probs, labels)
    if isinstance(num_bins, bool) or not isinstance(num_bins, int | np.integer):
        raise ValueError(f"num_bins must be an integer >= 1; got {num_bins!r}")
    if num_bins < 1:
        raise ValueError(f"num_bins must be an integer >= 1; got {num_bins}")
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)

    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, num_bins + 1)
    elif strategy == "quantile":
        edges = np.quantile(confidence, np.linspace(0.0, 1.0, num_bins + 1))
    else:
        raise ValueError(
            f'strategy must be "uniform" or "quantile"; got {strategy!r}'
        )
    bin_index = np.searchsorted(edges[1:-1], confidence, side="left")

    counts = np.bincount(bin_index, minlength=num_bins)
    safe_counts = np.maximum(counts, 1)
    accuracy = np.bincount(bin_index, correct, minlength=num_bins) / safe_counts
    mean_confidence = (
        np.bincount(bin_index, confidence, minlength=num_bins) / safe_counts
    )
    return {
        "edges": edges,
        "counts": counts,
        "accuracy": accuracy,
        "confidence": mean_confidence,
    }
