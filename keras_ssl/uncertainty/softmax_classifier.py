import keras
import tensorflow as tf
from keras import ops

from keras_ssl.core._checks import check_class_ids
from keras_ssl.core._checks import check_integer
from keras_ssl.core.distribution import replica_mean
from keras_ssl.core.method import Method


@keras.saving.register_keras_serializable(package="keras_ssl")
class SoftmaxClassifier(Method):
    """Softmax classifier with the maximum-softmax-probability OOD score.

    The baseline every uncertainty method in keras_ssl is compared with: an
    encoder, a dense layer to `num_classes` logits, cross-entropy training.
    Its certainty is the largest softmax probability and its OOD score is
    the negated certainty (larger = more OOD), the detector of Hendrycks and
    Gimpel. It is also the smallest complete `keras_ssl.core.Method`, so it
    serves as the reference for how a method is written.

    Reference:
        Hendrycks and Gimpel, "A Baseline for Detecting Misclassified and
        Out-of-Distribution Examples in Neural Networks", ICLR 2017.

    Args:
        encoder: a `keras.Model` mapping inputs to a feature vector.
        num_classes: int, number of classes (at least 2).
        **kwargs: passed to `keras.Model` (`name`, ...).

    Inference (`call`) returns the logits; `classify(inputs)` returns a dict
    with `probs`, `prediction`, `certainty` and `ood_score`, and is the
    `classify` endpoint of an exported SavedModel.

    Example:

    ```python
    import keras_ssl

    (x, y), _ = keras_ssl.data.digits(image_size=16)
    encoder = keras_ssl.backbones.small_cnn((16, 16, 1), preset="narrow")
    model = keras_ssl.uncertainty.SoftmaxClassifier(encoder, num_classes=10)
    model.compile(optimizer="adam")
    model.fit(x, y, batch_size=64, epochs=1, verbose=0)
    model.classify(x[:4])["ood_score"]
    ```
    """

    family = "uncertainty"
    paper = "Hendrycks & Gimpel, ICLR 2017 (softmax baseline)"
    tracked_names = ("loss", "accuracy")

    def __init__(self, encoder, num_classes, **kwargs):
        super().__init__(encoder, **kwargs)
        self.num_classes = check_integer(num_classes, 2, "num_classes")
        self.classifier = keras.layers.Dense(self.num_classes, name="logits")

    def build(self, input_shape):
        self.classifier.build(self.encoder.compute_output_shape(input_shape))
        self.built = True

    def call(self, inputs, training=False):
        return self.classifier(self.encoder(inputs, training=training))

    def check_fit_data(self, x, y):
        if y is not None and not isinstance(x, tf.data.Dataset):
            check_class_ids(y, self.num_classes)

    def compute_losses(self, data, training=False):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        logits = self(x, training=training)
        per_example = keras.losses.sparse_categorical_crossentropy(
            y, logits, from_logits=True
        )
        if sample_weight is not None:
            per_example = per_example * ops.cast(
                ops.reshape(sample_weight, (-1,)), per_example.dtype
            )
        correct = ops.cast(
            ops.equal(ops.argmax(logits, axis=-1), ops.cast(y, "int64")),
            "float32",
        )
        losses = {"loss": replica_mean(per_example)}
        return losses, {"accuracy": ops.mean(correct)}

    def classify(self, inputs):
        """Probabilities, prediction, certainty and OOD score (inference)."""
        probs = ops.softmax(self(inputs, training=False), axis=-1)
        certainty = ops.max(probs, axis=-1)
        return {
            "probs": probs,
            "prediction": ops.argmax(probs, axis=-1),
            "certainty": certainty,
            "ood_score": -certainty,
        }

    def serving_endpoints(self):
        return {"classify": self.classify, "embed": self.embed}
