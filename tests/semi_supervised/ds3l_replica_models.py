"""Module-level builders for the DS3L contract test (importable by the
replica harness's worker process)."""

import keras

from keras_ssl.backbones import conv_dense
from keras_ssl.semi_supervised import DS3L
from tests.semi_supervised.tsme_replica_models import contract_batch


def ds3l_batch(seed=0):
    """`{"labeled": (x, y), "unlabeled": (u_1, u_2)}`: one labeled view,
    two unlabeled ones, 3 classes."""
    labeled = contract_batch(passes=1, seed=seed)["labeled"]
    unlabeled = contract_batch(passes=2, seed=seed + 1)["unlabeled"]
    return {"labeled": labeled, "unlabeled": unlabeled}


def build_ds3l():
    # Dropout on, a ramp-up that changes every step and a large virtual
    # step, so the meta-gradient moves the weight network visibly and
    # both optimizers matter to the replica and resume checks. No
    # BatchNorm: small and quick to build and trace.
    model = DS3L(
        conv_dense((8, 8, 1), filters=(4,), units=8),
        num_classes=3,
        consistency_weight=10.0,
        ramp_up_steps=4,
        meta_lr=1.0,
        dropout=0.3,
        seed=7,
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        weight_optimizer=keras.optimizers.SGD(10.0),
    )
    return model
