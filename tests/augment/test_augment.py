import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.augment import random_noise
from keras_ssl.augment import random_shift


def _images():
    return np.random.default_rng(0).random((32, 6, 7, 2)).astype("float32")


def test_random_shift_moves_each_image_by_its_own_offset():
    images = _images()
    shifted = np.asarray(random_shift(images, 2, tf.constant([1, 2])))
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)))
    offsets = []
    for image, out in zip(padded, shifted, strict=True):
        matches = [
            (dy, dx)
            for dy in range(5)
            for dx in range(5)
            if np.array_equal(image[dy : dy + 6, dx : dx + 7], out)
        ]
        assert len(matches) == 1
        offsets.append(matches[0])
    # Offsets cover the whole range and differ between images.
    assert {dy for dy, _ in offsets} == set(range(5))
    assert len(set(offsets)) > 10


def test_random_shift_is_stateless():
    images = _images()
    a = random_shift(images, 1, tf.constant([3, 4]))
    b = random_shift(images, 1, tf.constant([3, 4]))
    c = random_shift(images, 1, tf.constant([3, 5]))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(
        random_shift(images, 0, tf.constant([0, 0])), images
    )


def test_random_noise_has_the_requested_scale():
    images = np.zeros((200, 10, 10, 1), "float32")
    noisy = np.asarray(random_noise(images, 0.3, tf.constant([0, 1])))
    assert noisy.std() == pytest.approx(0.3, rel=0.05)
    assert abs(noisy.mean()) < 0.01
    np.testing.assert_array_equal(
        noisy, random_noise(images, 0.3, tf.constant([0, 1]))
    )


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: random_shift(_images(), -1, [0, 0]), "max_shift must be >= 0"),
        (lambda: random_shift(_images(), 1.5, [0, 0]), "max_shift must be an"),
        (lambda: random_shift(np.zeros((3, 3)), 1, [0, 0]), "images must"),
        (lambda: random_noise(_images(), -0.1, [0, 0]), "stddev must be"),
    ],
)
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()
