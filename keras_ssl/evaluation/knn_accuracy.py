"""Weighted cosine k-nearest-neighbour accuracy of frozen features."""

import numpy as np

from keras_ssl.evaluation._validation import check_probe_inputs


def knn_accuracy(
    train_features,
    train_labels,
    test_features,
    test_labels,
    k=5,
    temperature=None,
    weights="similarity",
    batch_size=256,
):
    """Test accuracy of a weighted cosine kNN classifier on frozen features.

    Features are L2-normalised, so the dot product is the cosine similarity.
    For each test sample the `k` most similar training samples vote for their
    class with weight

    - `weights="similarity"`, `temperature=None`: the cosine similarity
      `s` itself. A neighbour with negative similarity votes against its
      class.
    - `weights="similarity"`, `temperature=T`: `exp(s / T)`, the InstDisc
      weighting used by lightly's `KNNClassifier` and solo-learn's
      `WeightedKNNClassifier` (`T = 0.07` or `0.1` there).
    - `weights="uniform"`: 1 per neighbour (plain majority vote, as
      scikit-learn's `KNeighborsClassifier(metric="cosine")`).

    Only classes present among the `k` neighbours can win; ties go to the
    smallest class id. Test samples are processed in chunks of
    `batch_size`, so memory is `O(batch_size * n_train)`. Zero feature
    vectors have similarity 0 to everything.

    Args:
        train_features: array `(n_train, d)` (more axes are flattened).
        train_labels: integer class ids, shape `(n_train,)`.
        test_features: array `(n_test, d)` with the same `d`.
        test_labels: integer class ids, shape `(n_test,)`.
        k: number of neighbours, `1 <= k <= n_train`.
        temperature: `None` or a float `> 0` (see above).
        weights: `"similarity"` or `"uniform"`.
        batch_size: number of test samples per chunk.

    Returns:
        Test accuracy as a Python float in `[0, 1]`.

    Raises:
        ValueError: on mismatched lengths or feature sizes, non-finite
            features, `k` outside `[1, n_train]`, a non-positive
            `temperature`, a `temperature` with `weights="uniform"`, or an
            unknown `weights`.

    Example:

    >>> import numpy as np
    >>> train = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    >>> labels = np.array([0, 0, 1, 1])
    >>> knn_accuracy(train, labels, [[2.0, 0.1], [0.1, 3.0]], [0, 1], k=3)
    1.0

    Reference:
        Wu et al., "Unsupervised Feature Learning via Non-Parametric
        Instance Discrimination" (InstDisc), CVPR 2018.
    """
    train_features, train_labels, test_features, test_labels = (
        check_probe_inputs(
            train_features, train_labels, test_features, test_labels
        )
    )
    num_train = train_features.shape[0]
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise ValueError(f"k must be an integer; got {k!r}")
    if not 1 <= k <= num_train:
        raise ValueError(
            f"k must be in [1, {num_train}] (the number of training "
            f"samples); got {k}"
        )
    if weights not in ("similarity", "uniform"):
        raise ValueError(
            f'weights must be "similarity" or "uniform"; got {weights!r}'
        )
    if temperature is not None:
        if weights == "uniform":
            raise ValueError(
                'temperature must be None when weights="uniform"; got '
                f"{temperature}"
            )
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0; got {temperature}")
    if not int(batch_size) >= 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}")

    classes, train_ids = np.unique(train_labels, return_inverse=True)
    num_classes = len(classes)
    train_unit = _l2_normalize(train_features).astype(np.float32)
    test_unit = _l2_normalize(test_features).astype(np.float32)

    predictions = []
    for start in range(0, test_unit.shape[0], int(batch_size)):
        similarity = test_unit[start : start + int(batch_size)] @ train_unit.T
        rows = np.arange(similarity.shape[0])[:, None]
        if k < num_train:
            top = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        else:
            top = np.broadcast_to(np.arange(num_train), similarity.shape)
        top_similarity = similarity[rows, top].astype(np.float64)
        if weights == "uniform":
            vote = np.ones_like(top_similarity)
        elif temperature is None:
            vote = top_similarity
        else:
            vote = np.exp(top_similarity / temperature)

        neighbour_ids = train_ids[top]
        votes = np.zeros((similarity.shape[0], num_classes))
        present = np.zeros((similarity.shape[0], num_classes), dtype=bool)
        np.add.at(
            votes, (np.broadcast_to(rows, top.shape), neighbour_ids), vote
        )
        present[np.broadcast_to(rows, top.shape), neighbour_ids] = True
        votes[~present] = -np.inf
        predictions.append(classes[np.argmax(votes, axis=1)])

    predictions = np.concatenate(predictions)
    return float(np.mean(predictions == test_labels))


def _l2_normalize(features):
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(norms, 1e-12)
