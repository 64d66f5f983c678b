import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier

from keras_ssl.evaluation import knn_accuracy


def brute_force_predictions(train, train_labels, test, k, temperature, uniform):
    """Straightforward per-sample weighted cosine kNN (float64)."""
    train = train / np.linalg.norm(train, axis=1, keepdims=True)
    predictions = []
    for query in test:
        similarity = train @ (query / np.linalg.norm(query))
        neighbours = np.argsort(-similarity)[:k]
        votes = {}
        for index in neighbours:
            if uniform:
                weight = 1.0
            elif temperature is None:
                weight = similarity[index]
            else:
                weight = np.exp(similarity[index] / temperature)
            label = train_labels[index]
            votes[label] = votes.get(label, 0.0) + weight
        best = max(votes.values())
        predictions.append(min(c for c, v in votes.items() if v == best))
    return np.array(predictions)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(4, 6))
    train_labels = rng.integers(0, 4, size=150)
    test_labels = rng.integers(0, 4, size=60)
    train = centers[train_labels] + 0.9 * rng.normal(size=(150, 6))
    test = centers[test_labels] + 0.9 * rng.normal(size=(60, 6))
    return train, train_labels, test, test_labels


@pytest.mark.parametrize("k", [1, 4, 5, 20, 150])
@pytest.mark.parametrize(
    "temperature, weights",
    [
        (None, "similarity"),
        (0.07, "similarity"),
        (0.5, "similarity"),
        (None, "uniform"),
    ],
)
def test_matches_brute_force(data, k, temperature, weights):
    train, train_labels, test, test_labels = data
    expected = brute_force_predictions(
        train, train_labels, test, k, temperature, weights == "uniform"
    )
    # Scoring against the reference predictions must give exactly 1.
    assert (
        knn_accuracy(
            train,
            train_labels,
            test,
            expected,
            k=k,
            temperature=temperature,
            weights=weights,
            batch_size=7,
        )
        == 1.0
    )
    accuracy = knn_accuracy(
        train,
        train_labels,
        test,
        test_labels,
        k=k,
        temperature=temperature,
        weights=weights,
    )
    assert accuracy == pytest.approx(np.mean(expected == test_labels))


@pytest.mark.parametrize("k", [1, 3, 6, 15])
def test_uniform_matches_sklearn(data, k):
    train, train_labels, test, test_labels = data
    reference = KNeighborsClassifier(
        n_neighbors=k, metric="cosine", weights="uniform", algorithm="brute"
    ).fit(train, train_labels)
    predicted = reference.predict(test)
    assert (
        knn_accuracy(
            train, train_labels, test, predicted, k=k, weights="uniform"
        )
        == 1.0
    )
    assert knn_accuracy(
        train, train_labels, test, test_labels, k=k, weights="uniform"
    ) == pytest.approx(reference.score(test, test_labels))


def _angle(degrees):
    radians = np.deg2rad(degrees)
    return np.array([np.cos(radians), np.sin(radians)])


def test_weighting_changes_the_vote():
    # One class-0 neighbour at cosine 1.0, two class-1 neighbours at 0.34.
    train = np.stack([_angle(0), _angle(70), _angle(-70), _angle(180)])
    labels = np.array([0, 1, 1, 2])
    query = [_angle(0)]
    assert knn_accuracy(train, labels, query, [0], k=3) == 1.0
    assert (
        knn_accuracy(train, labels, query, [1], k=3, weights="uniform") == 1.0
    )
    assert knn_accuracy(train, labels, query, [0], k=3, temperature=0.01) == 1.0
    assert knn_accuracy(train, labels, query, [1], k=3, temperature=100) == 1.0


def test_class_absent_from_neighbours_cannot_win():
    # The only neighbour has negative similarity; class 0 got no vote.
    train = np.array([[1.0, 0.0], [0.0, 1.0]])
    labels = np.array([0, 1])
    assert knn_accuracy(train, labels, [[-1.0, -0.1]], [1], k=1) == 1.0


def test_cosine_ignores_feature_norms(data):
    train, train_labels, test, test_labels = data
    rng = np.random.default_rng(1)
    scaled_train = train * rng.uniform(0.01, 100, size=(len(train), 1))
    scaled_test = test * rng.uniform(0.01, 100, size=(len(test), 1))
    assert knn_accuracy(
        scaled_train, train_labels, scaled_test, test_labels
    ) == knn_accuracy(train, train_labels, test, test_labels)


def test_arbitrary_integer_class_ids():
    train = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert knn_accuracy(train, [7, 3], [[1.0, 0.1]], [7], k=1) == 1.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"k": 0}, "k must be in"),
        ({"k": 11}, "k must be in"),
        ({"k": 2.5}, "k must be an integer"),
        ({"temperature": 0.0}, "temperature must be > 0"),
        ({"temperature": 0.1, "weights": "uniform"}, "temperature must be"),
        ({"weights": "distance"}, "weights must be"),
        ({"test_features": np.zeros((3, 5))}, "same number of features"),
        ({"test_labels": [0, 1]}, "test_labels"),
    ],
)
def test_rejects_bad_input(kwargs, message):
    args = {
        "train_features": np.random.default_rng(0).normal(size=(10, 4)),
        "train_labels": np.arange(10) % 2,
        "test_features": np.ones((3, 4)),
        "test_labels": [0, 1, 1],
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        knn_accuracy(**args)
