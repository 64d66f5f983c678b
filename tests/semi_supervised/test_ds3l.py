import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.backbones import mlp
from keras_ssl.backbones import small_cnn
from keras_ssl.semi_supervised import DS3L
from keras_ssl.semi_supervised import ds3l as ds3l_module
from keras_ssl.semi_supervised.ds3l import consistency_cost
from keras_ssl.semi_supervised.ds3l import weighted_consistency
from keras_ssl.testing import check_method_contract
from tests.semi_supervised import ds3l_replica_models as builders

IN, FEATURES, CLASSES, LABELED, UNLABELED = 4, 5, 3, 6, 10


# ----------------------------------------------------------------------
# NumPy references
# ----------------------------------------------------------------------
def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def test_cost_and_weighted_consistency_match_numpy():
    rng = np.random.default_rng(0)
    p, q = (_softmax(rng.normal(0, 2, (7, 4))) for _ in range(2))
    w = rng.uniform(0, 1, 7)
    cost = np.mean((q - p) ** 2, axis=-1)
    np.testing.assert_allclose(consistency_cost(p, q), cost, rtol=1e-6)
    f32 = [tf.constant(a, "float32") for a in (w, cost)]
    assert float(weighted_consistency(*f32)) == pytest.approx(
        np.sum(w * cost) / np.sum(w), rel=1e-6
    )
    assert float(weighted_consistency(*f32, normalize=False)) == pytest.approx(
        np.mean(w * cost), rel=1e-6
    )
    # All weights 0: the official code skips the division (no NaN).
    zero = weighted_consistency(tf.zeros(7), f32[1])
    assert float(zero) == 0.0


def test_consistency_cost_detaches_the_target():
    p = tf.Variable(_softmax(np.eye(3)))
    q = tf.Variable(_softmax(np.ones((3, 3))))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(consistency_cost(p, q))
    grad_p, grad_q = tape.gradient(loss, [p, q])
    assert grad_p is None and float(tf.norm(grad_q)) > 0


# ----------------------------------------------------------------------
# A tiny model with known weights
# ----------------------------------------------------------------------
def _linear_encoder(activation=None):
    inputs = keras.Input((IN,))
    layer = keras.layers.Dense(FEATURES, activation, name="linear")
    return keras.Model(inputs, layer(inputs))


def _tiny_model(smooth=False, **kwargs):
    """DS3L on a linear encoder; `smooth`: tanh everywhere (for finite
    differences), else the default ReLU/sigmoid weight network."""
    settings = dict(
        consistency_weight=5.0,
        ramp_up_steps=10,
        meta_lr=0.5,
        dropout=0.0,
        seed=3,
    )
    settings.update(kwargs)
    if smooth:
        settings["weight_net"] = mlp(
            (CLASSES,), (8, 1), "tanh", "sigmoid", name="weight_net"
        )
    model = DS3L(
        _linear_encoder("tanh" if smooth else None), CLASSES, **settings
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        weight_optimizer=keras.optimizers.SGD(0.1),
    )
    model(np.zeros((1, IN), "float32"))
    model.build_optimizers()
    rng = np.random.default_rng(42)
    for variable in model.trainable_variables:
        variable.assign(rng.normal(0, 0.7, variable.shape))
    return model


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(LABELED, IN)).astype("float32")
    u = tuple(rng.normal(size=(UNLABELED, IN)).astype("float32") for _ in "ab")
    y = (np.arange(LABELED) % CLASSES).astype("int32")
    return {"labeled": (x, y), "unlabeled": u}


def _reference(model, batch, step, normalize=True):
    """The DS3L loss of `model` (linear encoder, default weight net, no
    dropout) on `batch`, in float64."""
    (x, y), (u_1, u_2) = batch["labeled"], batch["unlabeled"]
    a, b = (v.numpy() for v in model.encoder.get_layer("linear").weights)
    kernel, bias = model.classifier.kernel.numpy(), model.classifier.bias
    w_1, b_1, w_2, b_2 = (v.numpy() for v in model.weight_net.weights)

    def logits(v):
        return (v.astype("float64") @ a + b) @ kernel + bias.numpy()

    ce = -np.log(_softmax(logits(x))[np.arange(len(y)), y])
    p_1, p_2 = _softmax(logits(u_1)), _softmax(logits(u_2))
    cost = np.mean((p_2 - p_1) ** 2, axis=-1)
    weights = _sigmoid(np.maximum(p_1 @ w_1 + b_1, 0) @ w_2 + b_2)[:, 0]
    if normalize:
        weighted = np.sum(weights * cost) / np.sum(weights)
    else:
        weighted = np.mean(weights * cost)
    ramp = np.exp(-5 * (1 - min(step / 10, 1)) ** 2)
    return {
        "supervised": ce.mean(),
        "consistency": cost.mean(),
        "weighted_consistency": weighted,
        "weight": weights.mean(),
        # The official scale of the cross-entropy: its mean over the
        # concatenated batch, unlabeled rows counting 0.
        "loss": LABELED / (LABELED + UNLABELED) * ce.mean()
        + 5.0 * ramp * weighted,
    }


@pytest.mark.parametrize("normalize, step", [(True, 0), (True, 6), (False, 6)])
def test_losses_match_the_numpy_reference(normalize, step):
    model = _tiny_model(normalize_weights=normalize)
    model.optimizer.iterations.assign(step)
    batch = _batch()
    losses, values = model.compute_losses(batch, training=True)
    expected = _reference(model, batch, step, normalize)
    for key, value in expected.items():
        assert float(losses[key]) == pytest.approx(value, rel=1e-5), key
    assert expected["consistency"] > 1e-3  # the two views differ
    assert 0 <= float(values["accuracy"]) <= 1


def test_virtual_step_is_one_sgd_step_of_the_virtual_loss():
    """theta' from the stateless evaluation = theta - meta_lr * the
    gradient of the same loss computed on the real (stateful) model."""
    model = _tiny_model(dropout=0.4)
    model.optimizer.iterations.assign(7)
    batch = _batch()
    variables = model.classifier_variables()
    with tf.GradientTape() as tape:
        losses, _ = model.step_losses(
            batch, ds3l_module._VIRTUAL, True, weights_fixed=False
        )
    gradients = tape.gradient(losses["loss"], variables)
    fast, virtual = model.virtual_step(batch)
    assert float(virtual["loss"]) == pytest.approx(float(losses["loss"]))
    for v, g, f in zip(variables, gradients, fast, strict=True):
        np.testing.assert_allclose(f, v.numpy() - 0.5 * g.numpy(), atol=1e-6)
    # The weight network's input is not detached in the virtual loss (as
    # in the official code), so its gradient reaches the classifier too:
    # with the weights fixed the gradient differs.
    with tf.GradientTape() as tape:
        fixed, _ = model.step_losses(
            batch, ds3l_module._VIRTUAL, True, weights_fixed=True
        )
    other = tape.gradient(fixed["loss"], variables)
    assert not np.allclose(other[-2], gradients[-2], atol=1e-6)


def test_meta_loss_is_the_labeled_loss_of_a_real_copy_at_theta_prime():
    model = _tiny_model(dropout=0.4)
    batch = _batch()
    fast, _ = model.virtual_step(batch)
    meta = float(model.meta_loss(batch))
    copy = _tiny_model(dropout=0.4)
    for variable, value in zip(copy.classifier_variables(), fast, strict=True):
        variable.assign(value)
    logits = copy.view_logits(
        {"labeled": [batch["labeled"][0]]}, True, call=ds3l_module._META
    )
    expected, _ = copy.supervised_loss(logits["labeled"], batch["labeled"][1])
    assert meta == pytest.approx(float(expected), rel=1e-6)


def test_meta_gradient_is_non_zero_and_matches_finite_differences():
    # Smooth activations (tanh) and dropout on: the masks are keyed by
    # the step, so every evaluation below draws the same ones.
    model = _tiny_model(smooth=True, dropout=0.3, ramp_up_steps=0)
    batch = _batch()
    variables = model.weight_net.trainable_variables
    with tf.GradientTape() as tape:
        meta = model.meta_loss(batch)
    gradients = tape.gradient(meta, variables)
    assert all(g is not None for g in gradients)
    norm = np.sqrt(sum(float(tf.reduce_sum(g**2)) for g in gradients))
    assert norm > 1e-3
    rng = np.random.default_rng(1)
    direction = [rng.normal(size=v.shape).astype("float32") for v in variables]
    analytic = sum(
        float(tf.reduce_sum(g * d))
        for g, d in zip(gradients, direction, strict=True)
    )
    start = [v.numpy() for v in variables]
    eps = 1e-2
    values = []
    for sign in (1, -1):
        for v, s, d in zip(variables, start, direction, strict=True):
            v.assign(s + sign * eps * d)
        values.append(float(model.meta_loss(batch)))
    numeric = (values[0] - values[1]) / (2 * eps)
    assert abs(analytic) > 1e-3
    assert numeric == pytest.approx(analytic, rel=0.02)


def test_virtual_step_leaves_the_real_weights_untouched():
    """Also BatchNorm statistics: the virtual passes run in training mode
    inside a StatelessScope, whose updates are discarded."""
    model = DS3L(small_cnn((8, 8, 1), preset="narrow"), CLASSES, seed=1)
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        weight_optimizer=keras.optimizers.SGD(1.0),
    )
    batch = builders.ds3l_batch()
    model(batch["labeled"][0][:1])
    model.build_optimizers()
    before = [v.numpy() for v in model.weights]
    with tf.GradientTape() as tape:
        meta = model.meta_loss(batch)
    gradients = tape.gradient(meta, model.weight_net.trainable_variables)
    assert all(g is not None for g in gradients)
    for variable, value in zip(model.weights, before, strict=True):
        np.testing.assert_array_equal(variable.numpy(), value, variable.path)
    # A training step: the weight network and the classifier move, and so
    # do the BatchNorm statistics (once, by the real pass).
    model.train_step(batch)
    changed = {
        id(v)
        for v, value in zip(model.weights, before, strict=True)
        if not np.array_equal(v.numpy(), value)
    }
    parts = {
        "weight net": model.weight_net.weights,
        "classifier": model.classifier.weights,
        "BatchNorm statistics": [
            v for v in model.encoder.non_trainable_weights if "moving" in v.path
        ],
    }
    for part, variables in parts.items():
        assert variables and {id(v) for v in variables} <= changed, part


def test_the_real_step_uses_the_updated_weight_network():
    model = _tiny_model()
    model.optimizer.iterations.assign(6)
    batch = _batch()
    classifier = [v.numpy() for v in model.classifier_variables()]
    weight_net = [v.numpy() for v in model.weight_net.weights]
    logs = model.train_step(batch)
    moved = [v.numpy() for v in model.weight_net.weights]
    assert (
        max(np.abs(a - b).max() for a, b in zip(moved, weight_net, strict=True))
        > 0
    )
    # The logged real loss: the old classifier with the new weight net,
    # at the step before the update.
    for variable, value in zip(
        model.classifier_variables(), classifier, strict=True
    ):
        variable.assign(value)
    model.optimizer.iterations.assign(6)
    expected = _reference(model, batch, 6)
    for key in ("loss", "weighted_consistency", "weight", "supervised"):
        assert float(logs[key]) == pytest.approx(expected[key], rel=1e-5)
    # No gradient of the real loss reaches the weight network.
    with tf.GradientTape() as tape:
        losses, _ = model.compute_losses(batch, training=True)
    assert all(
        g is None
        for g in tape.gradient(
            losses["loss"], model.weight_net.trainable_variables
        )
    )


# ----------------------------------------------------------------------
# The contract, bad input
# ----------------------------------------------------------------------
def test_method_contract(tmp_path):
    # Two replica epochs of two steps: the ramp-up, the dropout keys and
    # both optimizers' state move from step to step.
    report = check_method_contract(
        builders.build_ds3l,
        builders.ds3l_batch(),
        tmp_path,
        replica_fit_kwargs={"epochs": 2},
    )
    logs = report["replicas"]["logs"]
    assert logs["weighted_consistency"][0] > 1e-4 and logs["meta"][0] > 0
    assert set(report["keras"]["optimizers"]) == {
        "optimizer",
        "weight_optimizer",
    }
    assert report["export"]["endpoints"] == ["classify"]


def test_the_contract_model_moves_its_weight_network():
    """What makes the contract's replica and resume checks see the
    meta-gradient: two steps move the weight network by far more than
    the replica tolerance (1e-5). Seeded: over initialisations the
    move ranges from about 1e-3 to 3e-2 (measured on 4 seeds)."""
    keras.utils.set_random_seed(0)
    model = builders.build_ds3l()
    batch = builders.ds3l_batch()
    model(batch["labeled"][0][:1])
    before = [v.numpy() for v in model.weight_net.weights]
    dataset = tf.data.Dataset.from_tensors(batch).repeat()
    model.fit(dataset, epochs=1, steps_per_epoch=2, verbose=0)
    change = max(
        np.abs(v.numpy() - b).max()
        for v, b in zip(model.weight_net.weights, before, strict=True)
    )
    assert change > 1e-3
    assert int(model.weight_optimizer.iterations) == 2


def _dataset(batch):
    return tf.data.Dataset.from_tensors(batch)


def test_bad_fit_data_and_compile_stop_before_any_step():
    model = builders.build_ds3l()
    batch = builders.ds3l_batch()
    two_labeled = {
        "labeled": ((batch["labeled"][0],) * 2, batch["labeled"][1]),
        "unlabeled": batch["unlabeled"],
    }
    one_unlabeled = {**batch, "unlabeled": batch["unlabeled"][0]}
    for data, match in (
        (two_labeled, r"needs 1 view\(s\) of each labeled"),
        (one_unlabeled, r"needs 2 view\(s\) of each unlabeled"),
    ):
        with pytest.raises(ValueError, match=match):
            model.fit(_dataset(data), verbose=0)
    assert int(model.optimizer.iterations) == 0
    fresh = DS3L(_linear_encoder(), CLASSES)
    with pytest.raises(ValueError, match="weight_optimizer"):
        fresh.compile(optimizer="sgd")


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"consistency_weight": -1.0}, "consistency_weight"),
        ({"ramp_up_steps": 2.5}, "ramp_up_steps"),
        ({"meta_lr": 0.0}, "meta_lr"),
        ({"normalize_weights": "yes"}, "normalize_weights"),
        ({"weight_net": keras.layers.Dense(1)}, "weight_net"),
        ({"weight_net": mlp((CLASSES,), (4, 2))}, r"weight_net.*\(batch, 1\)"),
        ({"weight_net": mlp((CLASSES + 1,), (4, 1))}, "weight_net must take"),
        ({"dropout": 1.0}, "dropout"),
        ({"num_classes": 1}, "num_classes"),
    ],
)
def test_bad_arguments(kwargs, argument):
    kwargs = {"num_classes": CLASSES, **kwargs}
    with pytest.raises(ValueError, match=argument):
        DS3L(_linear_encoder(), **kwargs)
