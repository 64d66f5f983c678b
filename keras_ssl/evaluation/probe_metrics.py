from keras_ssl.evaluation.encoder_features import encoder_features
from keras_ssl.evaluation.knn_accuracy import knn_accuracy
from keras_ssl.evaluation.linear_probe import linear_probe


def probe_metrics(model, data, k=5):
    """Linear-probe and kNN accuracy of a model's inference features.

    `model.predict` runs the model's `call`; for a method that is its
    encoder (behind any fixed front end such as NAT's Sobel layer).

    Args:
        model: a `keras.Model` (a method or a plain encoder).
        data: a dict with `x_train`, `y_train`, `x_test` and `y_test`.
        k: neighbours of the weighted kNN.

    Returns:
        `(metrics, test_features)`: a dict with `linear_probe_accuracy`
        and `knn_accuracy` on the test split, and the test features.

    Example:

    ```python
    import keras
    import keras_ssl

    (x, y), (x_test, y_test) = keras_ssl.data.digits()
    flatten = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten()])
    data = {"x_train": x, "y_train": y, "x_test": x_test, "y_test": y_test}
    metrics, _ = keras_ssl.evaluation.probe_metrics(flatten, data)
    ```
    """
    train = encoder_features(model, data["x_train"])
    test = encoder_features(model, data["x_test"])
    metrics = {
        "linear_probe_accuracy": linear_probe(
            train, data["y_train"], test, data["y_test"]
        ),
        "knn_accuracy": knn_accuracy(
            train, data["y_train"], test, data["y_test"], k=k
        ),
    }
    return metrics, test
