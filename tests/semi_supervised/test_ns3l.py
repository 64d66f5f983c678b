import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.backbones._batch_norm import batch_norm
from keras_ssl.semi_supervised import NS3L
from keras_ssl.semi_supervised import StabilityME
from keras_ssl.semi_supervised import negative_sampling_loss
from keras_ssl.testing import check_method_contract
from tests.semi_supervised import ns3l_replica_models as builders
from tests.semi_supervised import test_stability_me as tsme

IN, FEATURES, CLASSES, LABELED, UNLABELED = 4, 5, 3, 6, 10


# ----------------------------------------------------------------------
# The loss against NumPy
# ----------------------------------------------------------------------
def _softmax(z):
    z = np.asarray(z, "float64")
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _negative_sampling(target, logits, threshold):
    """The official `ns3l.py` in NumPy (float64)."""
    negative = np.asarray(target) < threshold
    rest = 1.0 - np.sum(_softmax(logits) * negative, axis=-1)
    return -np.log(np.clip(rest, 1e-8, 1.0))


def test_loss_matches_the_numpy_reference_and_the_threshold_boundary():
    t = np.float32(0.04)
    below = np.nextafter(t, np.float32(0))
    target = np.array(
        [
            [0.5, 0.3, 0.16, t],  # a class exactly at T: not a negative
            [0.5, 0.3, 0.16 + (t - below), below],  # just below: negative
            [0.25, 0.25, 0.25, 0.25],  # no class below T
            [0.9, 0.07, 0.02, 0.01],  # two negatives
            [0.96, 0.02, 0.01, 0.01],  # three negatives
        ],
        "float32",
    )
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, target.shape).astype("float32")
    logits[4] = [0.0, 9.0, 9.0, 9.0]  # most mass on the negatives
    loss = negative_sampling_loss(target, logits, float(t)).numpy()
    expected = _negative_sampling(target, logits, float(t))
    np.testing.assert_allclose(loss, expected, rtol=1e-5, atol=1e-7)
    assert loss[0] == 0.0 and loss[2] == 0.0
    p = _softmax(logits)
    assert loss[1] == pytest.approx(-np.log(1 - p[1, 3]), rel=1e-5)
    assert loss[4] > 5.0  # -log p_0, about 9.7


def test_a_sample_without_negatives_costs_nothing():
    target = np.full((3, 10), 0.1, "float32")
    logits = np.random.default_rng(1).normal(0, 3, (3, 10)).astype("float32")
    np.testing.assert_array_equal(negative_sampling_loss(target, logits), 0.0)


def test_gradients_flow_into_the_logits_only():
    rng = np.random.default_rng(2)
    target_logits = tf.Variable(rng.normal(0, 3, (6, 5)).astype("float32"))
    logits = tf.Variable(rng.normal(0, 1, (6, 5)).astype("float32"))
    with tf.GradientTape(persistent=True) as tape:
        target = tf.nn.softmax(target_logits)
        loss = tf.reduce_sum(negative_sampling_loss(target, logits, 0.1))
    assert tape.gradient(loss, target_logits) is None  # detached
    gradient = tape.gradient(loss, logits).numpy()
    # d/dz_i of -log(sum_{c not in N} p_c) = p_i - [i not in N] p_i / rest.
    negative = target.numpy() < 0.1
    assert negative.any() and not negative.all(axis=1).any()
    p = _softmax(logits.numpy())
    rest = np.sum(p * ~negative, axis=1, keepdims=True)
    np.testing.assert_allclose(
        gradient, p - ~negative * p / rest, rtol=1e-4, atol=1e-6
    )


def test_the_clamp_when_every_class_is_a_negative():
    # T > 1 / K: all classes of a uniform target fall below it; the
    # official clamp gives -log(1e-8) with no gradient, never inf or NaN.
    target = np.full((2, 4), 0.25, "float32")
    logits = tf.Variable(np.array([[0, 1, 2, 3], [5, 0, 0, 0]], "float32"))
    with tf.GradientTape() as tape:
        loss = negative_sampling_loss(target, logits, 0.3)
    np.testing.assert_allclose(loss, -np.log(1e-8), rtol=1e-6)
    np.testing.assert_array_equal(tape.gradient(loss, logits), 0.0)
    # Negatives holding all but 1e-12 of the mass: clamped as well.
    sharp = np.array([[0.0, 30.0, 30.0]], "float32")
    target = np.array([[0.98, 0.01, 0.01]], "float32")
    assert float(negative_sampling_loss(target, sharp)[0]) == pytest.approx(
        -np.log(1e-8), rel=1e-6
    )


@pytest.mark.parametrize("threshold", [0, 1.0, -0.1, float("nan"), "0.1"])
def test_bad_threshold(threshold):
    with pytest.raises(ValueError, match="threshold must be a number"):
        negative_sampling_loss(np.ones((1, 2)), np.ones((1, 2)), threshold)


# ----------------------------------------------------------------------
# NS3L on a fixed batch: a linear encoder with BatchNorm
# ----------------------------------------------------------------------
def _bn_encoder():
    inputs = keras.Input((IN,))
    x = keras.layers.Dense(FEATURES, name="linear")(inputs)
    return keras.Model(inputs, batch_norm(0.9, 1e-5, "bn")(x))


def _fixed_model(**kwargs):
    settings = dict(
        threshold=0.3, weight=2.0, ramp_up_steps=10, dropout=0.0, seed=3
    )
    settings.update(kwargs)
    model = NS3L(_bn_encoder(), CLASSES, **settings)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    model(np.zeros((1, IN), "float32"))
    model.build_optimizers()
    rng = np.random.default_rng(42)
    weights = {
        "A": rng.normal(0, 0.7, (IN, FEATURES)),
        "a": rng.normal(0, 0.1, FEATURES),
        "gamma": rng.uniform(0.5, 1.5, FEATURES),
        "beta": rng.normal(0, 0.1, FEATURES),
        "B": rng.normal(0, 1.5, (FEATURES, CLASSES)),
        "b": rng.normal(0, 0.1, CLASSES),
    }
    linear = model.encoder.get_layer("linear")
    linear.kernel.assign(weights["A"])
    linear.bias.assign(weights["a"])
    bn = model.encoder.get_layer("bn")
    bn.gamma.assign(weights["gamma"])
    bn.beta.assign(weights["beta"])
    model.classifier.kernel.assign(weights["B"])
    model.classifier.bias.assign(weights["b"])
    return model, weights


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(LABELED, IN)).astype("float32")
    u = tuple(rng.normal(size=(UNLABELED, IN)).astype("float32") for _ in "ab")
    y = (np.arange(LABELED) % CLASSES).astype("int32")
    return {"labeled": (x, y), "unlabeled": u}


def _reference(batch, w, step, threshold=0.3, weight=2.0, ramp=10):
    """Both passes with BatchNorm on their own batch's statistics, and the
    moving statistics the target pass alone leaves (momentum 0.9)."""
    (x, y), (u_1, u_2) = batch["labeled"], batch["unlabeled"]

    def logits(v):
        h = v.astype("float64") @ w["A"] + w["a"]
        mean, var = h.mean(0), h.var(0)
        h = w["gamma"] * (h - mean) / np.sqrt(var + 1e-5) + w["beta"]
        return h @ w["B"] + w["b"], mean, var

    target, mean, var = logits(np.concatenate([x, u_1]))
    p_target = _softmax(target[LABELED:])
    ce = -np.log(_softmax(target[:LABELED])[np.arange(LABELED), y])
    prediction = logits(u_2)[0]
    ns = _negative_sampling(p_target, prediction, threshold).mean()
    r = np.exp(-5 * (1 - min(step / ramp, 1)) ** 2)
    return {
        "supervised": ce.mean(),
        "negative_sampling": ns,
        "ramp_up": r,
        "loss": ce.mean() + r * weight * ns,
        "moving_mean": 0.1 * mean,
        "moving_variance": 0.9 + 0.1 * var,
    }


def test_compute_losses_matches_the_reference_and_freezes_batchnorm():
    model, weights = _fixed_model()
    batch = _batch()
    model.optimizer.iterations.assign(5)
    losses, values = model.compute_losses(batch, training=True)
    expected = _reference(batch, weights, 5)
    for key in ("supervised", "negative_sampling", "loss"):
        assert float(losses[key]) == pytest.approx(expected[key], rel=1e-5)
    assert float(values["ramp_up"]) == pytest.approx(expected["ramp_up"])
    assert expected["negative_sampling"] > 1e-2
    # The moving statistics moved by the target pass only.
    bn = model.encoder.get_layer("bn")
    for key in ("moving_mean", "moving_variance"):
        np.testing.assert_allclose(
            getattr(bn, key).numpy(), expected[key], rtol=1e-5, atol=1e-6
        )


def test_the_term_is_non_zero_and_only_the_prediction_pass_has_gradient():
    """USB's Mean Teacher bug class, and the detached target pass."""
    model, _ = _fixed_model()
    (x, y), (u_1, u_2) = _batch()["labeled"], _batch()["unlabeled"]
    u_1, u_2 = tf.Variable(u_1), tf.Variable(u_2)
    with tf.GradientTape(persistent=True) as tape:
        losses, _ = model.compute_losses(
            {"labeled": (x, y), "unlabeled": (u_1, u_2)}, training=True
        )
    term = losses["negative_sampling"]
    assert float(term) > 1e-2
    kernel = model.encoder.get_layer("linear").kernel
    assert float(tf.norm(tape.gradient(term, kernel))) > 1e-4
    assert tape.gradient(term, u_1) is None  # the target pass
    assert float(tf.norm(tape.gradient(term, u_2))) > 1e-4


def test_the_passes_draw_their_own_dropout_masks():
    model, weights = _fixed_model(dropout=0.5)
    batch = _batch()
    same = batch["unlabeled"][0]
    batch["unlabeled"] = (same, same)  # equal views: only dropout differs
    target = model.view_logits(
        {"labeled": [batch["labeled"][0]], "unlabeled": [same]},
        training=True,
        call=0,
    )["unlabeled"][0]
    with keras.StatelessScope():
        prediction = model.view_logits(
            {"unlabeled": [same]}, training=True, call=1
        )["unlabeled"][0]
    assert not np.allclose(target, prediction)
    losses, _ = model.compute_losses(batch, training=True)
    p_target = keras.ops.softmax(target)
    expected = np.mean(_negative_sampling(p_target, prediction, 0.3))
    assert float(losses["negative_sampling"]) == pytest.approx(
        expected, rel=1e-5
    )


# ----------------------------------------------------------------------
# TS + NS3L: StabilityME(negative_sampling_weight=...)
# ----------------------------------------------------------------------
def test_ts_plus_ns3l_adds_the_term_over_ordered_pairs_of_passes():
    model, weights = tsme._fixed_model(
        negative_sampling_weight=1.5, negative_sampling_threshold=0.3
    )
    batch = tsme._batch()
    model.optimizer.iterations.assign(5)
    losses, _ = model.compute_losses(batch, training=True)
    expected = tsme._reference(batch, weights, 5)

    def logits(v):
        return (v.astype("float64") @ weights["A"] + weights["a"]) @ weights[
            "B"
        ] + weights["b"]

    unlabeled = [logits(u) for u in batch["unlabeled"]]
    pairs = [
        _negative_sampling(_softmax(unlabeled[j]), unlabeled[k], 0.3)
        for j in range(3)
        for k in range(3)
        if j != k
    ]
    ns = np.mean(pairs)
    assert ns > 1e-2
    assert float(losses["negative_sampling"]) == pytest.approx(ns, rel=1e-5)
    r = expected["ramp_up"]
    assert float(losses["loss"]) == pytest.approx(
        expected["loss"] + r * 1.5 * ns, rel=1e-5
    )
    # Weight 0 (TS+ME): the term is logged but leaves the loss alone.
    off, _ = tsme._fixed_model(negative_sampling_threshold=0.3)
    off.optimizer.iterations.assign(5)
    losses, _ = off.compute_losses(batch, training=True)
    assert float(losses["negative_sampling"]) == pytest.approx(ns, rel=1e-5)
    assert float(losses["loss"]) == pytest.approx(expected["loss"], rel=1e-5)


# ----------------------------------------------------------------------
# The contract, bad input
# ----------------------------------------------------------------------
def test_method_contract(tmp_path):
    # Two replica epochs of two steps: the ramp-up and the dropout keys
    # move; synchronized BatchNorm in the encoder.
    report = check_method_contract(
        builders.build_ns3l,
        builders.ns3l_batch(),
        tmp_path,
        replica_fit_kwargs={"epochs": 2},
    )
    logs = report["replicas"]["logs"]
    assert logs["negative_sampling"][0] > 1e-3 and logs["ramp_up"][0] < 1.0
    assert report["export"]["endpoints"] == ["classify", "embed"]


def test_bad_fit_data_stops_before_any_step():
    model = builders.build_ns3l()
    good = builders.ns3l_batch()
    two_labeled = {
        "labeled": ((good["labeled"][0],) * 2, good["labeled"][1]),
        "unlabeled": good["unlabeled"],
    }
    one_unlabeled = {**good, "unlabeled": good["unlabeled"][0]}
    cases = [
        (two_labeled, r"needs 1 view\(s\) of each labeled"),
        (one_unlabeled, r"needs 2 view\(s\) of each unlabeled"),
    ]
    for batch, match in cases:
        with pytest.raises(ValueError, match=match):
            model.fit(tf.data.Dataset.from_tensors(batch), verbose=0)
    assert model.optimizer is None or int(model.optimizer.iterations) == 0


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"threshold": 0.0}, "threshold"),
        ({"threshold": 1.0}, "threshold"),
        ({"weight": -1.0}, "weight"),
        ({"weight": float("inf")}, "weight"),
        ({"ramp_up_steps": 2.5}, "ramp_up_steps"),
        ({"dropout": 1.0}, "dropout"),
    ],
)
def test_bad_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        NS3L(_bn_encoder(), CLASSES, **kwargs)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"negative_sampling_weight": -0.5}, "negative_sampling_weight"),
        ({"negative_sampling_threshold": 0}, "negative_sampling_threshold"),
        ({"negative_sampling_threshold": 2}, "negative_sampling_threshold"),
    ],
)
def test_bad_stability_me_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        StabilityME(tsme._linear_encoder(), CLASSES, **kwargs)
