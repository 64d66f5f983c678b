"""The stateless view augmentations MoCo and PCL use (keras_ssl.augment)."""

import colorsys

import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.augment import random_color_jitter
from keras_ssl.augment import random_erasing
from keras_ssl.augment import random_flip
from keras_ssl.augment import random_gaussian_blur
from keras_ssl.augment import random_grayscale
from keras_ssl.augment import random_resized_crop

SEED = tf.constant([3, 4])


def _rgb(count=64, size=8, low=0.0, high=1.0):
    rng = np.random.default_rng(0)
    return rng.uniform(low, high, (count, size, size, 3)).astype("float32")


def test_random_erasing_zeroes_one_square_per_image():
    images = np.ones((64, 8, 9, 1), "float32")
    erased = np.asarray(random_erasing(images, 3, SEED))[..., 0]
    corners = set()
    for image in erased:
        rows, columns = np.nonzero(image == 0)
        assert len(rows) == 9
        assert (
            rows.max() - rows.min() == 2 and columns.max() - columns.min() == 2
        )
        corners.add((rows.min(), columns.min()))
    # Corners cover the whole valid range (0..5 by 0..6).
    assert {r for r, _ in corners} == set(range(6))
    assert {c for _, c in corners} == set(range(7))
    np.testing.assert_array_equal(
        erased, random_erasing(images, 3, SEED)[..., 0]
    )
    np.testing.assert_array_equal(random_erasing(images, 0, SEED), images)


def test_random_flip_mirrors_about_half_the_images():
    images = _rgb()
    out = np.asarray(random_flip(images, SEED))
    flipped = [
        np.array_equal(o, i[:, ::-1]) for o, i in zip(out, images, strict=True)
    ]
    kept = [np.array_equal(o, i) for o, i in zip(out, images, strict=True)]
    assert all(f or k for f, k in zip(flipped, kept, strict=True))
    assert 16 < sum(flipped) < 48


def test_random_grayscale_uses_luma_with_the_given_probability():
    images = _rgb(count=400)
    out = np.asarray(random_grayscale(images, 0.2, SEED))
    grey = np.array([np.allclose(o, o[..., :1]) for o in out])
    assert 0.14 < grey.mean() < 0.26
    luma = images @ np.array([0.2989, 0.587, 0.114], "float32")
    np.testing.assert_allclose(out[grey][..., 0], luma[grey], atol=1e-3)
    np.testing.assert_array_equal(out[~grey], images[~grey])


def test_color_jitter_brightness_scales_each_image_by_one_factor():
    images = _rgb(low=0.1, high=0.5)  # no clipping at factors <= 1.4
    out = np.asarray(random_color_jitter(images, 0.4, 0, 0, 0, SEED))
    factors = out / images
    per_image = factors.reshape(len(images), -1)
    np.testing.assert_allclose(
        per_image, np.broadcast_to(per_image[:, :1], per_image.shape), rtol=1e-4
    )
    assert per_image.min() >= 0.6 - 1e-4 and per_image.max() <= 1.4 + 1e-4
    assert per_image[:, 0].std() > 0.1  # a factor per image


def test_color_jitter_hue_keeps_saturation_and_value():
    images = _rgb(count=8, size=4, low=0.1, high=0.9)
    out = np.asarray(random_color_jitter(images, 0, 0, 0, 0.3, SEED))
    before = np.array(
        [colorsys.rgb_to_hsv(*p) for p in images.reshape(-1, 3)]
    ).reshape(8, -1, 3)
    after = np.array(
        [colorsys.rgb_to_hsv(*p) for p in out.reshape(-1, 3)]
    ).reshape(8, -1, 3)
    np.testing.assert_allclose(after[..., 1:], before[..., 1:], atol=1e-3)
    shift = (after[..., 0] - before[..., 0]) % 1.0
    shift = np.where(shift > 0.5, shift - 1, shift)  # the signed rotation
    np.testing.assert_allclose(
        shift, np.broadcast_to(shift[:, :1], shift.shape), atol=2e-3
    )
    assert np.abs(shift).max() <= 0.3 + 2e-3 and np.abs(shift).max() > 0.05


def test_color_jitter_contrast_and_saturation_blend_towards_grey():
    images = _rgb(count=16, low=0.3, high=0.6)
    luma = images @ np.array([0.2989, 0.587, 0.114], "float32")
    out = np.asarray(random_color_jitter(images, 0, 0.4, 0, 0, SEED))
    mean = luma.mean(axis=(1, 2))[:, None, None, None]
    factor = (out - mean) / (images - mean)
    per_image = factor.reshape(16, -1)
    median = np.median(per_image, 1, keepdims=True)
    np.testing.assert_allclose(
        per_image, np.broadcast_to(median, per_image.shape), rtol=1e-2
    )
    out = np.asarray(random_color_jitter(images, 0, 0, 0.4, 0, SEED))
    # Saturation keeps the grey value of every pixel.
    out_luma = out @ np.array([0.2989, 0.587, 0.114], "float32")
    np.testing.assert_allclose(out_luma, luma, atol=2e-3)


def test_color_jitter_probability_leaves_the_others_alone():
    images = _rgb(count=200)
    out = np.asarray(
        random_color_jitter(images, 0.4, 0.4, 0.4, 0.1, SEED, probability=0.8)
    )
    same = np.array(
        [np.array_equal(o, i) for o, i in zip(out, images, strict=True)]
    )
    assert 0.12 < same.mean() < 0.3


def test_random_resized_crop_covers_a_random_box():
    ramp = np.tile(np.linspace(0, 1, 16, dtype="float32"), (16, 1))
    images = np.repeat(ramp[None, :, :, None], 200, axis=0)
    out = np.asarray(random_resized_crop(images, SEED))[..., 0]
    assert out.shape == (200, 16, 16)
    widths = out[:, 0, -1] - out[:, 0, 0]  # box width as a fraction
    # Area 0.2..1 and aspect 3/4..4/3: widths sqrt(0.15) .. 1.
    assert widths.min() >= np.sqrt(0.2 * 0.75) - 0.02
    assert widths.max() <= 1.0 + 1e-5 and widths.std() > 0.1
    # Inside the image, and each row is the same linear ramp.
    assert out.min() >= 0 and out.max() <= 1
    np.testing.assert_allclose(out, out[:, :1, :].repeat(16, 1), atol=1e-5)
    full = random_resized_crop(images[:4], SEED, scale=(1, 1), ratio=(1, 1))
    np.testing.assert_allclose(full, images[:4], atol=1e-5)


def test_gaussian_blur_smooths_keeps_constants_and_sometimes_skips():
    constant = np.full((50, 12, 12, 3), 0.7, "float32")
    np.testing.assert_allclose(
        random_gaussian_blur(constant, SEED, probability=1.0),
        constant,
        atol=1e-5,
    )
    images = _rgb(count=50, size=12)
    out = np.asarray(random_gaussian_blur(images, SEED, sigma=(1.0, 2.0)))
    blurred = np.array(
        [not np.array_equal(o, i) for o, i in zip(out, images, strict=True)]
    )
    assert 0.3 < blurred.mean() < 0.7
    assert out[blurred].std() < 0.6 * images[blurred].std()
    # A tiny sigma is the identity.
    sharp = random_gaussian_blur(
        images, SEED, sigma=(0.01, 0.01), probability=1
    )
    np.testing.assert_allclose(sharp, images, atol=1e-5)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: random_erasing(_rgb(), -1, SEED), "size must be an integer"),
        (lambda: random_grayscale(_rgb()[..., :1], 0.2, SEED), "3 channels"),
        (lambda: random_flip(_rgb(), SEED, probability=2), "probability"),
        (lambda: random_color_jitter(_rgb(), 0, 0, 0, 0.6, SEED), "hue"),
        (lambda: random_resized_crop(_rgb(), SEED, scale=(0.5, 2)), "scale"),
        (lambda: random_gaussian_blur(_rgb(), SEED, sigma=(2, 1)), "sigma"),
        (lambda: random_erasing(np.zeros((3, 3)), 1, SEED), "images must"),
    ],
)
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()
