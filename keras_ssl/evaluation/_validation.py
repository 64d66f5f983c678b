"""Input checks shared by the evaluation functions (private)."""

import numpy as np


def check_features(features, name):
    """Returns `features` as a finite float 2-D array `(n, d)`.

    Arrays with more than two axes are flattened to `(n, -1)`.
    """
    features = np.asarray(features)
    if features.ndim < 2:
        raise ValueError(
            f"{name} must have shape (num_samples, num_features); "
            f"got shape {features.shape}"
        )
    if features.shape[0] == 0:
        raise ValueError(
            f"{name} must not be empty; got shape {features.shape}"
        )
    features = features.reshape(features.shape[0], -1).astype(np.float64)
    if not np.all(np.isfinite(features)):
        raise ValueError(f"{name} must be finite; got NaN or inf values")
    return features


def check_labels(labels, num_samples, name):
    """Returns `labels` as a 1-D integer array of length `num_samples`."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D array of integer class ids; "
            f"got shape {labels.shape}"
        )
    if labels.shape[0] != num_samples:
        raise ValueError(
            f"{name} must have one label per sample ({num_samples}); "
            f"got {labels.shape[0]}"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.issubdtype(labels.dtype, np.number) or not np.all(
            labels == np.round(labels)
        ):
            raise ValueError(
                f"{name} must contain integer class ids; got dtype "
                f"{labels.dtype}"
            )
        labels = labels.astype(np.int64)
    return labels


def check_probs_and_labels(probs, labels):
    """Validates a `(n, K)` probability matrix and its `(n,)` labels.

    Rows must be probability vectors (entries in [0, 1], sums within 1e-3 of
    1) and labels integer class ids in `[0, K)`.
    """
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] < 2 or probs.shape[0] == 0:
        raise ValueError(
            "probs must have shape (num_samples, num_classes) with at least "
            f"one sample and two classes; got shape {probs.shape}"
        )
    if not np.all(np.isfinite(probs)):
        raise ValueError("probs must be finite; got NaN or inf values")
    if probs.min() < -1e-6 or probs.max() > 1 + 1e-6:
        raise ValueError(
            "probs must lie in [0, 1]; got values in "
            f"[{probs.min():.4g}, {probs.max():.4g}] (pass probabilities, "
            "not logits)"
        )
    row_sums = probs.sum(axis=1)
    worst = np.max(np.abs(row_sums - 1.0))
    if worst > 1e-3:
        raise ValueError(
            "each row of probs must sum to 1 (within 1e-3); the worst row "
            f"sums to {row_sums[np.argmax(np.abs(row_sums - 1.0))]:.6g}"
        )
    labels = check_labels(labels, probs.shape[0], "labels")
    num_classes = probs.shape[1]
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(
            f"labels must lie in [0, {num_classes}) for probs with "
            f"{num_classes} columns; got range "
            f"[{labels.min()}, {labels.max()}]"
        )
    return probs, labels


def check_scores(scores, name):
    """Returns `scores` as a non-empty 1-D float array without NaN."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if scores.size == 0:
        raise ValueError(
            f"{name} must not be empty: OOD metrics need both "
            "in-distribution and OOD samples"
        )
    if np.any(np.isnan(scores)):
        raise ValueError(f"{name} contains NaN values")
    return scores


def check_probe_inputs(
    train_features, train_labels, test_features, test_labels
):
    """Validates the four arrays of a probe on frozen features.

    Returns them as `(train_features, train_labels, test_features,
    test_labels)` with the checks of `check_features` and `check_labels`,
    and the same feature dimension on both sides.
    """
    train_features = check_features(train_features, "train_features")
    test_features = check_features(test_features, "test_features")
    train_labels = check_labels(
        train_labels, train_features.shape[0], "train_labels"
    )
    test_labels = check_labels(
        test_labels, test_features.shape[0], "test_labels"
    )
    if train_features.shape[1] != test_features.shape[1]:
        raise ValueError(
            "train_features and test_features must have the same number of "
            f"features; got {train_features.shape[1]} and "
            f"{test_features.shape[1]}"
        )
    return train_features, train_labels, test_features, test_labels
