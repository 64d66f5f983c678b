import keras

from keras_ssl.semi_supervised.semi_supervised_classifier import (
    SemiSupervisedClassifier,
)


@keras.saving.register_keras_serializable(package="keras_ssl")
class Supervised(SemiSupervisedClassifier):
    """The control of the semi-supervised family: labels only.

    The same network as every `SemiSupervisedClassifier` (encoder,
    feature dropout, dense classifier), trained on the same
    `{"labeled": (x, y), "unlabeled": x_u}` stream with the same
    augmentation, but by the cross-entropy of the labeled part alone: the
    unlabeled inputs are ignored. Whatever a semi-supervised method gains
    over this model is what its unlabeled data bought. The recipes train
    it next to each method (`labeled_only_accuracy` in `run.json`).

    Args:
        encoder: a `keras.Model` mapping inputs to a feature vector.
        num_classes: int >= 2.
        dropout: float in [0, 1), dropout on the features before the
            classifier (training only). Default 0.0; give the value of the
            method it controls.
        seed: int >= 0, the key of the dropout masks (default: drawn from
            Python's global RNG and stored).
        **kwargs: passed to `keras.Model` (`name`, ...).

    Logged: `loss` (= `supervised`, the labeled cross-entropy averaged
    over the labeled views) and `accuracy` on the labeled batches.

    Example:

    ```python
    import keras_ssl

    (x, y), (x_test, y_test) = keras_ssl.data.digits()
    split = keras_ssl.data.semi_supervised_split(x, y, labels_per_class=5)
    dataset, steps = keras_ssl.data.semi_supervised_dataset(
        split, labeled_batch=50, unlabeled_batch=128
    )
    encoder = keras_ssl.backbones.small_cnn((8, 8, 1), preset="narrow")
    model = keras_ssl.semi_supervised.Supervised(encoder, num_classes=10)
    model.compile(optimizer="adam")
    model.fit(dataset, steps_per_epoch=steps, verbose=0)
    model.classify(x_test[:4])["probs"]
    ```
    """

    paper = "labeled-only control of the semi-supervised family"

    def compute_losses(self, data, training=False):
        x, y, _ = self.unpack_batch(data)
        logits = self.view_logits({"labeled": x}, training)
        loss, accuracy = self.supervised_loss(logits["labeled"], y)
        return {"loss": loss, "supervised": loss}, {"accuracy": accuracy}
