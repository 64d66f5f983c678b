"""Module-level builders for the NS3L contract test (importable by the
replica harness's worker process)."""

import keras

from keras_ssl.backbones._batch_norm import batch_norm
from keras_ssl.semi_supervised import NS3L
from tests.semi_supervised.tsme_replica_models import contract_batch


def ns3l_batch():
    """A fixed `{"labeled": (x, y), "unlabeled": (u_1, u_2)}` batch."""
    batch = contract_batch(passes=2)
    (x, _), y = batch["labeled"]
    return {"labeled": (x, y), "unlabeled": batch["unlabeled"]}


def _encoder():
    # Synchronized BatchNorm (the backbones' layer): the prediction pass
    # drops its updates, which 2 replicas must do as 1 device.
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, use_bias=False)(inputs)
    x = keras.layers.ReLU()(batch_norm(0.9, 1e-5, "bn")(x))
    x = keras.layers.Dense(8, activation="relu")(keras.layers.Flatten()(x))
    return keras.Model(inputs, x)


def build_ns3l():
    # Three classes: a threshold of 0.3 gives negatives from the start;
    # dropout on and a ramp-up that moves every step.
    model = NS3L(
        _encoder(),
        num_classes=3,
        threshold=0.3,
        weight=2.0,
        ramp_up_steps=4,
        dropout=0.3,
        seed=7,
    )
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    return model
