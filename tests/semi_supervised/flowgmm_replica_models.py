"""Module-level builders for the FlowGMM contract test (importable by the
replica harness's worker process)."""

import keras
import numpy as np

from keras_ssl.layers import RealNVPFlow
from keras_ssl.semi_supervised import FlowGMM

DIM, CLASSES = 3, 3


def contract_batch(labeled=6, unlabeled=8, seed=0):
    """A fixed batch: labeled 3-D points, two views of each unlabeled."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(labeled, DIM)).astype("float32")
    y = (np.arange(labeled) % CLASSES).astype("int32")
    u = rng.normal(size=(unlabeled, DIM)).astype("float32")
    noise = rng.normal(0, 0.1, (2, unlabeled, DIM)).astype("float32")
    return {"labeled": (x, y), "unlabeled": (u + noise[0], u + noise[1])}


def build_flowgmm():
    # An odd size (1 kept unit, 2 transformed), coupled weight decay, the
    # consistency term with a ramp-up that moves every epoch: every term of
    # the loss matters to the step.
    flow = RealNVPFlow(
        DIM, num_couplings=2, hidden_units=(8,), weight_decay=1e-2
    )
    model = FlowGMM(
        flow,
        num_classes=CLASSES,
        unlabeled_weight=0.5,
        consistency_weight=1.0,
        consistency_ramp_up=3,
        seed=3,
    )
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    return model
