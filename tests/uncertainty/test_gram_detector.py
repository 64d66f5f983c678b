import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl import backbones
from keras_ssl.testing import check_method_contract
from keras_ssl.uncertainty import DUQ
from keras_ssl.uncertainty import GramDetector
from keras_ssl.uncertainty import SoftmaxClassifier
from keras_ssl.uncertainty.gram_detector import NO_BOUND
from tests.uncertainty import gram_replica_models as models

POWERS = models.POWERS


def _tap_values(classifier, names, x):
    """The classifier's outputs at `names` and its softmax (float64)."""
    layers = [classifier.get_layer(n).output for n in names]
    probe = keras.Model(classifier.inputs[0], [*layers, classifier.outputs[0]])
    *taps, logits = probe(x, training=False)
    logits = np.asarray(logits, "float64")
    probs = np.exp(logits - logits.max(1, keepdims=True))
    return [np.asarray(t, "float64") for t in taps], probs / probs.sum(
        1, keepdims=True
    )


def _gram_reference(tap, powers):
    """Official `G_p`: F is C x HW; (F^p)(F^p)^T, row sums, signed root."""
    flat = tap.reshape(len(tap), -1, tap.shape[-1]).transpose(0, 2, 1)
    orders = []
    for p in powers:
        powered = flat**p
        rows = (powered @ powered.transpose(0, 2, 1)).sum(axis=2)
        orders.append(np.sign(rows) * np.abs(rows) ** (1.0 / p))
    return np.stack(orders, axis=1)


def _bounds_reference(features, prediction, num_classes):
    # A class no input is predicted as keeps the extreme finite values.
    low = np.full((num_classes, *features.shape[1:]), NO_BOUND)
    high = np.full_like(low, -NO_BOUND)
    for c in range(num_classes):
        if np.any(prediction == c):
            low[c] = features[prediction == c].min(axis=0)
            high[c] = features[prediction == c].max(axis=0)
    return low, high


def _deviation_reference(features, low, high, prediction):
    low, high = low[prediction], high[prediction]
    below = np.maximum(low - features, 0) / np.abs(low + 1e-6)
    above = np.maximum(features - high, 0) / np.abs(high + 1e-6)
    return (below + above).sum(axis=(1, 2))


@pytest.fixture(scope="module")
def fitted():
    return models.build_gram()


@pytest.fixture(scope="module")
def probe_x():
    """Inputs off the fit data (deviations > 0) and on it (deviations 0)."""
    rng = np.random.default_rng(0)
    shifted = models.BATCH[0] + 0.2 * rng.random(models.BATCH[0].shape)
    return np.concatenate([shifted, models.FIT_X[:8]]).astype("float32")


# ----------------------------------------------------------------------
# Features, bounds, deviations and the score against NumPy
# ----------------------------------------------------------------------
def test_gram_features_match_the_official_formula():
    classifier = models.classifier()
    # bn1 has negative values: odd orders need the signed root.
    names = ("bn1", "relu1", "conv2")
    model = GramDetector(classifier, taps=names, powers=range(1, 11))
    x = models.FIT_X[:8]
    taps, _ = _tap_values(classifier, names, x)
    assert taps[0].min() < 0
    features = model.gram_features(x)
    assert [f.dtype for f in features] == ["float64"] * 3
    for tap, got in zip(taps, features, strict=True):
        expected = _gram_reference(tap, range(1, 11))
        assert got.shape == (8, 10, tap.shape[-1])
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-12)


def test_fit_keeps_per_predicted_class_min_and_max(fitted):
    classifier = fitted.classifier
    taps, probs = _tap_values(classifier, fitted.tap_names, models.FIT_X)
    prediction = probs.argmax(1)
    # Labels would put every input in class 0; bounds follow predictions.
    assert len(np.unique(prediction)) >= 2
    np.testing.assert_array_equal(
        fitted.class_count, np.bincount(prediction, minlength=3)
    )
    for tap, low, high in zip(
        taps, fitted.minimum, fitted.maximum, strict=True
    ):
        expected_low, expected_high = _bounds_reference(
            _gram_reference(tap, POWERS), prediction, 3
        )
        np.testing.assert_allclose(low, expected_low, rtol=1e-5)
        np.testing.assert_allclose(high, expected_high, rtol=1e-5)
    assert np.any(np.asarray(fitted.minimum[0]) == NO_BOUND)  # empty class


def test_bounds_accumulate_over_fits_and_repeat_over_epochs(fitted):
    halves = GramDetector(models.classifier(), powers=POWERS)
    halves.compile()
    halves.fit(models.FIT_X[:24], batch_size=8, verbose=0)
    halves.fit(models.FIT_X[24:], batch_size=8, verbose=0)
    twice = GramDetector(models.classifier(), powers=POWERS)
    twice.compile()
    # Every fit ends by calibrating on `calibration_inputs` (not saved).
    twice.calibration_inputs = models.VALIDATION_X
    history = twice.fit(models.FIT_X, batch_size=16, epochs=2, verbose=0)
    np.testing.assert_array_equal(halves.class_count, fitted.class_count)
    np.testing.assert_array_equal(twice.class_count, 2 * fitted.class_count)
    assert history.history["classes_seen"] == [2.0, 2.0]
    for other in (halves, twice):
        for a, b in zip(
            other.minimum + other.maximum,
            fitted.minimum + fitted.maximum,
            strict=True,
        ):
            np.testing.assert_allclose(a, b, rtol=1e-6)
    np.testing.assert_allclose(
        twice.expected_deviation, fitted.expected_deviation, rtol=1e-6
    )
    assert "calibration_inputs" not in twice.get_config()


def test_deviations_and_score_match_numpy(fitted, probe_x):
    taps, probs = _tap_values(fitted.classifier, fitted.tap_names, probe_x)
    prediction = probs.argmax(1)
    msp = probs.max(1)
    raw = np.stack(
        [
            _deviation_reference(
                _gram_reference(tap, POWERS),
                np.asarray(low),
                np.asarray(high),
                prediction,
            )
            for tap, low, high in zip(
                taps, fitted.minimum, fitted.maximum, strict=True
            )
        ],
        axis=1,
    )
    raw = raw / msp[:, None]
    # Most shifted inputs deviate; the fit inputs do not.
    assert np.mean(raw[:16].sum(1) > 0.1) > 0.5
    assert raw[16:].max() < 1e-9
    np.testing.assert_allclose(
        fitted.tap_deviations(probe_x), raw, rtol=1e-5, atol=1e-9
    )
    # E = mean validation deviation + 1e-7.
    _, val_probs = _tap_values(
        fitted.classifier, fitted.tap_names, models.VALIDATION_X
    )
    expected = (
        np.asarray(fitted.tap_deviations(models.VALIDATION_X)).mean(0) + 1e-7
    )
    np.testing.assert_allclose(fitted.expected_deviation, expected, rtol=1e-9)
    out = {k: np.asarray(v) for k, v in fitted.classify(probe_x).items()}
    np.testing.assert_allclose(
        out["deviations"], raw / expected, rtol=1e-5, atol=1e-8
    )
    np.testing.assert_allclose(
        out["ood_score"], (raw / expected).sum(1), rtol=1e-5, atol=1e-8
    )
    np.testing.assert_allclose(fitted.score(probe_x), out["ood_score"])
    np.testing.assert_allclose(out["probs"], probs, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(out["certainty"], msp, rtol=1e-5)
    np.testing.assert_allclose(out["msp_score"], -out["certainty"])
    np.testing.assert_array_equal(out["prediction"], prediction)
    np.testing.assert_allclose(
        fitted(probe_x), fitted.classifier(probe_x), rtol=1e-6
    )


def test_fit_inputs_have_no_deviation_and_scores_are_non_negative(
    fitted, probe_x
):
    # Scored in other batches than the fit's: float noise only.
    deviations = np.asarray(fitted.tap_deviations(models.FIT_X[5:]))
    assert deviations.shape == (43, 2)
    assert deviations.max() <= 1e-5
    assert np.asarray(fitted.score(probe_x)).min() >= 0


def _variant(fitted, **kwargs):
    """`fitted`'s classifier and bounds in a detector with other flags."""
    model = GramDetector(fitted.classifier, powers=POWERS, **kwargs)
    model.set_weights(fitted.get_weights())
    return model


def test_without_normalisation_the_score_is_the_sum_of_tap_deviations(
    fitted, probe_x
):
    model = _variant(fitted, normalize=False)
    model.expected_deviation.assign(np.zeros(2))  # not needed
    out = model.classify(probe_x)
    deviations = np.asarray(model.tap_deviations(probe_x))
    np.testing.assert_allclose(out["ood_score"], deviations.sum(1))
    np.testing.assert_allclose(out["deviations"], deviations)
    assert deviations.sum(1).max() > 0
    plain = _variant(fitted, normalize=False, msp_division=False)
    msp = np.asarray(out["certainty"], "float64")
    np.testing.assert_allclose(
        plain.tap_deviations(probe_x), deviations * msp[:, None], rtol=1e-6
    )


def test_inputs_of_a_class_without_bounds_score_inf():
    classifier = models.classifier()
    _, probs = _tap_values(classifier, ("relu1",), models.FIT_X)
    prediction = probs.argmax(1)
    model = GramDetector(classifier, powers=POWERS)
    model.compile()
    model.fit(models.FIT_X[prediction == 0], verbose=0)
    other = models.FIT_X[prediction != 0]
    assert np.all(np.isinf(model.tap_deviations(other)))
    assert np.all(np.isfinite(model.tap_deviations(models.FIT_X[:4])))
    with pytest.raises(ValueError, match="no bounds"):
        model.calibrate(models.FIT_X)


# ----------------------------------------------------------------------
# Taps
# ----------------------------------------------------------------------
def test_default_taps_are_the_post_activation_conv_outputs():
    small = SoftmaxClassifier(
        backbones.small_cnn((8, 8, 1), preset="narrow"), num_classes=3
    )
    assert GramDetector(small).tap_names == (
        "block1_relu",
        "block2_relu",
        "block3_relu",
    )
    resnet = SoftmaxClassifier(
        backbones.cifar_resnet((8, 8, 3), depth=8), num_classes=3
    )
    assert GramDetector(resnet).tap_names == (
        "stem_relu",
        "stage1_block1_1_relu",
        "stage1_block1_output",  # ReLU(BN(conv) + shortcut)
        "stage2_block1_1_relu",
        "stage2_block1_output",
        "stage3_block1_1_relu",
        "stage3_block1_output",
    )
    # A conv with a built-in ReLU, and a ReLU after BatchNorm.
    assert GramDetector(models.classifier()).tap_names == ("relu1", "conv2")


# ----------------------------------------------------------------------
# Contract: round trips, 2 replicas = 1 device, resume, export
# ----------------------------------------------------------------------
def test_gram_detector_meets_the_method_contract(tmp_path):
    report = check_method_contract(
        models.build_gram, models.BATCH, tmp_path, steps_per_epoch=1, epochs=2
    )
    assert report["export"]["endpoints"] == ["classify"]
    # Every bound and count is compared (2 taps x min/max + counts + E).
    assert report["replicas"]["mirrored_weights_checked"] >= 6
    assert report["replicas"]["logs"]["classes_seen"] == [2.0, 2.0]


# ----------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------
def test_scoring_before_fit_or_calibrate_is_an_error(fitted):
    model = GramDetector(models.classifier(), powers=POWERS)
    x = models.BATCH[0]
    for call in (
        model.score,
        model.classify,
        model.tap_deviations,
        model.calibrate,
        tf.function(model.classify),
    ):
        with pytest.raises(ValueError, match="fit the detector"):
            call(x)
    np.testing.assert_allclose(model(x), model.classifier(x), rtol=1e-6)
    uncalibrated = _variant(fitted)
    uncalibrated.expected_deviation.assign(np.zeros(2))
    uncalibrated.tap_deviations(x)
    for call in (uncalibrated.score, uncalibrated.classify):
        with pytest.raises(ValueError, match=r"calibrate\(x_val\)"):
            call(x)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"taps": ["conv1", "nope"]}, r"no layer named \['nope'\]"),
        ({"taps": []}, "taps must be None or a non-empty list"),
        ({"taps": ["relu1", "relu1"]}, "taps must name distinct layers"),
        ({"powers": ()}, "powers must be a non-empty tuple"),
        ({"powers": (0, 1)}, "powers must be a non-empty tuple"),
        ({"msp_division": "yes"}, "msp_division must be True or False"),
        ({"normalize": 1}, "normalize must be True or False"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GramDetector(models.classifier(), **kwargs)


def test_classifiers_without_a_graph_or_taps_are_rejected():
    mlp = SoftmaxClassifier(backbones.mlp((4,), hidden=(8,)), num_classes=3)
    with pytest.raises(ValueError, match="no post-activation conv outputs"):
        GramDetector(mlp)
    duq = DUQ(backbones.small_cnn((8, 8, 1), preset="narrow"), 3)
    with pytest.raises(ValueError, match="classifier must be a functional"):
        GramDetector(duq)
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(2, 3, activation="relu")(inputs)
    one_logit = keras.Model(
        inputs, keras.layers.Dense(1)(keras.layers.Flatten()(x))
    )
    with pytest.raises(ValueError, match="number of logits must be"):
        GramDetector(one_logit)
