import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.representation import MoCo
from keras_ssl.representation.moco import info_nce_logits
from keras_ssl.testing import check_method_contract
from tests.representation import moco_replica_models as models


def _mlp_encoder():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(10, activation="tanh")(x)
    x = keras.layers.BatchNormalization()(x)
    return keras.Model(inputs, keras.layers.Dense(6)(x))


def _moco(**kwargs):
    arguments = {"projection_dim": 4, "queue_size": 32, "momentum": 0.9}
    model = MoCo(_mlp_encoder(), **{**arguments, **kwargs})
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    return model


def _log_softmax_loss(logits, targets):
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_z = np.log(np.exp(shifted).sum(axis=1))
    return np.mean(log_z - shifted[np.arange(len(logits)), targets])


def _normalize(z):
    return z / np.linalg.norm(z, axis=1, keepdims=True)


# ----------------------------------------------------------------------
# InfoNCE
# ----------------------------------------------------------------------
def test_info_nce_logits_put_the_positive_first():
    rng = np.random.default_rng(0)
    q, k = (
        _normalize(rng.normal(size=(5, 3))),
        _normalize(rng.normal(size=(5, 3))),
    )
    queue = _normalize(rng.normal(size=(7, 3)))
    logits = np.asarray(info_nce_logits(q, k, queue, 0.2))
    expected = np.concatenate([np.sum(q * k, 1, keepdims=True), q @ queue.T], 1)
    np.testing.assert_allclose(logits, expected / 0.2, rtol=1e-5, atol=1e-6)


def test_a_step_logs_the_info_nce_of_the_pre_step_weights():
    keras.utils.set_random_seed(0)
    (query, key), index = models.batch()
    model = _moco(temperature=0.3)
    model(query[:1])
    q = np.asarray(model.project(query, training=True))
    k = np.asarray(model.momentum_project(key, training=True))
    queue = np.asarray(model.queue)
    logits = np.concatenate([np.sum(q * k, 1, keepdims=True), q @ queue.T], 1)
    logits /= 0.3
    expected = _log_softmax_loss(logits, np.zeros(len(q), int))
    history = model.fit((query, key), index, batch_size=16, epochs=1)
    np.testing.assert_allclose(history.history["info_nce"][0], expected, 1e-5)
    np.testing.assert_allclose(history.history["loss"][0], expected, 1e-5)
    accuracy = np.mean(np.argmax(logits, 1) == 0)
    assert history.history["instance_accuracy"][0] == pytest.approx(accuracy)


# ----------------------------------------------------------------------
# State updates: EMA and queue
# ----------------------------------------------------------------------
def test_momentum_weights_follow_the_ema_formula():
    keras.utils.set_random_seed(1)
    (query, key), index = models.batch()
    model = _moco(momentum=0.7)
    model(query[:1])
    query_weights = model.encoder.trainable_weights
    key_weights = model.momentum_encoder.trainable_weights
    start = [np.asarray(w).copy() for w in key_weights]
    for a, b in zip(start, query_weights, strict=True):
        np.testing.assert_array_equal(a, np.asarray(b))  # copied at init
    moving = [
        np.asarray(w).copy()
        for w in model.momentum_encoder.non_trainable_weights
    ]
    model.fit(
        (query, key), index, batch_size=16, epochs=1, verbose=0, shuffle=False
    )
    for old, k, q in zip(start, key_weights, query_weights, strict=True):
        assert not np.allclose(np.asarray(q), old)  # the step moved q
        np.testing.assert_allclose(
            np.asarray(k), 0.7 * old + 0.3 * np.asarray(q), rtol=1e-5, atol=1e-6
        )
    heads = zip(
        model.momentum_projection.trainable_weights,
        model.projection.trainable_weights,
        strict=True,
    )
    for k, q in heads:
        assert np.asarray(k).shape == np.asarray(q).shape
    # BN moving statistics are not averaged: the key pass in training
    # mode updates the momentum encoder's own.
    after = [
        np.asarray(w) for w in model.momentum_encoder.non_trainable_weights
    ]
    assert any(
        not np.allclose(a, b) for a, b in zip(moving, after, strict=True)
    )
    assert not any(
        w is v
        for w in model.optimizer_variables()["optimizer"]
        for v in model.momentum_encoder.weights
    )


def test_queue_is_first_in_first_out_and_wraps():
    keras.utils.set_random_seed(2)
    (query, key), index = models.batch()
    model = _moco(queue_size=48)
    model(query[:1])
    initial = np.asarray(model.queue).copy()
    np.testing.assert_allclose(np.linalg.norm(initial, axis=1), 1.0, rtol=1e-5)
    recorded = []
    for step in range(4):
        keys = np.asarray(model.momentum_project(key, training=True))
        recorded.append(keys)
        model.fit(
            (query, key),
            index,
            batch_size=16,
            epochs=1,
            verbose=0,
            shuffle=False,
        )
        queue = np.asarray(model.queue)
        assert int(model.queue_pointer) == (16 * (step + 1)) % 48
        if step == 0:
            np.testing.assert_allclose(queue[:16], keys, atol=1e-5)
            np.testing.assert_array_equal(queue[16:], initial[16:])
    # After 4 batches of 16 in a queue of 48: rows 0-15 hold the 4th
    # batch (the 1st was overwritten), rows 16-47 the 2nd and 3rd.
    np.testing.assert_allclose(queue[:16], recorded[3], atol=1e-5)
    np.testing.assert_allclose(queue[16:32], recorded[1], atol=1e-5)
    np.testing.assert_allclose(queue[32:], recorded[2], atol=1e-5)


def test_a_partial_batch_wraps_around_the_queue_end():
    model = _moco(queue_size=32)
    model(np.zeros((1, 8, 8, 1), "float32"))
    model.queue_pointer.assign(24)
    keys = _normalize(np.random.default_rng(3).normal(size=(12, 4)))
    before = np.asarray(model.queue).copy()
    model.enqueue(keys.astype("float32"))
    queue = np.asarray(model.queue)
    np.testing.assert_allclose(queue[24:], keys[:8], atol=1e-6)
    np.testing.assert_allclose(queue[:4], keys[8:], atol=1e-6)
    np.testing.assert_array_equal(queue[4:24], before[4:24])
    assert int(model.queue_pointer) == 4


def test_two_replicas_hold_the_same_first_in_first_out_queue():
    result = subprocess.run(
        [sys.executable, models.__file__, "queue"],
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
    before, keys = np.array(report["before"]), np.array(report["keys"])
    assert report["pointers"] == [models.BATCH, models.BATCH]
    for queue in map(np.array, report["queues"]):
        # Both halves of the global batch, in order, on every replica.
        np.testing.assert_allclose(queue[: models.BATCH], keys, atol=1e-5)
        np.testing.assert_array_equal(
            queue[models.BATCH :], before[models.BATCH :]
        )


# ----------------------------------------------------------------------
# Contract, heads, bad input
# ----------------------------------------------------------------------
def test_moco_meets_the_method_contract(tmp_path):
    report = check_method_contract(models.build_moco, models.batch(), tmp_path)
    assert report["export"]["endpoints"] == ["embed"]
    assert report["replicas"]["mirrored_weights_checked"] > 0


def test_mlp_head_and_embed_use_the_encoder_features():
    model = _moco(mlp_head=True)
    x = np.random.default_rng(4).random((3, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(
        np.asarray(model.embed(x)["embedding"]),
        np.asarray(model.encoder(x, training=False)),
        atol=1e-6,
    )
    assert [layer.units for layer in model.projection.layers] == [6, 4]
    np.testing.assert_allclose(
        np.linalg.norm(np.asarray(model.project(x)), axis=1), 1.0, rtol=1e-5
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"projection_dim": 0}, "projection_dim must be an integer >= 1"),
        ({"queue_size": 2.5}, "queue_size must be an integer >= 1; got 2.5"),
        ({"momentum": 1.0}, r"momentum must be a number in \[0, 1\)"),
        ({"temperature": 0}, "temperature must be a number > 0"),
    ],
)
def test_bad_arguments_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _moco(**kwargs)


@pytest.mark.parametrize(
    "fit_kwargs, match",
    [
        ({"batch_size": 12}, r"queue_size \(32\) must be a multiple of the"),
        ({"batch_size": 64}, r"queue_size \(32\) must be a multiple"),
    ],
)
def test_a_queue_that_is_no_multiple_of_the_batch_fails_before_training(
    fit_kwargs, match
):
    model = _moco()
    (query, key), index = models.batch()
    x = np.concatenate([query] * 4), np.concatenate([key] * 4)
    model(query[:1])
    weights = [np.asarray(w).copy() for w in model.weights]
    with pytest.raises(ValueError, match=match):
        model.fit(x, epochs=1, verbose=0, **fit_kwargs)
    dataset = tf.data.Dataset.from_tensor_slices(x).batch(
        fit_kwargs["batch_size"]
    )
    with pytest.raises(ValueError, match=match):
        model.fit(dataset, epochs=1, verbose=0)
    for before, after in zip(weights, model.weights, strict=True):
        np.testing.assert_array_equal(before, np.asarray(after))


def test_a_single_view_batch_is_a_clear_error():
    model = _moco()
    x = np.zeros((16, 8, 8, 1), "float32")
    with pytest.raises(ValueError, match="two views per image"):
        model.fit(x, np.arange(16), batch_size=16, epochs=1, verbose=0)
