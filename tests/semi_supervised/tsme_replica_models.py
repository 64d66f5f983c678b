"""Module-level builders for the semi-supervised contract tests
(importable by the replica harness's worker process)."""

import keras
import numpy as np

from keras_ssl.backbones import conv_dense
from keras_ssl.semi_supervised import StabilityME
from keras_ssl.semi_supervised import Supervised


def contract_batch(passes=2, labeled=8, unlabeled=12, seed=0):
    """A fixed `{"labeled": ((x_1, ..), y), "unlabeled": (u_1, ..)}`."""
    rng = np.random.default_rng(seed)

    def views(n):
        base = rng.uniform(0, 1, (n, 8, 8, 1)).astype("float32")
        noise = rng.normal(0, 0.1, (passes, n, 8, 8, 1)).astype("float32")
        copies = tuple(base + noise[j] for j in range(passes))
        return copies[0] if passes == 1 else copies

    y = (np.arange(labeled) % 3).astype("int32")
    return {"labeled": (views(labeled), y), "unlabeled": views(unlabeled)}


def _encoder():
    # No BatchNorm (it would need `synchronized=True` to match 1 device);
    # small, so the harness's several builds and traces stay quick.
    return conv_dense((8, 8, 1), filters=(4,), units=8)


def build_tsme():
    # Dropout on, a ramp-up that changes every step and visible ME and
    # NS3L weights (a threshold with negatives among 3 classes): every
    # term and both random sources matter to the step.
    model = StabilityME(
        _encoder(),
        num_classes=3,
        mutual_exclusivity_weight=0.5,
        negative_sampling_weight=0.5,
        negative_sampling_threshold=0.3,
        ramp_up_steps=4,
        dropout=0.3,
        seed=7,
    )
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    return model


def build_supervised():
    model = Supervised(_encoder(), num_classes=3, dropout=0.3, seed=7)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    return model
