import json
import math
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.recipes import get_recipe
from keras_ssl.testing import check_method_contract
from keras_ssl.uncertainty import SDENet
from keras_ssl.uncertainty import sde_net
from tests.uncertainty import sdenet_replica_models as helpers
from tests.uncertainty.sdenet_replica_models import CLASSES
from tests.uncertainty.sdenet_replica_models import FEATURES
from tests.uncertainty.sdenet_replica_models import SETTINGS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
BATCH = 8


def _batch(seed=0, n=BATCH):
    rng = np.random.default_rng(seed)
    x = rng.random((n, FEATURES)).astype("float32")
    return x, (np.arange(n) % CLASSES).astype("int32")


def _model(**settings):
    keras.utils.set_random_seed(1)
    model = helpers.sdenet_mlp(**settings)
    model(_batch()[0])
    return model


def _weights(model):
    """The MLP's weights by role, float64."""

    def dense(part, name):
        layer = part.get_layer(name)
        return np.asarray(layer.kernel, "float64"), np.asarray(
            layer.bias, "float64"
        )

    return {
        "stem": dense(model.stem, "dense"),
        "drift": dense(model.drift, "dense"),
        "diffusion1": dense(model.diffusion, "dense1"),
        "diffusion2": dense(model.diffusion, "dense2"),
        "head": dense(model.head, "logits"),
    }


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _reference(w, x, sigma, noise, num_steps, t_end):
    """NumPy float64 Euler-Maruyama path of the test MLP."""
    h0 = x.astype("float64") @ w["stem"][0] + w["stem"][1]
    hidden = np.maximum(h0 @ w["diffusion1"][0] + w["diffusion1"][1], 0)
    gate = _sigmoid(hidden @ w["diffusion2"][0] + w["diffusion2"][1])[:, 0]
    dt = t_end / num_steps
    states = [h0]
    h = h0
    for k in range(num_steps):
        t = np.full((len(h), 1), t_end * k / num_steps)
        drift = np.tanh(
            np.concatenate([h, t], 1) @ w["drift"][0] + w["drift"][1]
        )
        h = h + drift * dt + sigma * gate[:, None] * math.sqrt(dt) * noise[k]
        states.append(h)
    logits = np.maximum(h, 0) @ w["head"][0] + w["head"][1]
    return {"states": np.stack(states), "gate": gate, "logits": logits}


def _documented_noise(model, stream, step, shape):
    """The draw the docstring promises: seed `(seed, 5 * step + stream)`."""
    seed = tf.constant([model.seed, 5 * step + stream], tf.int64)
    return np.asarray(tf.random.stateless_normal(shape, seed), "float64")


def _log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


# ----------------------------------------------------------------------
# The SDE
# ----------------------------------------------------------------------
def test_euler_maruyama_path_matches_numpy_reference():
    model = _model()
    x, _ = _batch()
    noise = np.random.default_rng(5).normal(size=(3, BATCH, helpers.WIDTH))
    out = model.trajectory(x, noise=noise.astype("float32"), sigma=2.5)
    ref = _reference(_weights(model), x, 2.5, noise, 3, 1.5)
    np.testing.assert_allclose(out["states"], ref["states"], atol=1e-5)
    np.testing.assert_allclose(out["strength"], 2.5 * ref["gate"], rtol=1e-5)
    np.testing.assert_allclose(out["logits"], ref["logits"], atol=1e-5)
    # The noise matters at this scale and the drift sees the time.
    still = _reference(_weights(model), x, 0.0, noise, 3, 1.5)
    assert np.abs(still["logits"] - ref["logits"]).max() > 0.1


def test_diffusion_is_computed_once_and_held_constant_along_the_path():
    keras.utils.set_random_seed(2)
    model = SDENet(
        **SDENet.conv_networks((16, 16, 1), num_classes=3, dim=4),
        num_steps=4,
        t_end=2.0,
        seed=0,
    )
    # The official N(0, 1e-3) init gives g = 1/2 everywhere: spread it.
    logit = model.diffusion.get_layer("logit")
    rng = np.random.default_rng(0)
    logit.kernel.assign(rng.normal(0, 30, logit.kernel.shape))
    x = rng.random((5, 16, 16, 1)).astype("float32")
    z = np.asarray(model.diffusion(model.stem(x)))
    logit.bias.assign(logit.bias - z.mean())
    out = model.trajectory(x, sigma=30.0)
    states = np.asarray(out["states"], "float64")
    noise = _documented_noise(
        model, sde_net.INFERENCE, 0, (4, *states.shape[1:])
    )
    strength = np.asarray(out["strength"], "float64")
    h0 = model.stem(x)
    gate = np.asarray(keras.ops.sigmoid(model.diffusion(h0)))[:, 0]
    np.testing.assert_allclose(strength, 30.0 * gate, rtol=1e-5)
    assert np.ptp(gate) > 0.05
    dt = 0.5
    for k in range(4):
        time = np.full((5, 1), 2.0 * k / 4, "float32")
        drift = np.asarray(model.drift([states[k].astype("float32"), time]))
        residual = states[k + 1] - states[k] - drift * dt
        expected = strength[:, None, None, None] * math.sqrt(dt) * noise[k]
        np.testing.assert_allclose(residual, expected, atol=2e-4, rtol=1e-3)
        if k:  # a diffusion re-evaluated at h_k would be another model
            later = np.asarray(keras.ops.sigmoid(model.diffusion(states[k])))
            assert np.abs(later[:, 0] - gate).max() > 1e-3


# ----------------------------------------------------------------------
# Losses and the two steps
# ----------------------------------------------------------------------
def _l2(model, part_names):
    total = sum(
        float(np.sum(np.square(v)))
        for name in part_names
        for v in getattr(model, name).trainable_weights
    )
    return 0.5 * SETTINGS["weight_decay"] * total


def test_losses_match_numpy_reference():
    model = _model()
    x, y = _batch()
    w = _weights(model)
    step = 4
    seed = model.noise_seed(sde_net.BROWNIAN, step)
    losses, values = model.drift_losses(x, y, seed, training=True)
    noise = _documented_noise(model, sde_net.BROWNIAN, step, (3, BATCH, 8))
    ref = _reference(w, x, SETTINGS["sigma_train"], noise, 3, 1.5)
    cross_entropy = -np.mean(_log_softmax(ref["logits"])[np.arange(BATCH), y])
    assert float(losses["cross_entropy"]) == pytest.approx(
        cross_entropy, rel=1e-5
    )
    assert float(losses["l2"]) == pytest.approx(
        _l2(model, ("stem", "drift", "head")), rel=1e-5
    )
    accuracy = np.mean(ref["logits"].argmax(-1) == y)
    assert float(values["accuracy"]) == pytest.approx(accuracy)

    seed = model.noise_seed(sde_net.PSEUDO_OOD, step)
    losses, values = model.diffusion_losses(x, seed, training=True)
    x_out = x + 2.0 * _documented_noise(
        model, sde_net.PSEUDO_OOD, step, x.shape
    )
    gate_in = _reference(w, x, 0, noise, 3, 1.5)["gate"]
    gate_out = _reference(w, x_out, 0, noise, 3, 1.5)["gate"]
    bce_in = -np.mean(np.log(1 - gate_in))
    bce_out = -np.mean(np.log(gate_out))
    assert float(losses["bce_in"]) == pytest.approx(bce_in, rel=1e-5)
    assert float(losses["bce_out"]) == pytest.approx(bce_out, rel=1e-5)
    assert float(losses["l2"]) == pytest.approx(
        _l2(model, ("diffusion",)), rel=1e-5
    )
    assert float(values["diffusion_in"]) == pytest.approx(gate_in.mean())
    assert float(values["diffusion_out"]) == pytest.approx(gate_out.mean())


def test_pseudo_ood_noise_of_images_has_one_channel():
    keras.utils.set_random_seed(3)
    model = SDENet(
        **SDENet.conv_networks((12, 12, 3), num_classes=3, dim=4),
        ood_noise_std=2.0,
        weight_decay=0.0,
        seed=11,
    )
    x = np.random.default_rng(1).random((4, 12, 12, 3)).astype("float32")
    seed = model.noise_seed(sde_net.PSEUDO_OOD, 2)
    losses, _ = model.diffusion_losses(x, seed)
    noise = _documented_noise(model, sde_net.PSEUDO_OOD, 2, (4, 12, 12, 1))
    x_out = (x + 2.0 * noise).astype("float32")  # broadcast over RGB
    logit = np.asarray(model.diffusion(model.stem(x_out)))[:, 0]
    expected = np.mean(np.log1p(np.exp(-logit.astype("float64"))))
    assert float(losses["bce_out"]) == pytest.approx(expected, rel=1e-5)


def test_each_step_updates_only_its_own_networks():
    """One `fit` step equals the drift step on stem, drift and head, then
    the diffusion step (recomputed with the updated stem) on the
    diffusion net alone, as plain SGD with the coupled L2."""
    lr, lr_diffusion = 0.1, 0.05
    model = _model()
    model.compile(
        optimizer=keras.optimizers.SGD(lr),
        diffusion_optimizer=keras.optimizers.SGD(lr_diffusion),
    )
    reference = _model()
    reference.set_weights(model.get_weights())
    x, y = _batch()
    model.train_on_batch(x, y)

    def step(variables, gradients, rate):
        for v, g in zip(variables, gradients, strict=True):
            v.assign(v - rate * g)

    drift_vars = reference.optimizer_variables()["optimizer"]
    diffusion_vars = reference.optimizer_variables()["diffusion_optimizer"]
    with tf.GradientTape(persistent=True) as tape:
        losses, _ = reference.drift_losses(
            x, y, reference.noise_seed(sde_net.BROWNIAN, 0), training=True
        )
        drift_total = losses["cross_entropy"] + losses["l2"]
    # The cross-entropy reaches the diffusion net (through g), which the
    # drift step must nevertheless leave alone.
    leak = tape.gradient(losses["cross_entropy"], diffusion_vars)
    assert max(float(np.abs(g).max()) for g in leak) > 1e-4
    step(drift_vars, tape.gradient(drift_total, drift_vars), lr)
    with tf.GradientTape() as tape:
        losses, _ = reference.diffusion_losses(
            x, reference.noise_seed(sde_net.PSEUDO_OOD, 0), training=True
        )
        total = losses["bce_in"] + losses["bce_out"] + losses["l2"]
    gradients = tape.gradient(total, diffusion_vars)
    step(diffusion_vars, gradients, lr_diffusion)
    trained = model.optimizer_variables()
    for name, expected in (
        ("optimizer", drift_vars),
        ("diffusion_optimizer", diffusion_vars),
    ):
        for a, b in zip(trained[name], expected, strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
    assert max(float(np.abs(g).max()) for g in gradients) > 1e-4


def test_two_replicas_draw_their_own_noise_and_one_device_draws_the_same(
    tmp_path,
):
    """A global batch made of the same 4 samples twice: each replica gets
    one copy. Different noise gives the copies different paths; the two
    replicas together draw what one device draws for the whole batch."""
    output = tmp_path / "noise.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.uncertainty.sdenet_replica_models",
            str(output),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(output.read_text())
    first, second = (np.array(s) for s in report["replicas"]["states"])
    assert np.abs(first[0] - second[0]).max() == 0  # the same h_0
    assert np.abs(first[-1] - second[-1]).max() > 0.5
    single = np.array(report["single"]["states"])
    np.testing.assert_allclose(
        np.concatenate([first, second], axis=1), single, atol=1e-5
    )
    # The copies' losses differ (identical noise would make them equal to
    # the last bit); by how much depends on the draw: bce_out's two halves
    # have come out 2.7e-4 apart, as the diffusion net starts near 0.5.
    for name in ("cross_entropy", "bce_out"):
        parts = report["replicas"][name]
        assert abs(parts[0] - parts[1]) > 1e-5
        assert sum(parts) == pytest.approx(report["single"][name], rel=1e-5)


def test_sdenet_meets_the_method_contract(tmp_path):
    # 2 replicas = 1 device with the noise on: each replica draws its rows
    # of the global batch's noise, so the 1-device run draws the same.
    report = check_method_contract(
        helpers.build_sdenet_mlp,
        _batch(n=16),
        tmp_path,
        epochs=2,
        replica_fit_kwargs={"epochs": 2},
    )
    assert report["export"]["endpoints"] == ["classify"]
    logs = report["replicas"]["logs"]
    assert set(logs) == set(SDENet.tracked_names)
    assert logs["cross_entropy"][0] > 0 and logs["bce_out"][0] > 0
    assert report["keras"]["optimizers"] == {
        "optimizer": 2,
        "diffusion_optimizer": 2,
    }


# ----------------------------------------------------------------------
# Inference
# ----------------------------------------------------------------------
def test_classify_averages_the_passes_and_reports_every_score():
    model = _model(num_samples=4, sigma_test=3.0, sigma_sweep=(1.0, 3.0))
    x, _ = _batch()
    out = {k: np.asarray(v) for k, v in model.classify(x).items()}
    draw = _documented_noise(model, sde_net.INFERENCE, 0, (3, 4 * BATCH, 8))

    def mean_probs(sigma):
        passes = [
            keras.ops.softmax(
                model.trajectory(
                    x,
                    noise=draw[:, m * BATCH : (m + 1) * BATCH].astype(
                        "float32"
                    ),
                    sigma=sigma,
                )["logits"]
            )
            for m in range(4)
        ]
        return np.mean(np.asarray(passes), axis=0)

    probs = mean_probs(3.0)
    np.testing.assert_allclose(out["probs"], probs, atol=1e-5)
    np.testing.assert_array_equal(out["prediction"], probs.argmax(-1))
    np.testing.assert_allclose(out["certainty"], probs.max(-1), atol=1e-5)
    np.testing.assert_allclose(out["ood_score"], -out["certainty"])
    entropy = -np.sum(probs * np.log(probs), -1)
    np.testing.assert_allclose(out["entropy"], entropy, atol=1e-5)
    still = np.zeros((3, BATCH, 8))
    gate = _reference(_weights(model), x, 0, still, 3, 1.5)["gate"]
    np.testing.assert_allclose(out["diffusion"], gate, rtol=1e-5)
    assert model.sweep_names == ("ood_score_sigma_1", "ood_score_sigma_3")
    np.testing.assert_allclose(
        out["ood_score_sigma_1"], -mean_probs(1.0).max(-1), atol=1e-5
    )
    np.testing.assert_allclose(out["ood_score_sigma_3"], out["ood_score"])
    # The passes differ, so the mean is not one pass.
    one = keras.ops.softmax(model(x))
    assert np.abs(np.asarray(one) - out["probs"]).max() > 1e-3
    config = model.get_config()
    assert config["sigma_test"] == 3.0 and config["num_samples"] == 4


def test_sigma_zero_is_the_deterministic_network():
    model = _model(sigma_train=0.0, sigma_test=0.0, sigma_sweep=())
    x, y = _batch()
    out = model.classify(x)
    w = _weights(model)
    ref = _reference(w, x, 0.0, np.zeros((3, BATCH, 8)), 3, 1.5)
    probs = np.exp(_log_softmax(ref["logits"]))
    np.testing.assert_allclose(out["probs"], probs, atol=1e-5)
    losses, _ = model.drift_losses(x, y, model.noise_seed(0, 9))
    again, _ = model.drift_losses(x, y, model.noise_seed(0, 10))
    assert float(losses["cross_entropy"]) == float(again["cross_entropy"])


def test_conv_networks_train_and_round_trip(tmp_path):
    keras.utils.set_random_seed(4)
    model = SDENet(
        **SDENet.conv_networks((16, 16, 1), num_classes=3, dim=4),
        num_steps=2,
        t_end=2.0,
        num_samples=2,
        sigma_sweep=(50.0,),
        seed=3,
    )
    assert model.time_conditioned
    model.compile(
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
        diffusion_optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
    )
    rng = np.random.default_rng(0)
    x = rng.random((8, 16, 16, 1)).astype("float32")
    y = (np.arange(8) % 3).astype("int32")
    model(x)
    model.build_optimizers()
    before = [np.asarray(v) for v in model.trainable_variables]
    logs = model.train_step((x, y))  # eagerly: no tracing of the conv net
    assert all(np.isfinite(float(v)) for v in logs.values())
    after = model.trainable_variables
    assert all(np.any(a != b) for a, b in zip(after, before, strict=True))
    path = str(tmp_path / "conv.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    restored = loaded.classify(x)
    for key, value in model.classify(x).items():
        np.testing.assert_allclose(restored[key], value, atol=1e-6)
    # The official 28x28 MNIST net has a 6x6x64 state.
    parts = SDENet.conv_networks((28, 28, 1), num_classes=10)
    assert parts["stem"].output_shape == (None, 6, 6, 64)


# ----------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"num_steps": 0}, "num_steps"),
        ({"num_steps": 2.0}, "num_steps"),
        ({"t_end": 0.0}, "t_end"),
        ({"sigma_train": -1.0}, "sigma_train"),
        ({"sigma_test": float("nan")}, "sigma_test"),
        ({"num_samples": 0}, "num_samples"),
        ({"ood_noise_std": 0.0}, "ood_noise_std"),
        ({"weight_decay": -1e-4}, "weight_decay"),
        ({"sigma_sweep": "5"}, "sigma_sweep"),
        ({"sigma_sweep": (5.0, -1.0)}, "sigma_sweep"),
        ({"sigma_sweep": (5.0, 5)}, "sigma_sweep"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_bad_arguments_raise_before_training(kwargs, name):
    with pytest.raises(ValueError, match=f"^{name} must"):
        helpers.sdenet_mlp(**kwargs)


def test_bad_networks_raise_before_training():
    parts = SDENet.mlp_networks((FEATURES,), CLASSES, width=8)
    with pytest.raises(ValueError, match="^head must be a keras.Model"):
        SDENet(**{**parts, "head": lambda h: h})
    narrow = keras.Sequential([keras.Input((8,)), keras.layers.Dense(5)])
    model = SDENet(**{**parts, "drift": narrow})
    with pytest.raises(ValueError, match="drift must keep the state shape"):
        model.build((None, FEATURES))
    two = keras.Sequential([keras.Input((8,)), keras.layers.Dense(2)])
    model = SDENet(**{**parts, "diffusion": two})
    with pytest.raises(ValueError, match="one logit per sample"):
        model.build((None, FEATURES))
    with pytest.raises(ValueError, match="known sides >= 10"):
        SDENet.conv_networks((8, 8, 1), num_classes=3)


def test_labels_out_of_range_raise_before_training():
    model = helpers.build_sdenet_mlp()
    x, y = _batch()
    for bad in (y + CLASSES, y + 0.5, y - 1):
        with pytest.raises(ValueError, match="^y must be integer class ids"):
            model.fit(x, bad, epochs=1, verbose=0)
    assert int(model.optimizer.iterations) == 0


def test_recipe_rejects_an_unknown_network():
    recipe = get_recipe("sdenet")
    config = recipe.resolve_config({"network": "resnet"}, "two_moons")
    data = recipe.load_data("two_moons", config, seed=0)
    with pytest.raises(ValueError, match="network must be 'mlp' or 'conv'"):
        recipe.build_model(data, config)
