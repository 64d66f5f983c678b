import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl import evaluation
from keras_ssl.evaluation import frechet_distance
from keras_ssl.evaluation import gaussian_frechet_distance


def _covariance(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T + 0.1 * np.eye(d)


def _closed_form(mean1, cov1, mean2, cov2):
    """||m1 - m2||^2 + Tr(S1) + Tr(S2) - 2 Tr((S1^1/2 S2 S1^1/2)^1/2),
    with symmetric square roots from eigendecompositions (no sqrtm)."""

    def root(matrix):
        values, vectors = np.linalg.eigh(matrix)
        return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T

    half = root(cov1)
    cross = np.trace(root(half @ cov2 @ half))
    difference = mean1 - mean2
    return difference @ difference + np.trace(cov1 + cov2) - 2 * cross


def test_two_known_gaussians_give_the_closed_form():
    rng = np.random.default_rng(0)
    d = 5
    mean1, mean2 = rng.normal(size=d), rng.normal(size=d)
    cov1, cov2 = _covariance(rng, d), _covariance(rng, d)
    assert not np.allclose(cov1 @ cov2, cov2 @ cov1)  # not commuting
    expected = _closed_form(mean1, cov1, mean2, cov2)
    assert gaussian_frechet_distance(mean1, cov1, mean2, cov2) == (
        pytest.approx(expected, rel=1e-8)
    )
    # One dimension: (m1 - m2)^2 + (s1 - s2)^2.
    assert gaussian_frechet_distance([1.0], [[4.0]], [-2.0], [[9.0]]) == (
        pytest.approx(9.0 + 1.0)
    )
    # Samples of the two Gaussians approach it.
    n = 40_000
    x = rng.multivariate_normal(mean1, cov1, size=n)
    y = rng.multivariate_normal(mean2, cov2, size=n)
    assert frechet_distance(x, y) == pytest.approx(expected, rel=0.03)


def test_identical_sets_are_at_distance_zero():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 8, 8, 1))  # flattened to 64 features
    assert abs(frechet_distance(x, x)) < 1e-7
    # Fewer samples than features: a singular covariance.
    few = rng.normal(size=(20, 64))
    assert abs(frechet_distance(few, few)) < 1e-4
    assert frechet_distance(few, few + 1.0) == pytest.approx(64.0, rel=1e-4)


def test_distance_in_the_features_of_a_caller_model():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 4)).astype("float32")
    y = (rng.normal(size=(200, 4)) * 2.0 + 1.0).astype("float32")
    inputs = keras.Input((4,))
    layer = keras.layers.Dense(3, activation="tanh")
    model = keras.Model(inputs, layer(inputs))
    features_x, features_y = np.asarray(model(x)), np.asarray(model(y))
    assert frechet_distance(x, y, feature_model=model) == pytest.approx(
        frechet_distance(features_x, features_y), rel=1e-5
    )
    assert frechet_distance(x, y, feature_model=model) != pytest.approx(
        frechet_distance(x, y), rel=0.1
    )


def test_bad_inputs_are_rejected():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(10, 3))
    with pytest.raises(ValueError, match="at least 2 samples"):
        frechet_distance(x[:1], x)
    with pytest.raises(ValueError, match="features of the same size"):
        frechet_distance(x, rng.normal(size=(10, 4)))
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="y must be finite"):
        frechet_distance(x, bad)
    with pytest.raises(ValueError, match=r"shape \(d,\)"):
        gaussian_frechet_distance(
            np.zeros(2), np.eye(3), np.zeros(2), np.eye(2)
        )
    with pytest.raises(ValueError, match="positive semi-definite"):
        gaussian_frechet_distance(
            np.zeros(2), -np.eye(2), np.zeros(2), np.eye(2)
        )
    with pytest.raises(ValueError, match="keras.Model"):
        frechet_distance(x, x, feature_model=lambda v: v)


class _Identity:
    """A generative model whose code is the flattened image: perfect
    reconstructions, and `decode` reshapes codes into images."""

    def encode(self, images):
        return {"latent": tf.reshape(images, (tf.shape(images)[0], -1))}

    def decode(self, z):
        return {"images": tf.reshape(z, (-1, 2, 2, 1))}

    def reconstruct(self, images):
        return {"images": images}


def test_generative_metrics_of_a_known_model():
    rng = np.random.default_rng(4)
    x = (rng.normal(size=(400, 2, 2, 1)) * 0.5 + 0.2).astype("float32")
    x_test = rng.normal(size=(50, 2, 2, 1)).astype("float32")
    metrics = evaluation.generative_metrics(_Identity(), x, x_test, seed=7)
    codes = x.reshape(400, 4).astype("float64")
    mean, cov = codes.mean(0), np.cov(codes, rowvar=False)
    draws = np.random.default_rng(7)
    prior = draws.standard_normal((400, 4)).astype("float32")
    fitted = draws.multivariate_normal(mean, cov, size=400).astype("float32")
    assert metrics["reconstruction_mse"] == 0.0
    assert metrics["prior_latent_reconstruction"] == 0.0
    assert metrics["latent_mean_norm"] == pytest.approx(np.linalg.norm(mean))
    assert metrics["latent_covariance_error"] == pytest.approx(
        np.linalg.norm(cov - np.eye(4)), rel=1e-5
    )
    assert metrics["fd_pixels"] == pytest.approx(
        frechet_distance(prior, codes), rel=1e-5
    )
    assert metrics["ex_post_fd_pixels"] == pytest.approx(
        frechet_distance(fitted, codes), rel=1e-5
    )
    # The prior is far from these codes; the fitted Gaussian is close.
    assert metrics["ex_post_fd_pixels"] < 0.1 * metrics["fd_pixels"]
    assert "fd_features" not in metrics


def test_image_grids_draw_every_panel():
    images = np.linspace(-1, 1, 30 * 8 * 8).reshape(30, 8, 8, 1)
    figure = evaluation.image_grids(
        {"real": images, "fake": images[:7, ..., 0]}, columns=5, rows=2
    )
    real, fake = figure.axes
    assert real.get_title() == "real" and fake.get_title() == "fake"
    # 2 rows of 5 images of 8 px, 1 px apart; 7 images fill 2 rows too.
    assert real.images[0].get_array().shape == (17, 44)
    assert fake.images[0].get_array().shape == (17, 44)
    with pytest.raises(ValueError, match="at least one"):
        evaluation.image_grids({})
    with pytest.raises(ValueError, match=r"panels\['bad'\] must be images"):
        evaluation.image_grids({"bad": np.zeros((3, 8))})
