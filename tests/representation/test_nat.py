import itertools
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.export import export_saved_model
from keras_ssl.layers import Sobel
from keras_ssl.representation import NAT
from keras_ssl.representation.nat import assign_targets
from keras_ssl.testing import check_method_contract
from keras_ssl.testing import run_signatures
from tests.representation import nat_replica_models


def _model(num_samples=16, target_dim=4, **kwargs):
    model = NAT(
        nat_replica_models.mlp_encoder(),
        num_samples=num_samples,
        target_dim=target_dim,
        **kwargs,
    )
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    return model


class TableRecorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.tables = []

    def on_epoch_end(self, epoch, logs=None):
        self.tables.append(np.asarray(self.model.assignment).copy())


# ----------------------------------------------------------------------
# The assignment solver
# ----------------------------------------------------------------------
@pytest.mark.parametrize("size", [1, 2, 3, 5, 6])
def test_assignment_matches_brute_force(size):
    rng = np.random.default_rng(size)
    for _ in range(5):
        scores = rng.normal(size=(size, size))
        best = max(
            itertools.permutations(range(size)),
            key=lambda p: scores[np.arange(size), list(p)].sum(),
        )
        np.testing.assert_array_equal(assign_targets(scores), best)


def test_reassigning_step_applies_the_batch_assignment():
    keras.utils.set_random_seed(0)
    x, index = nat_replica_models.batch()
    model = _model()
    model(x[:1])
    before = np.asarray(model.assignment).copy()
    z = np.asarray(model.project(x))
    targets = np.asarray(model.targets)
    columns = assign_targets(z @ targets[before[index]].T)
    expected = before[index][columns]
    # One step of epoch 0, which reassigns: the loss is computed on the new
    # targets, so it equals the reference loss on them.
    loss = np.mean(np.sum((z - targets[expected]) ** 2, axis=1))
    history = model.fit(x, index, batch_size=16, epochs=1, shuffle=False)
    np.testing.assert_array_equal(np.asarray(model.assignment), expected)
    np.testing.assert_allclose(history.history["loss"][0], loss, rtol=1e-5)
    # The optimal assignment never scores lower than the one before it.
    assert np.sum(z * targets[expected]) >= np.sum(z * targets[before]) - 1e-6
    assert history.history["reassigned_fraction"][0] == pytest.approx(
        np.mean(expected != before)
    )


def test_table_is_a_permutation_and_changes_only_in_reassigning_epochs():
    keras.utils.set_random_seed(1)
    x = np.random.default_rng(1).random((48, 8, 8, 1)).astype("float32")
    model = _model(num_samples=48, target_dim=4, reassign_every=3)
    recorder = TableRecorder()
    initial = np.asarray(model.assignment).copy()
    model.fit(x, np.arange(48), batch_size=12, epochs=7, callbacks=[recorder])
    tables = [initial, *recorder.tables]
    for table in tables:
        np.testing.assert_array_equal(np.sort(table), np.arange(48))
    changed = [not np.array_equal(tables[e], tables[e + 1]) for e in range(7)]
    # Epochs 0, 3 and 6 reassign; 1, 2, 4 and 5 leave the table alone.
    assert changed == [True, False, False, True, False, False, True]


def test_reassign_every_zero_never_changes_the_table():
    keras.utils.set_random_seed(2)
    x = np.random.default_rng(2).random((32, 8, 8, 1)).astype("float32")
    model = _model(num_samples=32, reassign_every=0)
    initial = np.asarray(model.assignment).copy()
    history = model.fit(x, np.arange(32), batch_size=8, epochs=2)
    np.testing.assert_array_equal(np.asarray(model.assignment), initial)
    assert history.history["reassigned_fraction"] == [0.0, 0.0]


def test_a_resumed_fit_knows_its_epoch():
    keras.utils.set_random_seed(3)
    x, index = nat_replica_models.batch()
    model = _model(reassign_every=3)
    before = np.asarray(model.assignment).copy()
    model.fit(x, index, batch_size=8, epochs=3, initial_epoch=1)
    assert int(model.epoch) == 2
    np.testing.assert_array_equal(np.asarray(model.assignment), before)


# ----------------------------------------------------------------------
# State, serialization, export
# ----------------------------------------------------------------------
def test_targets_are_unit_vectors_and_table_a_random_permutation():
    model = _model(num_samples=200, target_dim=5, seed=4)
    targets = np.asarray(model.targets)
    np.testing.assert_allclose(np.linalg.norm(targets, axis=1), 1.0, 1e-6)
    table = np.asarray(model.assignment)
    np.testing.assert_array_equal(np.sort(table), np.arange(200))
    assert np.mean(table == np.arange(200)) < 0.1
    # Uniform on the sphere: the mean direction is near zero.
    assert np.linalg.norm(targets.mean(axis=0)) < 0.25
    same = _model(num_samples=200, target_dim=5, seed=4)
    np.testing.assert_array_equal(np.asarray(same.targets), targets)


def test_nat_meets_the_method_contract(tmp_path):
    # The replica check trains a non-reassigning epoch (a reassigning one
    # solves per replica; see the next test); the resume check starts in a
    # reassigning epoch and resumes in the two that follow.
    report = check_method_contract(
        nat_replica_models.build_nat,
        nat_replica_models.batch(),
        tmp_path,
        replica_fit_kwargs={"epochs": 2, "initial_epoch": 1},
    )
    assert report["export"]["endpoints"] == ["embed"]
    assert report["replicas"]["mirrored_weights_checked"] > 0


# ----------------------------------------------------------------------
# Several replicas
# ----------------------------------------------------------------------
def test_two_replicas_reassign_per_replica_and_keep_one_permutation():
    result = subprocess.run(
        [sys.executable, nat_replica_models.__file__, "reassign"],
        capture_output=True,
        text=True,
        env=dict(
            os.environ,
            TF_CPP_MIN_LOG_LEVEL="2",
            PYTHONPATH=os.pathsep.join(
                [os.getcwd(), os.environ.get("PYTHONPATH", "")]
            ),
        ),
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    before, expected = np.array(report["before"]), np.array(report["expected"])
    assert not np.array_equal(before, expected)  # the step did reassign
    for copy in report["copies"]:
        np.testing.assert_array_equal(copy, expected)
        np.testing.assert_array_equal(np.sort(copy), np.arange(len(copy)))


# ----------------------------------------------------------------------
# Sobel, XLA, bad input
# ----------------------------------------------------------------------
def test_sobel_front_end_gives_image_gradients():
    rng = np.random.default_rng(7)
    image = rng.random((2, 6, 6, 3)).astype("float32")
    out = np.asarray(Sobel()(image))
    gray = np.pad(image.mean(-1), ((0, 0), (1, 1), (1, 1)))
    kx = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    expected = np.zeros((2, 6, 6, 2))
    for i, j in itertools.product(range(6), range(6)):
        patch = gray[:, i : i + 3, j : j + 3]
        expected[:, i, j, 0] = (patch * kx).sum((1, 2))
        expected[:, i, j, 1] = (patch * kx.T).sum((1, 2))
    np.testing.assert_allclose(out, expected, atol=1e-5)
    assert Sobel().compute_output_shape((None, 6, 6, 3)) == (None, 6, 6, 2)


def test_nat_with_sobel_trains_and_serves_raw_images(tmp_path):
    keras.utils.set_random_seed(8)
    inputs = keras.Input((8, 8, 2))
    features = keras.layers.Dense(3)(keras.layers.Flatten()(inputs))
    model = NAT(
        keras.Model(inputs, features), num_samples=16, target_dim=4, sobel=True
    )
    model.compile(optimizer="sgd")
    x = np.random.default_rng(8).random((16, 8, 8, 3)).astype("float32")
    model.fit(x, np.arange(16), batch_size=8, epochs=1, verbose=0)
    assert not any("sobel" in w.path for w in model.trainable_weights)
    np.testing.assert_allclose(
        np.asarray(model.embed(x)["embedding"]),
        np.asarray(model.encoder(Sobel()(x))),
        atol=1e-6,
    )
    path = export_saved_model(
        model, str(tmp_path), "nat", input_shape=(8, 8, 3)
    )
    out = run_signatures(path, x[:2], tmp_path)
    assert np.asarray(out["embed"]["embedding"]).shape == (2, 3)


def test_xla_is_refused_and_auto_turns_it_off():
    model = _model()
    with pytest.raises(ValueError, match="cannot be XLA-compiled"):
        model.compile(optimizer="sgd", jit_compile=True)
    model.compile(optimizer="sgd", jit_compile="auto")
    assert model.jit_compile is False


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_samples": 0}, "num_samples must be an integer >= 1"),
        ({"num_samples": 2.5}, "num_samples must be an integer >= 1; got 2.5"),
        ({"target_dim": 0}, "target_dim must be an integer >= 1"),
        ({"reassign_every": -1}, "reassign_every must be an integer >= 0"),
        ({"sobel": True}, "with sobel=True the encoder must take 2-channel"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs, match):
    arguments = {"num_samples": 16, "target_dim": 4, **kwargs}
    with pytest.raises(ValueError, match=match):
        NAT(nat_replica_models.mlp_encoder(), **arguments)


@pytest.mark.parametrize(
    "index, match",
    [
        (np.arange(16) + 1, r"must lie in \[0, num_samples=16\)"),
        (np.zeros(16, dtype=int), "must not repeat"),
        (np.linspace(0, 1, 16), "1-D integer array of sample indices"),
        (None, r"\(images, index\) pairs"),
    ],
)
def test_bad_fit_inputs_fail_before_training(index, match):
    model = _model()
    x = np.zeros((16, 8, 8, 1), "float32")
    model(x[:1])
    weights = [np.asarray(w).copy() for w in model.weights]
    with pytest.raises(ValueError, match=match):
        model.fit(x, index, batch_size=8, epochs=1, verbose=0)
    for before, after in zip(weights, model.weights, strict=True):
        np.testing.assert_array_equal(before, np.asarray(after))


def test_out_of_range_index_in_a_dataset_is_caught():
    model = _model()
    x = np.zeros((4, 8, 8, 1), "float32")
    dataset = tf.data.Dataset.from_tensors((x, np.array([0, 1, 2, 99])))
    with pytest.raises(
        tf.errors.InvalidArgumentError, match="sample index must be < 16"
    ):
        model.fit(dataset, epochs=1, verbose=0)
