"""Calibration metrics of a classifier's predicted probabilities.

Every function takes a probability matrix `probs` of shape
`(num_samples, num_classes)` (rows sum to 1 within 1e-3; pass
probabilities, not logits) and integer `labels` of shape `(num_samples,)`,
and returns Python floats (or, for the bins, NumPy arrays):

- `calibration_bins`: per-bin accuracy and confidence of the top-class
  predictions, the building block of the binned metrics below and of
  `reliability_diagram`;
- `expected_calibration_error` (ECE) and `maximum_calibration_error`
  (MCE): the weighted mean and the largest per-bin gap between accuracy
  and confidence;
- `negative_log_likelihood` (NLL) and `brier_score`: proper scoring rules
  of the whole probability vector, no binning;
- `calibration_metrics`: accuracy, ECE, MCE, NLL and Brier score in one
  JSON-ready dict.
"""

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

    ```python
    import numpy as np
    from keras_ssl.evaluation import calibration_bins

    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])
    bins = calibration_bins(probs, [0, 1, 1, 1], num_bins=2)
    # Every confidence is above 0.5, and 3 of the 4 predictions are right.
    assert bins["counts"].tolist() == [0, 4]
    assert bins["accuracy"].tolist() == [0.0, 0.75]
    ```
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
    0.6 (mean 0.75). With 3 of 4 correct (accuracy 0.75) ECE is 0; with 2
    of 4 correct it is 0.25.

    ```python
    import numpy as np
    from keras_ssl.evaluation import expected_calibration_error

    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])
    ece = expected_calibration_error(probs, [0, 1, 1, 1], num_bins=2)
    assert round(ece, 6) == 0.0
    ece = expected_calibration_error(probs, [0, 0, 1, 1], num_bins=2)
    assert round(ece, 4) == 0.25
    ```

    Reference:
        Guo et al., "On Calibration of Modern Neural Networks", ICML 2017;
        Naeini et al., "Obtaining Well Calibrated Probabilities Using
        Bayesian Binning", AAAI 2015.
    """
    bins = calibration_bins(probs, labels, num_bins=num_bins, strategy=strategy)
    weights = bins["counts"] / bins["counts"].sum()
    gaps = np.abs(bins["accuracy"] - bins["confidence"])
    return float(np.sum(weights * gaps))


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

    ```python
    import numpy as np
    from keras_ssl.evaluation import maximum_calibration_error

    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])
    mce = maximum_calibration_error(probs, [0, 0, 1, 0], num_bins=4)
    assert round(mce, 4) == 0.15
    ```

    Reference:
        Naeini et al., "Obtaining Well Calibrated Probabilities Using
        Bayesian Binning", AAAI 2015.
    """
    bins = calibration_bins(probs, labels, num_bins=num_bins, strategy=strategy)
    nonempty = bins["counts"] > 0
    gaps = np.abs(bins["accuracy"] - bins["confidence"])[nonempty]
    return float(gaps.max())


def negative_log_likelihood(probs, labels, eps=1e-12):
    """Mean negative log-probability of the true class.

    `NLL = mean_i -log(max(p_i[y_i], eps))`; `eps` keeps a zero probability
    from giving `inf`.

    Args:
        probs: probabilities, shape `(num_samples, num_classes)`; rows sum
            to 1 within 1e-3.
        labels: integer class ids in `[0, num_classes)`, shape
            `(num_samples,)`.
        eps: floor on the true-class probability, in `(0, 1)`.

    Returns:
        NLL (natural log) as a Python float `>= 0`.

    Raises:
        ValueError: on invalid `probs` / `labels` or `eps` outside `(0, 1)`.

    Example:

    `(-log(0.5) - log(0.75)) / 2 = 0.490415`.

    ```python
    import numpy as np
    from keras_ssl.evaluation import negative_log_likelihood

    probs = np.array([[0.5, 0.5], [0.25, 0.75]])
    nll = negative_log_likelihood(probs, [0, 1])
    assert round(nll, 6) == 0.490415
    ```
    """
    probs, labels = check_probs_and_labels(probs, labels)
    if not 0 < eps < 1:
        raise ValueError(f"eps must be in (0, 1); got {eps}")
    true_class = probs[np.arange(labels.shape[0]), labels]
    return float(np.mean(-np.log(np.maximum(true_class, eps))))


def brier_score(probs, labels):
    """Mean squared distance between probabilities and one-hot labels.

    `Brier = mean_i sum_k (p_ik - 1[y_i = k])^2`, the full-vector version
    (torch-uncertainty `BrierScore(top_class=False)`; scikit-learn
    `brier_score_loss(y, probs, scale_by_half=False)`). It lies in `[0, 2]`.
    For two classes it is **twice** the binary Brier score
    `mean_i (p_i1 - y_i)^2` that scikit-learn returns by default.

    Args:
        probs: probabilities, shape `(num_samples, num_classes)`; rows sum
            to 1 within 1e-3.
        labels: integer class ids in `[0, num_classes)`, shape
            `(num_samples,)`.

    Returns:
        Brier score as a Python float.

    Raises:
        ValueError: on invalid `probs` / `labels`.

    Example:

    (0.2^2 + 0.2^2) for the first row, (0.6^2 + 0.6^2) for the second.

    ```python
    import numpy as np
    from keras_ssl.evaluation import brier_score

    probs = np.array([[0.8, 0.2], [0.6, 0.4]])
    assert round(brier_score(probs, [0, 1]), 6) == 0.4
    ```

    Reference:
        Brier, "Verification of Forecasts Expressed in Terms of
        Probability", Monthly Weather Review, 1950.
    """
    probs, labels = check_probs_and_labels(probs, labels)
    one_hot = np.eye(probs.shape[1])[labels]
    return float(np.mean(np.sum((probs - one_hot) ** 2, axis=1)))


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

    ```python
    import numpy as np
    from keras_ssl.evaluation import calibration_metrics

    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.4, 0.6]])
    metrics = calibration_metrics(probs, [0, 1, 1, 1], num_bins=2)
    assert metrics["accuracy"] == 0.75
    assert round(metrics["ece"], 6) == 0.0
    ```
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
