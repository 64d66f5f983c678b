import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from keras_ssl.evaluation import linear_probe


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return x[:1000], y[:1000], x[1000:1400], y[1000:1400]


def test_matches_sklearn_pipeline(digits):
    x_train, y_train, x_test, y_test = digits
    reference = make_pipeline(
        StandardScaler(), LogisticRegression(C=0.5, max_iter=1000)
    ).fit(x_train, y_train)
    expected = float(np.mean(reference.predict(x_test) == y_test))
    accuracy = linear_probe(x_train, y_train, x_test, y_test, C=0.5)
    assert isinstance(accuracy, float)
    assert accuracy == pytest.approx(expected, abs=1e-12)
    assert accuracy > 0.85


def test_standardisation_makes_feature_scale_irrelevant(digits):
    x_train, y_train, x_test, y_test = digits
    scale = np.geomspace(1e-4, 1e4, x_train.shape[1])
    plain = linear_probe(x_train, y_train, x_test, y_test)
    scaled = linear_probe(x_train * scale, y_train, x_test * scale, y_test)
    assert scaled == pytest.approx(plain, abs=0.01)


def test_labels_per_class_uses_k_standardised_samples(digits, monkeypatch):
    x_train, y_train, x_test, y_test = digits
    seen = {}
    original_fit = LogisticRegression.fit

    def recording_fit(self, x, y, *args, **kwargs):
        seen["x"], seen["y"] = np.array(x), np.array(y)
        return original_fit(self, x, y, *args, **kwargs)

    monkeypatch.setattr(LogisticRegression, "fit", recording_fit)
    linear_probe(x_train, y_train, x_test, y_test, labels_per_class=5, seed=3)
    classes, counts = np.unique(seen["y"], return_counts=True)
    np.testing.assert_array_equal(classes, np.arange(10))
    np.testing.assert_array_equal(counts, 5)
    # The scaler is fitted on exactly the samples the classifier sees.
    non_constant = seen["x"].std(axis=0) > 0
    np.testing.assert_allclose(seen["x"].mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(seen["x"].std(axis=0)[non_constant], 1.0)


def test_labels_per_class_seeded(digits):
    x_train, y_train, x_test, y_test = digits
    runs = [
        linear_probe(
            x_train, y_train, x_test, y_test, labels_per_class=2, seed=s
        )
        for s in (0, 0, 1, 2)
    ]
    assert runs[0] == runs[1]
    assert len(set(runs[1:])) > 1
    full = linear_probe(x_train, y_train, x_test, y_test)
    assert max(runs) < full


def test_random_labels_give_chance_accuracy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 8))
    y = rng.integers(0, 4, size=400)
    accuracy = linear_probe(x[:200], y[:200], x[200:], y[200:])
    assert 0.1 < accuracy < 0.4


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"train_labels": np.zeros(9, int)}, "train_labels"),
        ({"test_features": np.zeros((3, 5))}, "same number of features"),
        ({"labels_per_class": 6}, "smallest training class"),
        ({"labels_per_class": 0}, "labels_per_class"),
        ({"labels_per_class": 2.0}, "labels_per_class"),
        ({"C": 0.0}, "C must be"),
        ({"train_labels": np.zeros(10, int)}, "two classes"),
        ({"train_features": np.full((10, 4), np.nan)}, "finite"),
        ({"train_labels": np.linspace(0, 1, 10)}, "integer"),
    ],
)
def test_rejects_bad_input(kwargs, message):
    args = {
        "train_features": np.random.default_rng(0).normal(size=(10, 4)),
        "train_labels": np.array([0] * 5 + [1] * 5),
        "test_features": np.zeros((3, 4)),
        "test_labels": np.array([0, 1, 1]),
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        linear_probe(**args)
