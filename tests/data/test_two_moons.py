import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.datasets import make_moons

from keras_ssl.data import far_points
from keras_ssl.data import two_moons


def test_two_moons_is_make_moons_with_fresh_test_points():
    (x_train, y_train), (x_test, y_test) = two_moons(
        n_samples=300, noise=0.1, test_size=50, seed=5
    )
    assert x_train.shape == (300, 2) and x_test.shape == (50, 2)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int32
    rng = np.random.RandomState(5)
    x_ref, y_ref = make_moons(300, noise=0.1, random_state=rng)
    np.testing.assert_allclose(x_train, x_ref, rtol=1e-6)
    np.testing.assert_array_equal(y_train, y_ref)
    # Test points are new draws, not a subset of the training points.
    assert cdist(x_test, x_train).min() > 0
    assert set(np.unique(y_test)) == {0, 1}


def test_two_moons_is_deterministic_per_seed():
    a = two_moons(n_samples=100, seed=1)
    b = two_moons(n_samples=100, seed=1)
    c = two_moons(n_samples=100, seed=2)
    np.testing.assert_array_equal(a[0][0], b[0][0])
    np.testing.assert_array_equal(a[1][0], b[1][0])
    assert not np.array_equal(a[0][0], c[0][0])


def test_two_moons_noise_zero_lies_on_the_circles():
    (x, y), _ = two_moons(n_samples=200, noise=0.0)
    # Upper moon: unit circle around (0, 0); lower: around (1, 0.5).
    centre = np.where(y[:, None] == 0, [0.0, 0.0], [1.0, 0.5])
    np.testing.assert_allclose(np.linalg.norm(x - centre, axis=1), 1, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_samples": 1}, "n_samples"),
        ({"test_size": 0}, "test_size"),
        ({"noise": -1.0}, "noise"),
    ],
)
def test_two_moons_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        two_moons(**kwargs)


def test_far_points_keep_their_distance_and_box():
    (x_train, _), _ = two_moons()
    x_far = far_points(x_train, n=500, min_distance=1.0, seed=0)
    assert x_far.shape == (500, 2) and x_far.dtype == np.float32
    assert cdist(x_far, x_train).min(axis=1).min() >= 1.0 - 1e-6
    assert np.all(x_far >= [-4, -4]) and np.all(x_far <= [5, 4])
    # Uniform in the allowed region: points spread over the whole box.
    assert x_far[:, 0].min() < -3 and x_far[:, 0].max() > 4
    np.testing.assert_array_equal(
        x_far, far_points(x_train, n=500, min_distance=1.0, seed=0)
    )
    assert not np.array_equal(
        x_far, far_points(x_train, n=500, min_distance=1.0, seed=1)
    )


def test_far_points_errors():
    (x_train, _), _ = two_moons(n_samples=100)
    with pytest.raises(ValueError, match="min_distance"):
        far_points(x_train, n=10, min_distance=50.0, max_draws=10_000)
    with pytest.raises(ValueError, match="low and high"):
        far_points(x_train, low=(0, 0, 0), high=(1, 1, 1))
    with pytest.raises(ValueError, match="high must be larger"):
        far_points(x_train, low=(1, 1), high=(0, 2))
