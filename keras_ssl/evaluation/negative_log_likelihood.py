"""Negative log-likelihood of predicted class probabilities."""

import numpy as np

from keras_ssl.evaluation._validation import check_probs_and_labels


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

    >>> import numpy as np
    >>> probs = np.array([[0.5, 0.5], [0.25, 0.75]])
    >>> round(negative_log_likelihood(probs, [0, 1]), 6)
    0.490415
    """
    probs, labels = check_probs_and_labels(probs, labels)
    if not 0 < eps < 1:
        raise ValueError(f"eps must be in (0, 1); got {eps}")
    true_class = probs[np.arange(labels.shape[0]), labels]
    return float(np.mean(-np.log(np.maximum(true_class, eps))))
