"""Two worker processes on 127.0.0.1 train like one device.

These tests keep the multi-worker mends of `keras_ssl.core.Method`
honest (keras-team/keras#20585, tensorflow/tensorflow#72388): if a Keras
release fixes or moves the code they work around, they show it.
"""

import numpy as np

from keras_ssl.testing import check_replica_equivalence
from tests.core import replica_models
from tests.uncertainty import duq_replica_models


def _batch(n=16):
    rng = np.random.default_rng(0)
    return (
        rng.normal(size=(n, 6)).astype("float32"),
        rng.integers(0, 3, n).astype("int32"),
    )


def test_softmax_on_two_workers_equals_one_device():
    report = check_replica_equivalence(
        replica_models.build_softmax,
        _batch(),
        fit_kwargs={"epochs": 2},
        workers=2,
    )
    assert report["weights"] == 7
    assert set(report["logs"]) == {"loss", "accuracy"}


def test_duq_on_two_workers_equals_one_device_centroids_included():
    report = check_replica_equivalence(
        duq_replica_models.build_duq_mlp,
        _batch(),
        fit_kwargs={"epochs": 2},
        workers=2,
    )
    assert report["logs"]["gradient_penalty"][0] > 0
