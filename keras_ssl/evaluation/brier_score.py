"""Multi-class (full-vector) Brier score."""

import numpy as np

from keras_ssl.evaluation._validation import check_probs_and_labels


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

    >>> import numpy as np
    >>> probs = np.array([[0.8, 0.2], [0.6, 0.4]])
    >>> round(brier_score(probs, [0, 1]), 6)
    0.4

    Reference:
        Brier, "Verification of Forecasts Expressed in Terms of
        Probability", Monthly Weather Review, 1950.
    """
    probs, labels = check_probs_and_labels(probs, labels)
    one_hot = np.eye(probs.shape[1])[labels]
    return float(np.mean(np.sum((probs - one_hot) ** 2, axis=1)))
