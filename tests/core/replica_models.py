"""Module-level builders for the replica-equivalence tests (importable by
the harness's worker process)."""

import keras

from keras_ssl.backbones import small_cnn
from keras_ssl.uncertainty.softmax_classifier import SoftmaxClassifier


def _encoder():
    inputs = keras.Input((6,))
    x = keras.layers.Dense(8, activation="tanh")(inputs)
    return keras.Model(inputs, keras.layers.Dense(4)(x), name="encoder")


def build_small_cnn(synchronized):
    encoder = small_cnn(
        (8, 8, 1), preset="narrow", synchronized_batch_norm=synchronized
    )
    model = SoftmaxClassifier(encoder, num_classes=3)
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    return model


def build_synchronized_bn():
    return build_small_cnn(True)


def build_local_bn():
    return build_small_cnn(False)


def build_softmax():
    model = SoftmaxClassifier(_encoder(), num_classes=3)
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    return model


class LocalMeanClassifier(SoftmaxClassifier):
    """Deliberately wrong: reduces the loss with a local-batch mean, which
    makes MirroredStrategy's summed gradients R times too large."""

    def compute_losses(self, data, training=False):
        x, y = data
        per_example = keras.losses.sparse_categorical_crossentropy(
            y, self(x, training=training), from_logits=True
        )
        return {"loss": keras.ops.mean(per_example)}, {"accuracy": 0.0}


def build_local_mean():
    model = LocalMeanClassifier(_encoder(), num_classes=3)
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    return model
