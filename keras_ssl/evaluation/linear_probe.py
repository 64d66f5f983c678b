"""Linear-probe accuracy of frozen features."""

import numpy as np

from keras_ssl.evaluation._validation import check_probe_inputs


def linear_probe(
    train_features,
    train_labels,
    test_features,
    test_labels,
    labels_per_class=None,
    C=1.0,
    seed=0,
    max_iter=1000,
):
    """Test accuracy of a logistic regression trained on frozen features.

    The features are standardised with a `StandardScaler` fitted on the
    training features that are used (after any label subsampling), then a
    multinomial `LogisticRegression(C=C)` (L2 penalty, lbfgs) is fitted and
    scored on the test features. This is the project's "lin@all" probe, and
    with `labels_per_class=5` its "lin@5" probe.

    Args:
        train_features: array `(n_train, d)` (more axes are flattened).
        train_labels: integer class ids, shape `(n_train,)`.
        test_features: array `(n_test, d)` with the same `d`.
        test_labels: integer class ids, shape `(n_test,)`.
        labels_per_class: `None` to use every training label, or an integer
            `k >= 1`: exactly `k` training samples per class, drawn without
            replacement with `seed`.
        C: inverse L2 regularisation strength, `> 0`.
        seed: seed of the label subsampling and of the solver.
        max_iter: maximum number of lbfgs iterations.

    Returns:
        Test accuracy as a Python float in `[0, 1]`.

    Raises:
        ValueError: on mismatched lengths or feature sizes, non-finite
            features, fewer than two training classes, `C <= 0`, or
            `labels_per_class` not a positive integer or larger than the
            smallest training class.

    Example:

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1], 50)
    >>> x = rng.normal(size=(100, 4)) + 3.0 * y[:, None]
    >>> linear_probe(x, y, x, y) > 0.95
    True
    >>> linear_probe(x, y, x, y, labels_per_class=5) > 0.9
    True

    Reference:
        Linear evaluation protocol of self-supervised learning, e.g.
        Chen et al., "A Simple Framework for Contrastive Learning of Visual
        Representations" (SimCLR), 2020; scikit-learn `LogisticRegression`.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    train_features, train_labels, test_features, test_labels = (
        check_probe_inputs(
            train_features, train_labels, test_features, test_labels
        )
    )
    if not C > 0:
        raise ValueError(f"C must be > 0; got {C}")
    classes, counts = np.unique(train_labels, return_counts=True)
    if len(classes) < 2:
        raise ValueError(
            "train_labels must contain at least two classes; got "
            f"{len(classes)}"
        )

    if labels_per_class is not None:
        if (
            isinstance(labels_per_class, bool)
            or not isinstance(labels_per_class, int | np.integer)
            or labels_per_class < 1
        ):
            raise ValueError(
                "labels_per_class must be None or a positive integer; got "
                f"{labels_per_class!r}"
            )
        if labels_per_class > counts.min():
            raise ValueError(
                f"labels_per_class={labels_per_class} is larger than the "
                f"smallest training class (class {classes[counts.argmin()]} "
                f"has {counts.min()} samples)"
            )
        rng = np.random.default_rng(seed)
        chosen = np.concatenate(
            [
                rng.choice(
                    np.flatnonzero(train_labels == c),
                    size=labels_per_class,
                    replace=False,
                )
                for c in classes
            ]
        )
        train_features = train_features[chosen]
        train_labels = train_labels[chosen]

    scaler = StandardScaler().fit(train_features)
    classifier = LogisticRegression(C=C, max_iter=max_iter, random_state=seed)
    classifier.fit(scaler.transform(train_features), train_labels)
    predictions = classifier.predict(scaler.transform(test_features))
    return float(np.mean(predictions == test_labels))
