import numpy as np
import pytest

from keras_ssl.data import gaussian_noise
from keras_ssl.data import held_out_classes
from keras_ssl.data import uniform_noise


def test_uniform_noise_shape_range_and_moments():
    x = uniform_noise(2000, (8, 8, 1), seed=0, low=-1.0, high=3.0)
    assert x.shape == (2000, 8, 8, 1) and x.dtype == np.float32
    assert x.min() >= -1.0 and x.max() < 3.0
    assert abs(x.mean() - 1.0) < 0.02
    assert abs(x.std() - 4 / np.sqrt(12)) < 0.02


def test_gaussian_noise_shape_clip_and_moments():
    x = gaussian_noise(2000, (4, 4, 3), seed=0, mean=0.5, std=0.1)
    assert x.shape == (2000, 4, 4, 3) and x.dtype == np.float32
    assert abs(x.mean() - 0.5) < 0.01 and abs(x.std() - 0.1) < 0.01
    clipped = gaussian_noise(2000, (4,), mean=0.5, std=1.0)
    assert clipped.min() == 0.0 and clipped.max() == 1.0
    free = gaussian_noise(2000, (4,), mean=0.5, std=1.0, clip=None)
    assert free.min() < 0.0 and free.max() > 1.0


@pytest.mark.parametrize("noise", [uniform_noise, gaussian_noise])
def test_noise_seeds(noise):
    np.testing.assert_array_equal(
        noise(5, (3,), seed=1), noise(5, (3,), seed=1)
    )
    assert not np.array_equal(noise(5, (3,), seed=1), noise(5, (3,), seed=2))


def test_noise_errors():
    with pytest.raises(ValueError, match="n must"):
        uniform_noise(0, (3,))
    with pytest.raises(ValueError, match="shape"):
        gaussian_noise(3, (0, 2))
    with pytest.raises(ValueError, match="high must"):
        uniform_noise(3, (2,), low=1.0, high=1.0)
    with pytest.raises(ValueError, match="std"):
        gaussian_noise(3, (2,), std=-1.0)
    with pytest.raises(ValueError, match="clip"):
        gaussian_noise(3, (2,), clip=(1.0, 0.0))


def test_held_out_classes_split_and_remap():
    y = np.array([0, 5, 3, 5, 1, 3, 9])
    x = np.arange(len(y)) * 10
    (x_in, y_in), x_out = held_out_classes(x, y, in_classes=[5, 3])
    np.testing.assert_array_equal(x_in, [10, 20, 30, 50])
    np.testing.assert_array_equal(y_in, [0, 1, 0, 1])
    assert y_in.dtype == np.int32
    np.testing.assert_array_equal(x_out, [0, 40, 60])


def test_held_out_classes_errors():
    x, y = np.zeros((4, 2)), np.array([0, 1, 1, 2])
    with pytest.raises(ValueError, match="do not occur"):
        held_out_classes(x, y, [7])
    with pytest.raises(ValueError, match="repeat"):
        held_out_classes(x, y, [1, 1])
    with pytest.raises(ValueError, match="as long as x"):
        held_out_classes(x, y[:3], [1])
