"""Module-level SLA builders for the contract test (importable by the
harness's worker process)."""

import keras
import numpy as np

from keras_ssl.backbones import small_cnn
from keras_ssl.supervised import SLA
from keras_ssl.supervised.sla import transformed_copies

NUM_CLASSES = 3


def batch():
    """4 random 8x8 images in their 4 rotations: 16 copies, 16 labels."""
    rng = np.random.default_rng(0)
    x = rng.random((4, 8, 8, 1)).astype("float32")
    y = np.array([0, 1, 2, 1])
    return np.asarray(transformed_copies(x)), np.repeat(y, 4)


def build_sla():
    encoder = small_cnn(
        (8, 8, 1), preset="narrow", synchronized_batch_norm=True
    )
    model = SLA(
        encoder,
        num_classes=NUM_CLASSES,
        self_distillation=True,
        weight_decay=1e-3,
    )
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    return model
