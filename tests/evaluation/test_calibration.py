import json

import numpy as np
import pytest
from sklearn.metrics import accuracy_score
from sklearn.metrics import brier_score_loss
from sklearn.metrics import log_loss

from keras_ssl.evaluation import brier_score
from keras_ssl.evaluation import calibration_bins
from keras_ssl.evaluation import calibration_metrics
from keras_ssl.evaluation import expected_calibration_error
from keras_ssl.evaluation import maximum_calibration_error
from keras_ssl.evaluation import negative_log_likelihood

# Hand-computed case, 5 equal-width bins (0, .2], (.2, .4], ... (.8, 1]:
#   (.4, .6]: confidences .5 (right), .45 (wrong), .6 (wrong)
#             -> accuracy 1/3, mean confidence 1.55/3, |gap| * 3 = .55
#   (.6, .8]: confidence .7 (wrong) -> gap .7
#   (.8, 1]:  confidences .9, .85 (both right) -> gap .125
#   ECE = (.55 + .7 + 2 * .125) / 6 = .25; MCE = .7
HAND_PROBS = np.array(
    [
        [0.5, 0.3, 0.2],
        [0.35, 0.45, 0.2],
        [0.6, 0.2, 0.2],
        [0.1, 0.9, 0.0],
        [0.05, 0.1, 0.85],
        [0.7, 0.3, 0.0],
    ]
)
HAND_LABELS = np.array([0, 0, 2, 1, 2, 1])


def reference_bins(probs, labels, num_bins, strategy):
    """Straightforward loop over right-closed bins."""
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    if strategy == "uniform":
        edges = np.linspace(0, 1, num_bins + 1)
    else:
        edges = np.quantile(confidence, np.linspace(0, 1, num_bins + 1))
    rows = []
    for b in range(num_bins):
        in_bin = confidence <= edges[b + 1]
        if b > 0:
            in_bin &= confidence > edges[b]
        if in_bin.any():
            rows.append(
                (
                    in_bin.sum(),
                    correct[in_bin].mean(),
                    confidence[in_bin].mean(),
                )
            )
        else:
            rows.append((0, 0.0, 0.0))
    return np.array(rows)


def reference_ece_mce(probs, labels, num_bins, strategy="uniform"):
    rows = reference_bins(probs, labels, num_bins, strategy)
    gaps = np.abs(rows[:, 1] - rows[:, 2])
    ece = np.sum(rows[:, 0] * gaps) / len(labels)
    return ece, gaps[rows[:, 0] > 0].max()


def random_predictions(seed, num_samples=500, num_classes=4):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(num_classes, 0.5), size=num_samples)
    labels = rng.integers(0, num_classes, size=num_samples)
    # Make the predictions better than chance so bins differ in accuracy.
    agree = rng.random(num_samples) < 0.5
    labels[agree] = probs[agree].argmax(axis=1)
    return probs, labels


def test_ece_and_mce_by_hand():
    assert expected_calibration_error(
        HAND_PROBS, HAND_LABELS, num_bins=5
    ) == pytest.approx(0.25)
    assert maximum_calibration_error(
        HAND_PROBS, HAND_LABELS, num_bins=5
    ) == pytest.approx(0.7)
    bins = calibration_bins(HAND_PROBS, HAND_LABELS, num_bins=5)
    np.testing.assert_array_equal(bins["counts"], [0, 0, 3, 1, 2])
    np.testing.assert_allclose(bins["accuracy"], [0, 0, 1 / 3, 0, 1])
    np.testing.assert_allclose(bins["confidence"], [0, 0, 1.55 / 3, 0.7, 0.875])


def test_bins_are_right_closed():
    # Confidences exactly on the edges 0.4 and 0.8 of 5 uniform bins.
    probs = np.array([[0.4, 0.3, 0.3], [0.8, 0.1, 0.1], [1.0, 0.0, 0.0]])
    bins = calibration_bins(probs, [0, 0, 0], num_bins=5)
    np.testing.assert_array_equal(bins["counts"], [0, 1, 0, 1, 1])


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("num_bins", [1, 10, 15])
@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_ece_mce_match_reference(seed, num_bins, strategy):
    probs, labels = random_predictions(seed)
    ece, mce = reference_ece_mce(probs, labels, num_bins, strategy)
    assert expected_calibration_error(
        probs, labels, num_bins, strategy
    ) == pytest.approx(ece, abs=1e-12)
    assert maximum_calibration_error(
        probs, labels, num_bins, strategy
    ) == pytest.approx(mce, abs=1e-12)


def test_quantile_bins_have_equal_mass():
    probs, labels = random_predictions(0, num_samples=1000)
    counts = calibration_bins(probs, labels, 10, "quantile")["counts"]
    assert counts.sum() == 1000
    assert counts.max() - counts.min() <= 2


def synthetic_binary(shift, num_samples=50_000, seed=0):
    """Confidence c ~ U(0.5, 1); the top class is right with prob c - shift."""
    rng = np.random.default_rng(seed)
    confidence = rng.uniform(0.5, 1.0, size=num_samples)
    probs = np.stack([confidence, 1 - confidence], axis=1)
    labels = (rng.random(num_samples) >= confidence - shift).astype(int)
    return probs, labels


def test_perfect_calibration_gives_ece_near_zero():
    probs, labels = synthetic_binary(shift=0.0)
    assert expected_calibration_error(probs, labels) < 0.01
    assert expected_calibration_error(probs, labels, strategy="quantile") < 0.01


def test_overconfidence_is_measured():
    probs, labels = synthetic_binary(shift=0.2)
    assert expected_calibration_error(probs, labels) == pytest.approx(
        0.2, abs=0.015
    )
    assert maximum_calibration_error(probs, labels) > 0.2


@pytest.mark.parametrize("seed", range(3))
def test_nll_matches_sklearn_log_loss(seed):
    probs, labels = random_predictions(seed, num_classes=5)
    expected = log_loss(labels, probs, labels=np.arange(5))
    assert negative_log_likelihood(probs, labels) == pytest.approx(
        expected, rel=1e-9
    )


def test_nll_floors_zero_probability():
    probs = np.array([[1.0, 0.0], [0.5, 0.5]])
    expected = (-np.log(1e-12) - np.log(0.5)) / 2
    assert negative_log_likelihood(probs, [1, 0]) == pytest.approx(expected)
    assert negative_log_likelihood(probs, [1, 0], eps=1e-3) == pytest.approx(
        (-np.log(1e-3) - np.log(0.5)) / 2
    )


@pytest.mark.parametrize("seed", range(3))
def test_brier_matches_references(seed):
    probs, labels = random_predictions(seed, num_classes=4)
    loop = np.mean(
        [
            sum((p[k] - (k == y)) ** 2 for k in range(4))
            for p, y in zip(probs, labels, strict=True)
        ]
    )
    assert brier_score(probs, labels) == pytest.approx(loop, rel=1e-12)
    assert brier_score(probs, labels) == pytest.approx(
        brier_score_loss(
            labels, probs, labels=np.arange(4), scale_by_half=False
        ),
        rel=1e-12,
    )


def test_binary_brier_is_twice_sklearn_default():
    rng = np.random.default_rng(0)
    p1 = rng.random(300)
    labels = rng.integers(0, 2, size=300)
    probs = np.stack([1 - p1, p1], axis=1)
    assert brier_score(probs, labels) == pytest.approx(
        2 * brier_score_loss(labels, p1), rel=1e-12
    )


def test_calibration_metrics_dict():
    probs, labels = random_predictions(1)
    metrics = calibration_metrics(probs, labels, num_bins=10)
    assert set(metrics) == {"accuracy", "ece", "mce", "nll", "brier"}
    assert json.loads(json.dumps(metrics)) == metrics
    assert metrics["accuracy"] == pytest.approx(
        accuracy_score(labels, probs.argmax(axis=1))
    )
    ece, mce = reference_ece_mce(probs, labels, 10)
    assert metrics["ece"] == pytest.approx(ece)
    assert metrics["mce"] == pytest.approx(mce)
    assert metrics["nll"] == pytest.approx(log_loss(labels, probs))
    assert metrics["brier"] == brier_score(probs, labels)


@pytest.mark.parametrize(
    "probs, labels, kwargs, message",
    [
        (np.array([0.2, 0.8]), [1], {}, "shape"),
        (np.ones((2, 1)), [0, 0], {}, "shape"),
        (np.array([[0.5, 0.6]]), [0], {}, "sum to 1"),
        (np.array([[2.0, -1.0]]), [0], {}, r"\[0, 1\]"),
        (np.array([[0.5, np.nan]]), [0], {}, "finite"),
        (np.array([[0.5, 0.5]]), [2], {}, "labels must lie"),
        (np.array([[0.5, 0.5]]), [-1], {}, "labels must lie"),
        (np.array([[0.5, 0.5]]), [0, 1], {}, "one label per sample"),
        (np.array([[0.5, 0.5]]), [0.5], {}, "integer"),
        (np.array([[0.5, 0.5]]), [0], {"num_bins": 0}, "num_bins"),
        (np.array([[0.5, 0.5]]), [0], {"strategy": "equal"}, "strategy"),
    ],
)
def test_rejects_bad_input(probs, labels, kwargs, message):
    with pytest.raises(ValueError, match=message):
        expected_calibration_error(probs, labels, **kwargs)


def test_every_metric_validates():
    bad = np.array([[0.5, 0.6]])
    for metric in (
        maximum_calibration_error,
        negative_log_likelihood,
        brier_score,
        calibration_metrics,
    ):
        with pytest.raises(ValueError, match="sum to 1"):
            metric(bad, [0])
