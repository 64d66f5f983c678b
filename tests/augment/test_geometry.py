"""The AET samplers: parameters -> matrix -> warp -> recovered parameters.

References are independent of the code under test: PIL's `AFFINE` and
`PERSPECTIVE` transforms (what the official AET code warps with), the
torchvision 0.2.1 matrix written out in NumPy, NumPy least squares, and
the official `get_mean_std.py` procedure.
"""

import math

import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.augment import homography
from keras_ssl.augment import projective_target_statistics
from keras_ssl.augment import random_affine
from keras_ssl.augment import random_projective
from keras_ssl.augment.random_affine import affine_parameters
from keras_ssl.augment.random_projective import PROJECTIVE_TARGET_MEAN
from keras_ssl.augment.random_projective import PROJECTIVE_TARGET_STD
from keras_ssl.augment.random_projective import projective_parameters

Image = pytest.importorskip("PIL.Image")

SEED = tf.constant([3, 7])


def decode_affine(target, size, translation=0.2, scale=(0.7, 1.3), shear=30):
    """Parameters from the official 6-d target (the inverse of its
    normalisation, written from the note)."""
    low, high = scale
    return {
        "angle": math.degrees(math.atan2(target[1], target[0])),
        "tx": target[2] * translation * size,
        "ty": target[3] * translation * size,
        "scale": (target[4] * (high - low) + low + high) / 2,
        "shear": target[5] * shear,
    }


def torchvision_inverse_matrix(size, p):
    """torchvision 0.2.1 `_get_inverse_affine_matrix` with the official
    centre `(W / 2 + 0.5, H / 2 + 0.5)`, in PIL coordinates."""
    centre = np.array([size * 0.5 + 0.5, size * 0.5 + 0.5])
    a, s = math.radians(p["angle"]), math.radians(p["shear"])
    forward = p["scale"] * np.array(
        [[math.cos(a), -math.sin(a + s)], [math.sin(a), math.cos(a + s)]]
    )
    inverse = np.linalg.inv(forward)
    offset = centre - inverse @ (centre + np.array([p["tx"], p["ty"]]))
    return np.concatenate([inverse, offset[:, None]], 1).ravel()


def pil_warp(image, kind, coefficients, fill):
    method = Image.AFFINE if kind == "affine" else Image.PERSPECTIVE
    picture = Image.fromarray(image.astype("float32"), mode="F")
    size = picture.size
    out = picture.transform(
        size, method, tuple(coefficients), Image.BILINEAR, fillcolor=fill
    )
    return np.asarray(out)


def index_coordinates(coefficients, size):
    """Where every output pixel samples the input, in pixel indices, for
    an output -> input map given in PIL coordinates (8 coefficients)."""
    a, b, c, d, e, f, g, h = list(coefficients) + [0.0] * (
        8 - len(coefficients)
    )
    y, x = np.mgrid[0:size, 0:size] + 0.5
    k = g * x + h * y + 1
    return (a * x + b * y + c) / k - 0.5, (d * x + e * y + f) / k - 0.5


def smooth_images(count, size, seed=0):
    """Smooth random images (a few low-frequency waves)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    images = np.zeros((count, size, size, 1), "float32")
    for n in range(count):
        for _ in range(4):
            fx, fy, phase = rng.uniform(0.5, 3, 2).tolist() + [
                rng.uniform(0, 6)
            ]
            images[n, ..., 0] += np.sin(2 * np.pi * (fx * x + fy * y) + phase)
    return images


def blob_images(points, size, sigma=1.2):
    """One Gaussian blob per channel at the given `(x, y)` pixel indices."""
    y, x = np.mgrid[0:size, 0:size]
    channels = [
        np.exp(-((x - px) ** 2 + (y - py) ** 2) / (2 * sigma**2))
        for px, py in points
    ]
    return np.stack(channels, -1)[None].astype("float32")


def centroids(image):
    """The intensity centroid `(x, y)` of every channel."""
    y, x = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
    weights = image / image.sum(axis=(0, 1))
    return np.stack(
        [
            (weights * x[..., None]).sum((0, 1)),
            (weights * y[..., None]).sum((0, 1)),
        ],
        -1,
    )


# ----------------------------------------------------------------------
# Affine
# ----------------------------------------------------------------------
def test_affine_warp_is_the_official_pil_warp_with_torchvision_semantics():
    size = 32
    images = smooth_images(16, size)
    warped, target = random_affine(images, SEED, fill_value=0.25)
    warped, target = np.asarray(warped), np.asarray(target)
    compared = 0
    for image, out, row in zip(images, warped, target, strict=True):
        matrix = torchvision_inverse_matrix(size, decode_affine(row, size))
        expected = pil_warp(image[..., 0], "affine", matrix, 0.25)
        x_in, y_in = index_coordinates(matrix, size)
        inside = (x_in >= 0) & (x_in <= size - 1) & (y_in >= 0)
        inside &= y_in <= size - 1
        outside = (x_in < -1) | (x_in > size) | (y_in < -1) | (y_in > size)
        np.testing.assert_allclose(
            out[..., 0][inside], expected[inside], atol=2e-4
        )
        np.testing.assert_allclose(out[..., 0][outside], 0.25)
        compared += inside.sum()
    assert compared > 16 * size * size / 3


def test_affine_parameters_are_recovered_from_warped_points():
    # Four blobs around the centre of a 64x64 image; each image of the
    # batch gets its own map. Least squares on the blob centroids gives
    # the forward map, and from it rotation, scale, shear and shift.
    size = 64
    points = [(24.0, 26.0), (40.0, 24.0), (38.0, 41.0), (25.0, 38.0)]
    images = np.repeat(blob_images(points, size), 12, axis=0)
    warped, target = random_affine(images, SEED, fill_value=0.0)
    # Pixel indices of the PIL centre (W / 2 + 0.5) are W / 2.
    centre = np.array([size / 2, size / 2])
    source = np.array(points)
    for out, row in zip(np.asarray(warped), np.asarray(target), strict=True):
        expected = decode_affine(row, size)
        found = centroids(out)
        design = np.concatenate([source - centre, np.ones((4, 1))], 1)
        solution, *_ = np.linalg.lstsq(design, found - centre, rcond=None)
        linear, shift = solution[:2].T, solution[2]
        angle = math.degrees(math.atan2(linear[1, 0], linear[0, 0]))
        scale = math.hypot(linear[0, 0], linear[1, 0])
        turned = math.degrees(math.atan2(-linear[0, 1], linear[1, 1]))
        shear = (turned - angle + 180) % 360 - 180
        assert (angle - expected["angle"] + 180) % 360 - 180 == pytest.approx(
            0, abs=1.0
        )
        assert scale == pytest.approx(expected["scale"], abs=0.02)
        assert shear == pytest.approx(expected["shear"], abs=1.5)
        np.testing.assert_allclose(
            shift, [expected["tx"], expected["ty"]], atol=0.15
        )


@pytest.mark.parametrize("size", [16, 28, 32])
def test_affine_targets_lie_in_the_unit_box_and_fill_their_ranges(size):
    # 0.2 * 28 = 5.6 rounds up to 6 > 5.6: the clipped shift keeps the
    # target within [-1, 1].
    images = np.zeros((2000, size, size, 1), "float32")
    parameters = affine_parameters(
        tf.shape(images)[:3], SEED, 180.0, 0.2, (0.7, 1.3), 30.0
    )
    target = np.asarray(parameters["target"])
    assert np.all(np.abs(target) <= 1.0 + 1e-6)
    # Every component uses its range; the shifts are whole pixels.
    assert np.all(np.abs(target).max(axis=0) > 0.85)
    shifts = np.asarray(parameters["tx"])
    np.testing.assert_array_equal(shifts, np.round(shifts))
    assert np.abs(shifts).max() == math.floor(0.2 * size)
    np.testing.assert_allclose(
        np.hypot(target[:, 0], target[:, 1]), 1.0, atol=1e-6
    )
    angle = np.asarray(parameters["angle"])
    np.testing.assert_allclose(
        target[:, 4], (np.asarray(parameters["scale"]) - 1) / 0.3, atol=1e-5
    )
    np.testing.assert_allclose(
        target[:, 5], np.asarray(parameters["shear"]) / 30, atol=1e-6
    )
    assert angle.min() < -170 and angle.max() > 170


def test_affine_identity_ranges_leave_images_unchanged():
    images = smooth_images(4, 16)
    warped, target = random_affine(
        images, SEED, rotation=0, translation=0, scale=(1, 1), shear=0
    )
    np.testing.assert_allclose(np.asarray(warped), images, atol=1e-5)
    np.testing.assert_allclose(
        np.asarray(target), np.tile([[1, 0, 0, 0, 0, 0]], (4, 1)), atol=1e-7
    )


# ----------------------------------------------------------------------
# Projective
# ----------------------------------------------------------------------
def test_projective_coefficients_reproduce_the_corner_correspondences():
    size = 32
    parameters = projective_parameters((500, size, size), SEED, (0.8, 1.2), 4)
    corners = np.asarray(parameters["corners"])
    h = np.asarray(parameters["coefficients"])
    image_corners = np.array([[0, 0], [size, 0], [size, size], [0, size]])
    x, y = corners[..., 0], corners[..., 1]
    k = h[:, 6:7] * x + h[:, 7:8] * y + 1
    mapped = np.stack(
        [
            (h[:, 0:1] * x + h[:, 1:2] * y + h[:, 2:3]) / k,
            (h[:, 3:4] * x + h[:, 4:5] * y + h[:, 5:6]) / k,
        ],
        -1,
    )
    assert np.abs(mapped - image_corners).max() < 1e-3
    # The corners are the official construction: scaled about the PIL
    # centre, cyclically shifted by k, plus integer shifts in [-4, 4].
    centre = size / 2 + 0.5
    scale = np.asarray(parameters["scale"])[:, None, None]
    rotation = np.asarray(parameters["rotation"])
    scaled = centre + scale * (image_corners - centre)
    order = (np.arange(4)[None] + rotation[:, None]) % 4
    rolled = np.take_along_axis(scaled, order[..., None], axis=1)
    shift = corners - rolled
    np.testing.assert_allclose(shift, np.round(shift), atol=1e-9)
    assert set(np.round(shift).ravel().astype(int)) == set(range(-4, 5))
    assert set(rotation.tolist()) == {0, 1, 2, 3}
    assert 0.8 <= scale.min() < 0.81 and 1.19 < scale.max() <= 1.2


def test_homography_matches_numpy_least_squares_on_noisy_points():
    rng = np.random.default_rng(0)
    source = rng.uniform(0, 32, (5, 9, 2))
    true = np.array([1.1, 0.1, 2.0, -0.05, 0.9, -1.0, 0.004, -0.003])
    x, y = source[..., 0], source[..., 1]
    k = true[6] * x + true[7] * y + 1
    target = np.stack(
        [
            (true[0] * x + true[1] * y + true[2]) / k,
            (true[3] * x + true[4] * y + true[5]) / k,
        ],
        -1,
    ) + rng.normal(0, 0.05, source.shape)
    found = np.asarray(homography(source, target))
    for n in range(5):
        u, v = target[n, :, 0], target[n, :, 1]
        xs, ys = x[n], y[n]
        zeros, ones = np.zeros(9), np.ones(9)
        system = np.concatenate(
            [
                np.stack(
                    [xs, ys, ones, zeros, zeros, zeros, -u * xs, -u * ys], 1
                ),
                np.stack(
                    [zeros, zeros, zeros, xs, ys, ones, -v * xs, -v * ys], 1
                ),
            ]
        )
        expected, *_ = np.linalg.lstsq(
            system, np.concatenate([u, v]), rcond=None
        )
        np.testing.assert_allclose(found[n], expected, rtol=1e-6, atol=1e-9)


def test_projective_warp_is_the_official_pil_warp():
    size = 32
    images = smooth_images(16, size, seed=1)
    warped, target = random_projective(images, SEED, fill_value=0.25)
    coefficients = np.asarray(target, "float64") * np.array(
        PROJECTIVE_TARGET_STD
    ) + np.array(PROJECTIVE_TARGET_MEAN)
    compared = 0
    for image, out, h in zip(
        images, np.asarray(warped), coefficients, strict=True
    ):
        expected = pil_warp(image[..., 0], "projective", h, 0.25)
        x_in, y_in = index_coordinates(h, size)
        inside = (x_in >= 0) & (x_in <= size - 1) & (y_in >= 0)
        inside &= y_in <= size - 1
        outside = (x_in < -1) | (x_in > size) | (y_in < -1) | (y_in > size)
        # float32 target: the coefficients carry ~1e-6 relative error.
        np.testing.assert_allclose(
            out[..., 0][inside], expected[inside], atol=2e-3
        )
        np.testing.assert_allclose(out[..., 0][outside], 0.25)
        compared += inside.sum()
    assert compared > 16 * size * size / 3


def test_projective_homography_is_recovered_from_warped_points():
    # Blobs well inside a 64x64 image, mild corner shifts: the fitted
    # input -> output homography of the centroids inverts the sampled one.
    size = 64
    points = [(20, 20), (44, 21), (43, 44), (21, 42), (32, 31), (26, 35)]
    images = np.repeat(blob_images(points, size, sigma=1.0), 8, axis=0)
    mean, std = projective_target_statistics(size, size, (0.9, 1.1), 3, 1000)
    warped, target = random_projective(
        images, SEED, (0.9, 1.1), 3, mean, std, fill_value=0.0
    )
    coefficients = np.asarray(target, "float64") * std + np.array(mean)
    for out, h in zip(np.asarray(warped), coefficients, strict=True):
        # Pixel indices -> PIL coordinates (+0.5) for the fit.
        found = centroids(out) + 0.5
        source = np.array(points, "float64") + 0.5
        fitted = np.asarray(homography(found[None], source[None]))[0]

        # Both map output -> input; compare where they send the centroids.
        def apply(c, p):
            k = c[6] * p[:, 0] + c[7] * p[:, 1] + 1
            return np.stack(
                [
                    (c[0] * p[:, 0] + c[1] * p[:, 1] + c[2]) / k,
                    (c[3] * p[:, 0] + c[4] * p[:, 1] + c[5]) / k,
                ],
                1,
            )

        np.testing.assert_allclose(apply(h, found), source, atol=0.25)
        np.testing.assert_allclose(
            apply(fitted, found), apply(h, found), atol=0.3
        )


def test_target_statistics_follow_the_official_procedure():
    # get_mean_std.py's construction, at the official settings: the
    # translation coefficients average W / 2, the others 0.
    mean, std = projective_target_statistics(num_samples=20_000)
    np.testing.assert_allclose(mean, [0, 0, 16, 0, 0, 16, 0, 0], atol=0.2)
    # Measured (also by the official script's own construction, run
    # with NumPy): 0.76, 17.0, 0.0061; the official constants (1, 20,
    # 0.015) are rounded well above them.
    np.testing.assert_allclose(
        std,
        [0.764, 0.764, 17.02, 0.764, 0.764, 17.02, 0.0061, 0.0061],
        rtol=0.03,
    )
    targets = np.asarray(
        random_projective(
            np.zeros((4000, 32, 32, 1)), SEED, target_mean=mean, target_std=std
        )[1]
    )
    np.testing.assert_allclose(targets.mean(0), 0, atol=0.06)
    np.testing.assert_allclose(targets.std(0), 1, atol=0.06)


# ----------------------------------------------------------------------
# Statelessness and bad input
# ----------------------------------------------------------------------
@pytest.mark.parametrize("sampler", [random_affine, random_projective])
def test_samplers_are_stateless(sampler):
    images = smooth_images(6, 16)
    first = sampler(images, SEED)
    again = sampler(images, SEED)
    other = sampler(images, tf.constant([3, 8]))
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(first[1], other[1])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda x: random_affine(x, SEED, rotation=-1), "rotation must be"),
        (
            lambda x: random_affine(x, SEED, rotation=200),
            r"rotation must be a number of degrees in \[0, 180\]",
        ),
        (
            lambda x: random_affine(x, SEED, translation=1.5),
            r"translation must be a number in \[0, 1\]",
        ),
        (lambda x: random_affine(x, SEED, scale=(1.3, 0.7)), "scale must be"),
        (
            lambda x: random_affine(x, SEED, shear=90),
            r"shear must be a number of degrees in \[0, 90\)",
        ),
        (
            lambda x: random_affine(x, SEED, fill_value=None),
            "fill_value must be a finite number",
        ),
        (lambda x: random_affine(x[0], SEED), "images must have shape"),
        (
            lambda x: random_projective(x, SEED, corner_shift=1.5),
            "corner_shift must be an integer >= 0",
        ),
        (
            lambda x: random_projective(x, SEED, corner_scale=(0, 1)),
            "corner_scale must be",
        ),
        (
            lambda x: random_projective(x, SEED, target_mean=(0,) * 6),
            "target_mean must be 8 numbers",
        ),
        (
            lambda x: random_projective(x, SEED, target_std=(0,) * 8),
            "target_std must be 8 positive numbers",
        ),
    ],
)
def test_bad_arguments_are_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call(np.zeros((2, 8, 8, 1), "float32"))
