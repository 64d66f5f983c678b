import math

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from scipy import special
from scipy import stats

from keras_ssl import backbones
from keras_ssl import evaluation
from keras_ssl.recipes import get_recipe
from keras_ssl.testing import check_method_contract
from keras_ssl.uncertainty import BeliefMatching
from keras_ssl.uncertainty import SoftmaxClassifier
from keras_ssl.uncertainty.belief_matching import SCORES
from keras_ssl.uncertainty.belief_matching import belief_matching_terms
from tests.uncertainty import belief_matching_replica_models

K, BATCH = 5, 8


def _identity_model(**kwargs):
    """Belief Matching whose logits are its inputs (identity encoder and
    head), so every output is a function of logits the test chooses."""
    inputs = keras.Input((K,))
    encoder = keras.Model(inputs, keras.layers.Identity()(inputs))
    model = BeliefMatching(encoder, K, **kwargs)
    model.build((None, K))
    model.classifier.kernel.assign(np.eye(K))
    model.classifier.bias.assign(np.zeros(K))
    return model


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 1.5, (BATCH, K)).astype("float32")
    labels = (np.arange(BATCH) % K).astype("int32")
    return logits, labels


def _reference_terms(logits, targets, prior):
    """The official loss terms in float64 (scipy), per example."""
    alpha = np.exp(logits.astype("float64"))
    alpha_0 = alpha.sum(-1)
    log_likelihood = (targets * special.digamma(alpha)).sum(-1) - (
        special.digamma(alpha_0)
    )
    kl = (
        special.gammaln(alpha_0)
        - special.gammaln(alpha).sum(-1)
        + (
            (alpha - prior)
            * (special.digamma(alpha) - special.digamma(alpha_0)[:, None])
        ).sum(-1)
    )
    return kl, log_likelihood


@pytest.mark.parametrize("prior, kl_weight", [(1.0, 0.01), (2.5, 0.3)])
def test_loss_terms_match_the_scipy_reference(prior, kl_weight):
    model = _identity_model(prior=prior, kl_weight=kl_weight)
    logits, labels = _batch()
    np.testing.assert_array_equal(model(logits), logits)
    kl, log_likelihood = _reference_terms(logits, np.eye(K)[labels], prior)
    losses, values = model.compute_losses((logits, labels), training=True)
    assert float(losses["kl"]) == pytest.approx(kl.mean(), rel=1e-5)
    assert float(losses["expected_nll"]) == pytest.approx(
        -log_likelihood.mean(), rel=1e-5
    )
    expected = np.mean(kl_weight * kl - log_likelihood)
    assert float(losses["loss"]) == pytest.approx(expected, rel=1e-5)
    accuracy = np.mean(logits.argmax(-1) == labels)
    assert float(values["accuracy"]) == pytest.approx(accuracy)


def test_soft_targets_and_sample_weights_match_the_reference():
    model = _identity_model(kl_weight=0.2)
    logits, labels = _batch(1)
    # Label smoothing: the official semi-supervised form sum_k t_k psi(a_k).
    targets = (0.9 * np.eye(K)[labels] + 0.1 / K).astype("float32")
    weights = np.linspace(0.0, 2.0, BATCH).astype("float32")
    kl, log_likelihood = _reference_terms(logits, targets, 1.0)
    losses, _ = model.compute_losses((logits, targets, weights), training=True)
    expected = np.mean(weights * (0.2 * kl - log_likelihood))
    assert float(losses["loss"]) == pytest.approx(expected, rel=1e-5)
    assert float(losses["kl"]) == pytest.approx(np.mean(weights * kl), rel=1e-5)
    # One-hot soft targets are the class ids.
    hard, _ = model.compute_losses((logits, labels), training=True)
    one_hot, _ = model.compute_losses(
        (logits, np.eye(K, dtype="float32")[labels]), training=True
    )
    for name in ("loss", "kl", "expected_nll"):
        assert float(one_hot[name]) == pytest.approx(float(hard[name]))


def test_official_kl_is_the_tfp_kl_plus_log_gamma_k():
    logits, labels = _batch(2)
    kl, _ = belief_matching_terms(logits, np.eye(K)[labels], 1.0)
    distributions = tfp.distributions
    full = distributions.kl_divergence(
        distributions.Dirichlet(np.exp(logits)),
        distributions.Dirichlet(np.ones((BATCH, K), "float32")),
    )
    np.testing.assert_allclose(
        np.asarray(full) - np.asarray(kl), -math.lgamma(K), atol=1e-4
    )
    # The same for the whole loss (kl_weight 1): -lnGamma(5) = -3.178.
    model = _identity_model(kl_weight=1.0)
    losses, _ = model.compute_losses((logits, labels), training=True)
    _, log_likelihood = _reference_terms(logits, np.eye(K)[labels], 1.0)
    tfp_loss = np.mean(np.asarray(full) - log_likelihood)
    assert tfp_loss - float(losses["loss"]) == pytest.approx(-3.17805, abs=1e-4)
    # With another prior the dropped terms are K lnG(b) - lnG(K b).
    kl_prior, _ = belief_matching_terms(logits, np.eye(K)[labels], 2.5)
    full_prior = distributions.kl_divergence(
        distributions.Dirichlet(np.exp(logits)),
        distributions.Dirichlet(np.full((BATCH, K), 2.5, "float32")),
    )
    dropped = K * math.lgamma(2.5) - math.lgamma(K * 2.5)
    np.testing.assert_allclose(
        np.asarray(full_prior) - np.asarray(kl_prior), dropped, atol=1e-4
    )


def test_classify_gives_the_softmax_and_the_closed_form_scores():
    model = _identity_model()
    logits, _ = _batch(3)
    out = {k: np.asarray(v) for k, v in model.classify(logits).items()}
    # Exactly the softmax of the logits, not a re-derived alpha / alpha_0.
    np.testing.assert_array_equal(
        out["probs"], keras.ops.softmax(model(logits), axis=-1)
    )
    x = logits.astype("float64")
    probs = special.softmax(x, axis=-1)
    alpha = np.exp(x)
    alpha_0 = alpha.sum(-1)
    entropy = stats.entropy(probs, axis=-1)
    information = entropy - (
        probs
        * (special.digamma(alpha_0[:, None] + 1) - special.digamma(alpha + 1))
    ).sum(-1)
    expected = {
        "probs": probs,
        "certainty": probs.max(-1),
        "entropy": entropy,
        "precision": alpha_0,
        "energy": -special.logsumexp(x, axis=-1),
        "dempster_shafer": K / (K + alpha_0),
        "mutual_information": information,
        "ood_score": -probs.max(-1),
    }
    for key, value in expected.items():
        np.testing.assert_allclose(out[key], value, rtol=1e-5, err_msg=key)
    assert np.all(information > 1e-3)  # the float64 reference is sharp
    np.testing.assert_array_equal(out["prediction"], logits.argmax(-1))
    for score in SCORES:
        chosen = _identity_model(ood_score=score).classify(logits)
        key = "ood_score" if score == "msp" else score
        np.testing.assert_allclose(chosen["ood_score"], out[key], rtol=1e-6)


def test_every_score_is_larger_for_less_evidence():
    model = _identity_model()
    logits = np.array(
        [
            [6.0, 0.0, 0.0, 0.0, 0.0],  # confident
            [0.0, 0.0, 0.0, 0.0, 0.0],  # flat, alpha_0 = K
            [-3.0, -3.0, -3.0, -3.0, -3.0],  # flat with little evidence
        ],
        "float32",
    )
    out = {k: np.asarray(v) for k, v in model.classify(logits).items()}
    for score in ("ood_score", *SCORES[1:]):
        assert out[score][0] < out[score][1], score
    for score in ("energy", "dempster_shafer", "mutual_information"):
        assert out[score][1] < out[score][2], score
    assert out["precision"][0] > out["precision"][1] > out["precision"][2]


def test_extreme_logits_give_finite_losses_gradients_and_scores():
    model = _identity_model()
    logits = np.array([[200.0, -200.0, 0.0, 5.0, -5.0]] * 2, "float32")
    labels = np.array([0, 1], "int32")
    with tf.GradientTape() as tape:
        losses, _ = model.compute_losses((logits, labels), training=True)
    gradients = tape.gradient(losses["loss"], model.trainable_variables)
    assert np.isfinite(float(losses["loss"]))
    assert all(np.all(np.isfinite(g)) for g in gradients)
    for key, value in model.classify(logits).items():
        assert np.all(np.isfinite(value)), key


def _contract_batch():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 6)).astype("float32")
    return x, rng.integers(0, 3, 16).astype("int32")


def test_belief_matching_meets_the_method_contract(tmp_path):
    # Round trips, 2 replicas = 1 device, resume, and the export loaded in
    # a fresh process that imports neither keras_ssl nor TFP.
    report = check_method_contract(
        belief_matching_replica_models.build_belief_matching_mlp,
        _contract_batch(),
        tmp_path,
        replica_fit_kwargs={"epochs": 2},
    )
    assert report["export"]["endpoints"] == ["classify", "embed"]
    logs = report["replicas"]["logs"]
    assert set(logs) == {"loss", "kl", "expected_nll", "accuracy"}
    assert logs["kl"][0] > 0


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"num_classes": 1}, "num_classes"),
        ({"prior": 0.0}, "prior"),
        ({"prior": -1.0}, "prior"),
        ({"prior": float("nan")}, "prior"),
        ({"prior": "1"}, "prior"),
        ({"kl_weight": -0.01}, "kl_weight"),
        ({"kl_weight": None}, "kl_weight"),
        ({"ood_score": "precision"}, "ood_score"),
    ],
)
def test_bad_arguments_raise_before_training(kwargs, name):
    inputs = keras.Input((K,))
    encoder = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    with pytest.raises(ValueError, match=f"^{name} must be"):
        BeliefMatching(encoder, **{"num_classes": K, **kwargs})


@pytest.mark.parametrize(
    "labels, message",
    [
        (np.array([0, 1, 2, 5]), r"class ids in \[0, num_classes=5\)"),
        (np.array([0, -1, 2, 3]), r"class ids in \[0, num_classes=5\)"),
        (np.array([0.0, 1.5, 2.0, 3.0]), "integer class ids"),
        (np.full((4, 5), 0.3), "probability vectors"),
        (np.array([[0.5, 0.5], [1, 0], [0, 1], [1, 0]]), "shape"),
    ],
)
def test_bad_labels_raise_before_any_step(labels, message):
    model = _identity_model()
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    x, _ = _batch()
    with pytest.raises(ValueError, match=message):
        model.fit(x[:4], labels, batch_size=4, epochs=1, verbose=0)
    assert int(model.optimizer.iterations) == 0


def test_labels_out_of_range_in_a_dataset_stop_training():
    model = _identity_model()
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    x, labels = _batch()
    labels[3] = K
    dataset = tf.data.Dataset.from_tensor_slices((x, labels)).batch(4)
    with pytest.raises(tf.errors.InvalidArgumentError, match="labels"):
        model.fit(dataset, epochs=1, verbose=0)


def test_recipe_trains_with_the_softmax_recipe_settings():
    bm, softmax = get_recipe("belief_matching"), get_recipe("softmax")
    config = bm.resolve_config({}, "digits")
    control = softmax.resolve_config({}, "digits")
    for key in ("optimizer", "learning_rate", "width", "image_size"):
        assert config[key] == control[key], key
    assert bm.training_defaults("digits") == softmax.training_defaults("digits")
    assert (config["prior"], config["kl_weight"]) == (1.0, 0.01)
    assert bm.ood_scores[0] == "ood_score"
    assert set(bm.ood_scores[1:]) == set(SCORES[1:])


# ----------------------------------------------------------------------
# Learning: the method note's experiment (MLP 64-128-128 on 8x8 digits
# 0-4, SGD 0.05 with momentum 0.9 and weight decay 1e-4) against the
# softmax control with the same network, initial weights, optimizer,
# batches and epochs; 30 epochs instead of the note's 100 (time budget).
# ----------------------------------------------------------------------
def _note_mlp(input_shape):
    inputs = keras.Input(input_shape)
    features = backbones.mlp(
        (int(np.prod(input_shape)),), hidden=(128, 128), final_activation="relu"
    )(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, features)


@pytest.fixture(scope="module")
def learned():
    recipe = get_recipe("belief_matching")
    config = recipe.resolve_config({"image_size": 8}, "digits")
    results = {"belief_matching": [], "softmax": []}
    for seed in (0, 1):
        data = recipe.load_data("digits", config, seed)
        for name, method in (
            ("belief_matching", BeliefMatching),
            ("softmax", SoftmaxClassifier),
        ):
            keras.utils.set_random_seed(seed)
            model = method(_note_mlp(data["input_shape"]), data["num_classes"])
            model.compile(
                optimizer=keras.optimizers.SGD(
                    0.05, momentum=0.9, weight_decay=1e-4
                )
            )
            model.fit(
                data["x_train"],
                data["y_train"],
                batch_size=64,
                epochs=30,
                verbose=0,
            )
            test = model.classify(data["x_test"])
            out = model.classify(data["ood"]["digits_5_9"])
            results[name].append(
                {
                    "accuracy": np.mean(
                        np.asarray(test["prediction"]) == data["y_test"]
                    ),
                    "auroc": evaluation.ood_metrics(
                        test["ood_score"], out["ood_score"]
                    )["auroc"],
                    "ece": evaluation.expected_calibration_error(
                        test["probs"], data["y_test"]
                    ),
                }
            )
    means = {
        name: {k: np.mean([r[k] for r in rows]) for k in rows[0]}
        for name, rows in results.items()
    }
    print("belief matching vs softmax (seeds 0, 1):", results)
    return means


@pytest.mark.slow
def test_accuracy_is_within_a_point_of_the_softmax_control(learned):
    bm, softmax = learned["belief_matching"], learned["softmax"]
    assert bm["accuracy"] >= 0.95
    assert abs(bm["accuracy"] - softmax["accuracy"]) <= 0.01


@pytest.mark.slow
def test_msp_flags_held_out_digits_better_than_the_control(learned):
    bm, softmax = learned["belief_matching"], learned["softmax"]
    assert bm["auroc"] > softmax["auroc"]
    # ECE is reported, not gated: on near-separable digits Belief
    # Matching is underconfident (method note); it must only be defined.
    assert 0.0 <= bm["ece"] <= 1.0 and 0.0 <= softmax["ece"] <= 1.0
