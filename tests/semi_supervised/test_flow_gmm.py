"""FlowGMM and its RealNVP flow against NumPy/SciPy references, the three
TFP gotchas of the method note, bad input and the method contract."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy import special
from scipy import stats

from keras_ssl.layers import RealNVPFlow
from keras_ssl.semi_supervised import FlowGMM
from keras_ssl.semi_supervised.flow_gmm import default_means
from keras_ssl.testing import check_method_contract
from tests.semi_supervised import flowgmm_replica_models as builders


def _flow(dim=2, **kwargs):
    kwargs = {"num_couplings": 3, "hidden_units": (8, 8), **kwargs}
    keras.utils.set_random_seed(0)
    flow = RealNVPFlow(dim, **kwargs)
    flow.build((None, dim))
    # Larger output weights than glorot, so every coupling visibly bends.
    rng = np.random.default_rng(1)
    for network in flow.couplings:
        kernel = network.output_layer.kernel
        kernel.assign(rng.normal(0, 1.0, kernel.shape))
        bias = network.output_layer.bias
        bias.assign(rng.normal(0, 0.5, bias.shape))
        network.log_scale_factor.assign(
            rng.uniform(0.5, 1.5, (dim - dim // 2,))
        )
    return flow


def _points(n=16, dim=2, seed=0):
    return np.random.default_rng(seed).normal(size=(n, dim)).astype("float32")


# ----------------------------------------------------------------------
# The flow: a NumPy reference, invertibility, the log-determinant
# ----------------------------------------------------------------------
def _numpy_flow(flow, x):
    """RealNVP in float64 from the layer's weights: per coupling,
    `z_b = x_b exp(w tanh(raw)) + t` of an MLP of `x_a`, then reverse."""
    x = x.astype("float64")
    log_det = np.zeros(len(x))
    kept = flow.dim // 2
    for i, network in enumerate(flow.couplings):
        if i:
            x = x[:, ::-1]
        h = x[:, :kept]
        for layer in network.hidden:
            h = np.maximum(h @ np.asarray(layer.kernel) + layer.bias, 0)
        out = h @ np.asarray(network.output_layer.kernel)
        out = out + np.asarray(network.output_layer.bias)
        units = flow.dim - kept
        shift, raw = out[:, :units], out[:, units:]
        s = np.asarray(network.log_scale_factor) * np.tanh(raw)
        x = np.concatenate([x[:, :kept], x[:, kept:] * np.exp(s) + shift], 1)
        log_det += s.sum(-1)
    return x, log_det


@pytest.mark.parametrize("dim", [2, 5])
def test_flow_matches_the_numpy_reference_and_inverts(dim):
    flow, x = _flow(dim), _points(dim=dim)
    z, log_det = flow.forward_and_log_det(x)
    z_ref, log_det_ref = _numpy_flow(flow, x)
    np.testing.assert_allclose(z, z_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(log_det, log_det_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(flow(x), z, atol=1e-6)
    assert np.abs(z_ref - x).max() > 0.5  # the flow is not the identity
    assert np.abs(np.asarray(flow.inverse(z)) - x).max() < 1e-4


def test_log_det_matches_a_numerical_jacobian_in_2d():
    flow, x = _flow(2), _points(8)
    _, log_det = flow.forward_and_log_det(x)
    step = 1e-2
    columns = []
    for j in range(2):
        e = np.zeros(2, "float32")
        e[j] = step
        plus = np.asarray(flow(x + e), "float64")
        minus = np.asarray(flow(x - e), "float64")
        columns.append((plus - minus) / (2 * step))
    jacobian = np.stack(columns, axis=-1)  # (n, 2 outputs, 2 inputs)
    numerical = np.log(np.abs(np.linalg.det(jacobian)))
    assert np.abs(numerical).max() > 0.1  # not volume-preserving
    np.testing.assert_allclose(log_det, numerical, atol=2e-3)
    # And exactly against the autodiff Jacobian.
    inputs = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        z = flow(inputs)
    exact = np.linalg.slogdet(tape.batch_jacobian(z, inputs).numpy())[1]
    np.testing.assert_allclose(log_det, exact, atol=1e-5)


def test_coupled_weight_decay_is_l2_on_every_flow_weight():
    flow = _flow(2, weight_decay=0.03)
    model = FlowGMM(flow, num_classes=2, seed=0)
    model(_points(2))
    squares = sum(float(np.sum(np.square(v))) for v in flow.trainable_variables)
    # L2(wd / 2): the gradient of each weight gets wd * w, as torch's
    # coupled Adam(weight_decay=wd).
    np.testing.assert_allclose(
        float(model.regularization_loss()), 0.015 * squares, rtol=1e-5
    )


# ----------------------------------------------------------------------
# The three TFP gotchas of the method note
# ----------------------------------------------------------------------
def test_tfp_does_not_see_keras_variables_but_the_model_does():
    flow = _flow(2)
    assert flow.bijector().trainable_variables == ()
    model = FlowGMM(flow, num_classes=2, seed=0)
    model(_points(2))
    # 3 couplings x (2 hidden + 1 output Dense, kernel and bias, + w).
    assert len(model.trainable_variables) == 3 * 7
    assert {id(v) for v in model.trainable_variables} == {
        id(v) for v in flow.trainable_variables
    }


def _gradients(model, x):
    with tf.GradientTape() as tape:
        losses, _ = model.compute_losses(
            {"labeled": (x[:4], [0, 1, 0, 1]), "unlabeled": x}, training=True
        )
        loss = losses["unlabeled"]
    return tape.gradient(loss, model.trainable_variables)


def test_bijector_cache_kills_gradients_but_not_flowgmm_s():
    flow, x = _flow(2), tf.constant(_points())
    variables = flow.trainable_variables
    # The gotcha, pinned: one bijector reused across the tape boundary
    # returns its cached, untaped result, and no gradient reaches a weight.
    bijector = flow.bijector()
    z = bijector.forward(x)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(bijector.inverse(z)))
    assert all(g is None for g in tape.gradient(loss, variables))
    # FlowGMM builds a new chain per pass: a call outside the tape on the
    # same tensor leaves the unlabeled loss's gradients intact.
    model = FlowGMM(flow, num_classes=2, seed=0)
    model.classify(x)
    model.log_prob(x)
    gradients = _gradients(model, x)
    assert len(gradients) == len(variables)
    assert all(g is not None for g in gradients)
    assert all(float(tf.norm(g)) > 0 for g in gradients)


def test_tfp_batch_normalization_is_keras_2_only_and_the_flow_has_none():
    from tensorflow_probability import bijectors as tfb

    with pytest.raises(ValueError, match="tf_keras"):
        tfb.BatchNormalization(
            batchnorm_layer=keras.layers.BatchNormalization()
        )
    flow = _flow(2)
    layers = [
        layer for net in flow.couplings for layer in net._flatten_layers()
    ]
    assert not any(
        isinstance(layer, keras.layers.BatchNormalization) for layer in layers
    )


# ----------------------------------------------------------------------
# The mixture and the losses, against SciPy
# ----------------------------------------------------------------------
def _class_log_pdfs(z, means, std):
    return np.stack(
        [
            stats.multivariate_normal(mu, std**2 * np.eye(len(mu))).logpdf(z)
            for mu in means
        ],
        axis=-1,
    ).reshape(len(z), len(means))


def test_mixture_log_prob_is_the_logsumexp_of_the_class_log_probs():
    means = [[-1.0, 0.5, 2.0], [0.0, 0.0, 0.0], [3.0, -2.0, 1.0]]
    model = FlowGMM(_flow(3), num_classes=3, means=means, cov_std=1.5)
    z = _points(10, 3, seed=2) * 2
    per_class = _class_log_pdfs(z, np.array(means), 1.5)
    np.testing.assert_allclose(
        model.class_log_probs(tf.constant(z)), per_class, rtol=1e-5
    )
    np.testing.assert_allclose(
        model.prior().log_prob(z),
        special.logsumexp(per_class - np.log(3), axis=-1),
        rtol=1e-5,
    )


@pytest.fixture(scope="module")
def contract_model():
    model = builders.build_flowgmm()
    batch = builders.contract_batch()
    model(batch["labeled"][0])
    return model, batch


def test_losses_match_the_scipy_reference(contract_model):
    model, batch = contract_model
    (x, y), (u1, u2) = batch["labeled"], batch["unlabeled"]
    means, std = np.asarray(model.class_means), model.cov_std

    def reference(inputs):
        z, log_det = (
            np.asarray(t, "float64")
            for t in model.flow.forward_and_log_det(inputs)
        )
        return _class_log_pdfs(z, means, std), log_det

    lab, lab_det = reference(x)
    un, un_det = reference(u1)
    pseudo = reference(u2)[0].argmax(-1)
    labeled = -(lab[np.arange(len(y)), y] + lab_det).mean()
    unlabeled = -(special.logsumexp(un - np.log(3), -1) + un_det).mean()
    consistency = -(un[np.arange(len(pseudo)), pseudo] + un_det).mean()
    for epoch, ramp in ((0, 1 / 3), (1, 2 / 3), (5, 1.0)):
        model.epoch.assign(epoch)
        losses, values = model.compute_losses(batch)
        np.testing.assert_allclose(losses["labeled"], labeled, rtol=1e-5)
        np.testing.assert_allclose(losses["unlabeled"], unlabeled, rtol=1e-5)
        np.testing.assert_allclose(
            losses["consistency"], consistency, rtol=1e-5
        )
        np.testing.assert_allclose(values["consistency_ramp_up"], ramp)
        np.testing.assert_allclose(
            losses["loss"],
            labeled + 0.5 * unlabeled + 1.0 * ramp * consistency,
            rtol=1e-5,
        )
    np.testing.assert_allclose(
        values["accuracy"], np.mean(lab.argmax(-1) == y), atol=1e-6
    )
    model.epoch.assign(0)


def test_consistency_pseudo_labels_come_from_the_second_view(contract_model):
    model, batch = contract_model
    (x, y), (u1, _) = batch["labeled"], batch["unlabeled"]
    other = {"labeled": (x, y), "unlabeled": (u1, u1 * -3.0)}
    same = {"labeled": (x, y), "unlabeled": (u1, u1)}
    first = model.compute_losses(same)[0]["consistency"]
    second = model.compute_losses(other)[0]["consistency"]
    z, log_det = model.flow.forward_and_log_det(u1)
    per_class = np.asarray(model.class_log_probs(z))
    # Same view twice: the NLL under the first view's own argmax class.
    np.testing.assert_allclose(
        first, -(per_class.max(-1) + np.asarray(log_det)).mean(), rtol=1e-5
    )
    assert abs(float(second) - float(first)) > 1e-3


def test_classify_and_log_prob_follow_bayes_rule(contract_model):
    model, batch = contract_model
    x = batch["unlabeled"][0]
    z, log_det = (
        np.asarray(t, "float64") for t in model.flow.forward_and_log_det(x)
    )
    per_class = _class_log_pdfs(z, np.asarray(model.class_means), model.cov_std)
    out = model.classify(x)
    np.testing.assert_allclose(
        out["probs"], special.softmax(per_class, -1), rtol=1e-4, atol=1e-6
    )
    np.testing.assert_array_equal(out["prediction"], per_class.argmax(-1))
    log_px = special.logsumexp(per_class - np.log(3), -1) + log_det
    np.testing.assert_allclose(out["log_prob"], log_px, rtol=1e-5)
    densities = model.log_prob(x)
    np.testing.assert_allclose(densities["log_prob"], log_px, rtol=1e-5)
    np.testing.assert_allclose(
        densities["class_log_prob"], per_class + log_det[:, None], rtol=1e-5
    )
    np.testing.assert_allclose(densities["latent"], z, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model(x), per_class - np.log(3), rtol=1e-5)


def test_sample_draws_each_class_through_the_inverse_flow():
    means = [[-3.5, -3.5], [3.5, 3.5]]
    model = FlowGMM(_flow(2), num_classes=2, means=means, cov_std=0.8)
    for c in (0, 1):
        samples = model.sample(c, 400, seed=5)
        np.testing.assert_array_equal(samples, model.sample(c, 400, seed=5))
        latent = np.asarray(model.flow(samples))
        np.testing.assert_allclose(latent.mean(0), means[c], atol=0.2)
        np.testing.assert_allclose(latent.std(0), [0.8, 0.8], atol=0.1)
        assert (
            np.mean(np.asarray(model.classify(samples)["prediction"]) == c)
            > 0.99
        )
    assert not np.allclose(
        model.sample(0, 4, seed=1), model.sample(0, 4, seed=2)
    )


def test_default_means_follow_the_official_tabular_rule():
    two = default_means(2, 6, seed=0)
    np.testing.assert_allclose(two[1], -two[0])
    np.testing.assert_allclose(np.linalg.norm(two[0] - two[1]), 7.5, rtol=1e-5)
    many = default_means(4, 2000, seed=0)
    np.testing.assert_allclose(many.std(), 0.56, rtol=0.03)
    np.testing.assert_array_equal(
        default_means(4, 5, 1), default_means(4, 5, 1)
    )
    model = FlowGMM(_flow(2), num_classes=2, seed=9)
    np.testing.assert_allclose(model.class_means, default_means(2, 2, 9))
    assert model.get_config()["seed"] == 9 and model.means is None


# ----------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_classes": 1}, "num_classes"),
        ({"cov_std": 0.0}, "cov_std"),
        ({"unlabeled_weight": -1.0}, "unlabeled_weight"),
        ({"consistency_weight": -0.1}, "consistency_weight"),
        ({"consistency_ramp_up": 0}, "consistency_ramp_up"),
        ({"means": [[0.0, 0.0]]}, "means"),
        ({"means": [[0.0, np.nan], [1.0, 1.0]]}, "means"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_arguments(kwargs, message):
    kwargs = {"num_classes": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        FlowGMM(_flow(2), **kwargs)


def test_bad_flow_sample_and_data():
    with pytest.raises(ValueError, match="flow must be"):
        FlowGMM(keras.layers.Dense(2), num_classes=2)
    for kwargs, message in (
        ({"dim": 1}, "dim"),
        ({"dim": 2, "num_couplings": 0}, "num_couplings"),
        ({"dim": 2, "hidden_units": (0,)}, "hidden_units"),
        ({"dim": 2, "weight_decay": -1.0}, "weight_decay"),
        ({"dim": 2, "zero_init": 1}, "zero_init"),
    ):
        with pytest.raises(ValueError, match=message):
            RealNVPFlow(**kwargs)
    model = FlowGMM(_flow(2), num_classes=2, seed=0)
    with pytest.raises(ValueError, match="class_id"):
        model.sample(2, 4)
    with pytest.raises(ValueError, match="n must"):
        model.sample(0, 0)
    model.compile(optimizer="sgd")
    x = _points(8, 3)
    wrong_dim = tf.data.Dataset.from_tensors(
        {"labeled": (x, np.zeros(8, "int32")), "unlabeled": x}
    )
    with pytest.raises(ValueError, match="flat vectors of the flow's dim 2"):
        model.fit(wrong_dim, verbose=0)
    x = _points(8, 2)
    two_views = tf.data.Dataset.from_tensors(
        {"labeled": (x, np.zeros(8, "int32")), "unlabeled": (x, x)}
    )
    with pytest.raises(ValueError, match="1 view"):
        model.fit(two_views, verbose=0)
    with pytest.raises(ValueError, match="set_monitor_data"):
        model.set_monitor_data(_points(4, 3))
    with pytest.raises(ValueError, match="one per row"):
        model.set_monitor_data(x, np.zeros(3))


def test_monitor_logs_the_test_log_likelihood_each_epoch():
    model = FlowGMM(_flow(2), num_classes=2, seed=0)
    model.compile(optimizer=keras.optimizers.SGD(1e-3))
    x, y = _points(16), np.arange(16) % 2
    model.set_monitor_data(x, y, prefix="held_out")
    batch = {"labeled": (x[:4], y[:4].astype("int32")), "unlabeled": x}
    history = model.fit(
        tf.data.Dataset.from_tensors(batch).repeat(),
        epochs=2,
        steps_per_epoch=1,
        verbose=0,
    )
    out = model.classify(x)
    np.testing.assert_allclose(
        history.history["held_out_log_likelihood"][-1],
        np.mean(out["log_prob"]),
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        history.history["held_out_accuracy"][-1],
        np.mean(np.asarray(out["prediction"]) == y),
    )


# ----------------------------------------------------------------------
# The contract: config, .keras, 2 replicas = 1 device, resume, export
# ----------------------------------------------------------------------
def test_method_contract(tmp_path):
    # Two replica epochs: the consistency ramp-up moves between them.
    report = check_method_contract(
        builders.build_flowgmm,
        builders.contract_batch(),
        tmp_path,
        replica_fit_kwargs={"epochs": 2},
    )
    logs = report["replicas"]["logs"]
    assert logs["consistency"][0] > 0 and logs["unlabeled"][0] > 0
    assert report["export"]["endpoints"] == ["classify", "log_prob"]
