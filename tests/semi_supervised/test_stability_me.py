import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.backbones import small_cnn
from keras_ssl.core import gaussian_ramp_up
from keras_ssl.semi_supervised import StabilityME
from keras_ssl.semi_supervised import Supervised
from keras_ssl.semi_supervised import semi_supervised_classifier as base
from keras_ssl.semi_supervised.stability_me import mutual_exclusivity_loss
from keras_ssl.semi_supervised.stability_me import stability_loss
from keras_ssl.testing import check_method_contract
from tests.semi_supervised import tsme_replica_models as builders

IN, FEATURES, CLASSES, LABELED, UNLABELED = 4, 5, 3, 6, 10


# ----------------------------------------------------------------------
# NumPy references
# ----------------------------------------------------------------------
def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _stability(probs):
    n = len(probs)
    return sum(
        np.sum((probs[j] - probs[k]) ** 2, -1)
        for j in range(n)
        for k in range(j + 1, n)
    )


def _exclusivity(p):
    """-sum_k p_k prod_{l != k} (1 - p_l), literally, in float64."""
    classes = p.shape[-1]
    terms = [
        p[:, k] * np.prod(np.delete(1 - p, k, axis=1), axis=1)
        for k in range(classes)
    ]
    return -np.sum(terms, axis=0)


def test_losses_match_the_numpy_reference():
    rng = np.random.default_rng(0)
    logits = [rng.normal(0, 2, (7, 4)) for _ in range(3)]
    probs = [_softmax(z) for z in logits]
    np.testing.assert_allclose(
        stability_loss([tf.constant(p, "float32") for p in probs]),
        _stability(probs),
        rtol=1e-5,
    )
    for z, p in zip(logits, probs, strict=True):
        np.testing.assert_allclose(
            mutual_exclusivity_loss(tf.constant(z, "float32")),
            _exclusivity(p),
            rtol=1e-5,
        )


def test_two_pass_stability_is_the_pi_model_mse_times_classes():
    rng = np.random.default_rng(1)
    p, q = (_softmax(rng.normal(size=(5, 6))) for _ in range(2))
    mse = np.mean((p - q) ** 2, axis=-1)
    np.testing.assert_allclose(stability_loss([p, q]), 6 * mse, rtol=1e-6)
    with pytest.raises(ValueError, match=">= 2 passes"):
        stability_loss([p])


def test_stop_gradient_target_detaches_the_first_pass():
    p = tf.Variable(_softmax(np.eye(3)))
    q = tf.Variable(_softmax(np.ones((3, 3))))
    for detach, first_has_gradient in ((False, True), (True, False)):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(stability_loss([p, q], detach))
        grad_p, grad_q = tape.gradient(loss, [p, q])
        assert (grad_p is not None) == first_has_gradient
        assert float(tf.norm(grad_q)) > 0


def test_exclusivity_is_minimal_at_one_hot_and_exact_in_log_space():
    # A margin of 40 makes p round to exactly 1 in float32, where a naive
    # log(1 - p) is -inf; the log-space loss is still exact and its
    # gradient finite. 100 classes: the product runs over 99 factors.
    classes = 100
    logits = np.zeros((3, classes), "float32")
    logits[0, 0] = 40.0  # one-hot up to float32
    logits[1, :] = np.linspace(0, 3, classes)
    logits[2, :2] = 5.0  # two classes tie
    z = tf.Variable(logits)
    with tf.GradientTape() as tape:
        loss = mutual_exclusivity_loss(z)
        total = tf.reduce_sum(loss)
    gradient = tape.gradient(total, z)
    reference = _exclusivity(_softmax(logits.astype("float64")))
    # float32 sums of 99 logs: relative error ~1e-5.
    np.testing.assert_allclose(loss, reference, rtol=1e-4)
    assert float(loss[0]) == pytest.approx(-1.0, abs=1e-6)
    assert np.all(loss.numpy()[1:] > -1.0 + 1e-3)
    assert np.all(np.isfinite(gradient.numpy()))


# ----------------------------------------------------------------------
# The full loss on a fixed batch
# ----------------------------------------------------------------------
def _linear_encoder():
    inputs = keras.Input((IN,))
    return keras.Model(
        inputs, keras.layers.Dense(FEATURES, name="linear")(inputs)
    )


def _fixed_model(**kwargs):
    settings = dict(
        num_passes=3,
        mutual_exclusivity_weight=0.4,
        stability_weight=2.0,
        ramp_up_steps=10,
        dropout=0.0,
        seed=3,
    )
    settings.update(kwargs)
    model = StabilityME(_linear_encoder(), CLASSES, **settings)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    model(np.zeros((1, IN), "float32"))
    model.build_optimizers()
    rng = np.random.default_rng(42)
    weights = {
        "A": rng.normal(0, 0.7, (IN, FEATURES)),
        "a": rng.normal(0, 0.1, FEATURES),
        "B": rng.normal(0, 0.7, (FEATURES, CLASSES)),
        "b": rng.normal(0, 0.1, CLASSES),
    }
    linear = model.encoder.get_layer("linear")
    linear.kernel.assign(weights["A"])
    linear.bias.assign(weights["a"])
    model.classifier.kernel.assign(weights["B"])
    model.classifier.bias.assign(weights["b"])
    return model, weights


def _batch(passes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = tuple(
        rng.normal(size=(LABELED, IN)).astype("float32") for _ in range(passes)
    )
    u = tuple(
        rng.normal(size=(UNLABELED, IN)).astype("float32")
        for _ in range(passes)
    )
    y = (np.arange(LABELED) % CLASSES).astype("int32")
    return {"labeled": (x, y), "unlabeled": u}


def _reference(batch, w, step, passes=3, ts=2.0, me=0.4, ramp=10):
    (x, y), u = batch["labeled"], batch["unlabeled"]

    def logits(v):
        return (v.astype("float64") @ w["A"] + w["a"]) @ w["B"] + w["b"]

    lab = [logits(v) for v in x]
    ce = np.mean(
        [-np.log(_softmax(z)[np.arange(len(y)), y]) for z in lab], axis=0
    )
    passes = [
        _softmax(np.concatenate([logits(a), logits(b)]))
        for a, b in zip(x, u, strict=True)
    ]
    stability = np.mean(_stability(passes))
    exclusivity = np.mean(np.sum([_exclusivity(p) for p in passes], axis=0))
    r = np.exp(-5 * (1 - min(step / ramp, 1)) ** 2)
    return {
        "supervised": ce.mean(),
        "stability": stability,
        "mutual_exclusivity": exclusivity,
        "ramp_up": r,
        "loss": ce.mean() + r * (ts * stability + me * exclusivity),
    }


@pytest.mark.parametrize("step", [0, 5, 12])
def test_compute_losses_matches_the_reference_at_a_known_step(step):
    model, weights = _fixed_model()
    batch = _batch()
    model.optimizer.iterations.assign(step)
    losses, values = model.compute_losses(batch, training=True)
    expected = _reference(batch, weights, step)
    for key in ("supervised", "stability", "mutual_exclusivity", "loss"):
        assert float(losses[key]) == pytest.approx(expected[key], rel=1e-5)
    assert float(values["ramp_up"]) == pytest.approx(
        expected["ramp_up"], rel=1e-6
    )
    assert expected["stability"] > 1e-3  # the views differ


def test_unsupervised_terms_are_non_zero_with_gradients():
    """USB's Mean Teacher bug class: a term that is 0 or cut off."""
    model, _ = _fixed_model()
    model.optimizer.iterations.assign(10)
    with tf.GradientTape(persistent=True) as tape:
        losses, _ = model.compute_losses(_batch(), training=True)
    kernel = model.encoder.get_layer("linear").kernel
    for term in ("stability", "mutual_exclusivity"):
        assert abs(float(losses[term])) > 1e-3
        gradient = tape.gradient(losses[term], kernel)
        assert gradient is not None and float(tf.norm(gradient)) > 1e-4


def test_dropout_masks_differ_by_pass_and_step_and_repeat_by_key():
    model, _ = _fixed_model(dropout=0.5)
    same = np.ones((LABELED, IN), "float32")
    views = {"labeled": [same, same], "unlabeled": [same[:4]]}
    first = model.view_logits(views, training=True)
    again = model.view_logits(views, training=True)
    for a, b in zip(first["labeled"], again["labeled"], strict=True):
        np.testing.assert_array_equal(a, b)  # same step, same masks
    assert not np.allclose(first["labeled"][0], first["labeled"][1])
    model.optimizer.iterations.assign(1)
    later = model.view_logits(views, training=True)
    assert not np.allclose(later["labeled"][0], first["labeled"][0])
    other_call = model.view_logits(views, training=True, call=1)
    assert not np.allclose(other_call["labeled"][0], later["labeled"][0])
    inference = model.view_logits(views, training=False)
    np.testing.assert_allclose(
        inference["labeled"][0], model(same), rtol=1e-6, atol=1e-6
    )
    # Dropout without training mode: the same masks as in training mode.
    perturbed = model.view_logits(views, training=False, dropout=True)
    np.testing.assert_array_equal(perturbed["labeled"][0], later["labeled"][0])


def test_replica_consistent_dropout_scales_kept_units():
    features = tf.ones((400, 50))
    key = tf.constant([1, 2], tf.int64)
    out = base._replica_consistent_dropout(features, 0.3, key).numpy()
    np.testing.assert_allclose(np.unique(out), [0.0, 1 / 0.7], rtol=1e-6)
    assert np.mean(out > 0) == pytest.approx(0.7, abs=0.01)
    again = base._replica_consistent_dropout(features, 0.3, key).numpy()
    np.testing.assert_array_equal(out, again)


def test_ramp_up_continues_after_a_resume(tmp_path):
    """Epoch logs of the ramp-up equal exp(-5 (1 - t)^2) at the true step,
    also in the epochs after a BackupAndRestore resume."""

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                raise RuntimeError("interrupted")

    dataset = tf.data.Dataset.from_tensors(_batch()).repeat()
    backup = keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    options = dict(epochs=3, steps_per_epoch=2, verbose=0)
    model, _ = _fixed_model()
    with pytest.raises(RuntimeError, match="interrupted"):
        model.fit(dataset, callbacks=[backup, Interrupt()], **options)
    resumed, _ = _fixed_model()
    history = resumed.fit(dataset, callbacks=[backup], **options)
    assert history.epoch == [1, 2]
    assert int(resumed.optimizer.iterations) == 6
    for epoch, logged in zip(
        history.epoch, history.history["ramp_up"], strict=True
    ):
        steps = np.array([2 * epoch, 2 * epoch + 1])
        expected = np.mean(np.exp(-5 * (1 - steps / 10) ** 2))
        assert logged == pytest.approx(expected, rel=1e-6)


def test_gaussian_ramp_up_values():
    for step, expected in ((0, np.exp(-5)), (25, np.exp(-5 * 0.75**2))):
        assert float(gaussian_ramp_up(step, 100)) == pytest.approx(expected)
    assert float(gaussian_ramp_up(100, 100)) == 1.0
    assert float(gaussian_ramp_up(tf.constant(500, tf.int64), 100)) == 1.0
    assert float(gaussian_ramp_up(0, 0)) == 1.0
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="length"):
            gaussian_ramp_up(3, bad)


# ----------------------------------------------------------------------
# The contract, bad input, the supervised control
# ----------------------------------------------------------------------
def test_method_contract(tmp_path):
    # Two replica epochs of two steps: the ramp-up and the dropout keys
    # move from step to step.
    report = check_method_contract(
        builders.build_tsme,
        builders.contract_batch(),
        tmp_path,
        replica_fit_kwargs={"epochs": 2},
    )
    logs = report["replicas"]["logs"]
    assert logs["stability"][0] > 1e-4 and logs["ramp_up"][0] < 1.0
    assert report["export"]["endpoints"] == ["classify", "embed"]


def test_supervised_control_contract_and_loss(tmp_path):
    # The control is saved and reloaded in every run directory; the shared
    # pieces (view_logits, dropout, classify) are proven on 2 replicas,
    # on resume and in a fresh process by StabilityME's contract above.
    check_method_contract(
        builders.build_supervised,
        builders.contract_batch(passes=1),
        tmp_path,
        checks=("config", "keras"),
    )
    model, weights = _fixed_model()
    control = Supervised(_linear_encoder(), CLASSES, dropout=0.0, seed=3)
    control(np.zeros((1, IN), "float32"))
    control.set_weights(model.get_weights())
    batch = _batch(passes=2)
    losses, values = control.compute_losses(batch, training=True)
    expected = _reference(batch, weights, 0, passes=2)["supervised"]
    assert float(losses["loss"]) == pytest.approx(expected, rel=1e-5)
    assert 0.0 <= float(values["accuracy"]) <= 1.0


def _dataset(batch):
    return tf.data.Dataset.from_tensors(batch)


def test_bad_fit_data_stops_before_any_step():
    model = builders.build_tsme()
    batch = builders.contract_batch()
    one_view = builders.contract_batch(passes=1)
    wrong_shape = {
        "labeled": batch["labeled"],
        "unlabeled": tuple(np.zeros((4, 16, 16, 1), "float32") for _ in "ab"),
    }
    cases = [
        ((batch["labeled"][0][0], batch["labeled"][1]), "tf.data.Dataset"),
        (_dataset(batch["labeled"]), "batches"),
        (_dataset(one_view), r"needs 2 view\(s\) of each labeled"),
        (_dataset(wrong_shape), r"unlabeled inputs must have .*\(8, 8, 1\)"),
    ]
    # An encoder that takes any image size still gets one shape.
    any_size = StabilityME(
        small_cnn((None, None, 1), preset="narrow"), num_classes=3
    )
    with pytest.raises(ValueError, match=r"labeled inputs' shape \(8, 8, 1\)"):
        any_size.fit(_dataset(wrong_shape), verbose=0)
    for data, match in cases:
        with pytest.raises(ValueError, match=match):
            if isinstance(data, tuple):
                model.fit(*data, verbose=0)
            else:
                model.fit(data, verbose=0)
    assert model.optimizer is None or int(model.optimizer.iterations) == 0


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"num_passes": 1}, "num_passes"),
        ({"stability_weight": -1.0}, "stability_weight"),
        ({"mutual_exclusivity_weight": float("nan")}, "mutual_exclusivity"),
        ({"ramp_up_steps": 2.5}, "ramp_up_steps"),
        ({"stop_gradient_target": "yes"}, "stop_gradient_target"),
        ({"dropout": 1.0}, "dropout"),
        ({"seed": -1}, "seed"),
        ({"num_classes": 1}, "num_classes"),
    ],
)
def test_bad_arguments(kwargs, argument):
    kwargs = {"num_classes": CLASSES, **kwargs}
    with pytest.raises(ValueError, match=argument):
        StabilityME(_linear_encoder(), **kwargs)


def test_seed_is_drawn_once_and_kept_in_the_config():
    keras.utils.set_random_seed(11)
    first = StabilityME(_linear_encoder(), CLASSES)
    keras.utils.set_random_seed(11)
    second = StabilityME(_linear_encoder(), CLASSES)
    assert first.seed == second.seed
    assert StabilityME.from_config(first.get_config()).seed == first.seed
