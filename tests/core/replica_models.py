"""Module-level toy methods and builders for the base tests (importable by
the harness's worker process)."""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_ssl.backbones import small_cnn
from keras_ssl.core import Method
from keras_ssl.core import replica_mean
from keras_ssl.core import replica_reduce
from keras_ssl.core import replica_sum
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


@keras.saving.register_keras_serializable(package="keras_ssl_tests")
class TwoOptimizers(Method):
    """Encoder trained on one loss, head on another, each with its own
    optimizer; a feature mean follows the post-step encoder."""

    tracked_names = ("loss", "head_loss")
    optimizer_names = ("optimizer", "head_optimizer")

    def __init__(self, encoder, **kwargs):
        super().__init__(encoder, **kwargs)
        self.head = keras.layers.Dense(1, name="head")
        self.feature_mean = self.add_state(
            "feature_mean", (encoder.output_shape[-1],)
        )

    def build(self, input_shape):
        self.head.build(self.encoder.compute_output_shape(input_shape))
        self.built = True

    def optimizer_variables(self):
        return {
            "optimizer": self.encoder.trainable_variables,
            "head_optimizer": self.head.trainable_variables,
        }

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            features = self.encoder(x, training=True)
            loss = replica_mean(ops.sum(ops.square(features - 0.5), -1))
        self.minimize(tape, loss)
        with tf.GradientTape() as tape:
            prediction = self.head(self.encoder(x))[:, 0]
            head_loss = replica_mean(ops.square(prediction - y))
        self.minimize(tape, head_loss, optimizer="head_optimizer")
        self.after_step(data)
        return self.track({"loss": loss, "head_loss": head_loss})

    def after_step(self, data):
        features = self.encoder(data[0])
        total = replica_sum(ops.sum(features, axis=0))
        count = replica_sum(ops.cast(ops.shape(features)[0], "float32"))
        self.feature_mean.assign(total / count)

    def predict_value(self, inputs):
        return {"value": self.head(self.encoder(inputs))[:, 0]}

    def serving_endpoints(self):
        return {"predict_value": self.predict_value, "embed": self.embed}


def regression_batch(n=16):
    x = np.random.default_rng(3).normal(size=(n, 6)).astype("float32")
    return x, x[:, 0] - x[:, 1]


def build_two_optimizers():
    model = TwoOptimizers(_encoder())
    model.compile(
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
        head_optimizer=keras.optimizers.SGD(0.05, momentum=0.5),
    )
    return model


@keras.saving.register_keras_serializable(package="keras_ssl_tests")
class FeatureRange(Method):
    """Post-hoc: records the per-feature min and max of a fixed encoder
    over the data (no optimizer); scores how far inputs fall outside."""

    tracked_names = ("width",)
    optimizer_names = ()

    def __init__(self, encoder, margin=0.0, **kwargs):
        super().__init__(encoder, **kwargs)
        self.margin = margin
        size = (encoder.output_shape[-1],)
        constant = keras.initializers.Constant
        self.low = self.add_state("low", size, initializer=constant(np.inf))
        self.high = self.add_state("high", size, initializer=constant(-np.inf))

    def train_step(self, data):
        features = self.encoder(self.inference_inputs(data))
        self.low.assign(
            ops.minimum(self.low, replica_reduce(ops.min(features, 0), "min"))
        )
        self.high.assign(
            ops.maximum(self.high, replica_reduce(ops.max(features, 0), "max"))
        )
        return self.track(values={"width": ops.mean(self.high - self.low)})

    def score(self, inputs):
        features = self.encoder(inputs)
        below = ops.relu(self.low - self.margin - features)
        above = ops.relu(features - self.high - self.margin)
        return {"ood_score": ops.sum(below + above, axis=-1)}

    def serving_endpoints(self):
        return {"score": self.score}


def build_feature_range():
    model = FeatureRange(_encoder(), margin=0.0)
    model.compile()
    return model


@keras.saving.register_keras_serializable(package="keras_ssl_tests")
class EntropyMinimization(SoftmaxClassifier):
    """Semi-supervised toy: cross-entropy on the labeled part plus the
    mean prediction entropy on the unlabeled part."""

    tracked_names = ("loss", "cross_entropy", "entropy")
    semi_supervised = True

    def compute_losses(self, data, training=False):
        x, y = data["labeled"]
        logits = self(x, training=training)
        cross_entropy = keras.losses.sparse_categorical_crossentropy(
            y, logits, from_logits=True
        )
        probs = ops.softmax(self(data["unlabeled"], training=training))
        entropy = -ops.sum(probs * ops.log(probs + 1e-8), axis=-1)
        losses = {
            "cross_entropy": replica_mean(cross_entropy),
            "entropy": replica_mean(entropy),
        }
        losses["loss"] = losses["cross_entropy"] + 0.1 * losses["entropy"]
        return losses, {}


def build_entropy_minimization():
    model = EntropyMinimization(_encoder(), num_classes=3)
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    return model


def build_default_bn():
    """small_cnn with its default BatchNorm."""
    encoder = small_cnn((8, 8, 1), preset="narrow")
    model = SoftmaxClassifier(encoder, num_classes=3)
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    return model
