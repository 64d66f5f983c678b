import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.augment import color_permutations
from keras_ssl.augment import rotations


def _images(channels=1, size=5):
    rng = np.random.default_rng(0)
    return rng.random((3, size, size, channels)).astype("float32")


@pytest.mark.parametrize("num_rotations, turns", [(4, 1), (2, 2), (1, 4)])
def test_rotations_are_exact_image_major_copies(num_rotations, turns):
    images = _images(channels=2)
    copies, labels = rotations(images, num_rotations)
    copies, labels = np.asarray(copies), np.asarray(labels)
    assert copies.shape == (3 * num_rotations, 5, 5, 2)
    assert labels.dtype == np.int32
    np.testing.assert_array_equal(labels, np.tile(np.arange(num_rotations), 3))
    for i in range(3):
        for j in range(num_rotations):
            # Counter-clockwise, as np.rot90 and SLA's torch.rot90(x, k,
            # (2, 3)) on NCHW images.
            expected = np.rot90(images[i], j * turns, axes=(0, 1))
            np.testing.assert_array_equal(
                copies[i * num_rotations + j], expected
            )


def test_rotations_run_in_a_tf_data_map():
    images = _images()
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(2).map(rotations)
    batches = list(dataset)
    assert [b[0].shape[0] for b in batches] == [8, 4]
    np.testing.assert_array_equal(batches[1][0][1], np.rot90(images[2]))


def test_a_corner_marker_lands_in_a_different_corner_per_rotation():
    marked = np.zeros((1, 6, 6, 1), "float32")
    marked[0, 0, 0] = 1.0
    copies, _ = rotations(marked)
    corners = [tuple(np.argwhere(np.asarray(c)[..., 0])[0]) for c in copies]
    assert corners == [(0, 0), (5, 0), (5, 5), (0, 5)]


@pytest.mark.parametrize(
    "num_permutations, orders",
    [
        (
            6,
            [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]],
        ),
        (3, [[0, 1, 2], [1, 2, 0], [2, 0, 1]]),
    ],
)
def test_color_permutations_follow_the_official_order(num_permutations, orders):
    images = _images(channels=3)
    copies, labels = color_permutations(images, num_permutations)
    copies = np.asarray(copies)
    np.testing.assert_array_equal(
        labels, np.tile(np.arange(num_permutations), 3)
    )
    for i in range(3):
        for j, order in enumerate(orders):
            np.testing.assert_array_equal(
                copies[i * num_permutations + j], images[i][..., order]
            )


def test_rotations_then_permutations_give_slas_combined_order():
    # rot_color_perm12: for each rotation k, the 3 cyclic permutations.
    images = _images(channels=3)
    rotated, _ = rotations(images)
    copies, _ = color_permutations(rotated, 3)
    copies = np.asarray(copies)
    cyclic = [[0, 1, 2], [1, 2, 0], [2, 0, 1]]
    for i in range(3):
        for k in range(4):
            for p, order in enumerate(cyclic):
                np.testing.assert_array_equal(
                    copies[i * 12 + k * 3 + p],
                    np.rot90(images[i], k)[..., order],
                )


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: rotations(_images(), 3), "num_rotations must be one of"),
        (lambda: rotations(_images(), 0), "num_rotations must be an integer"),
        (lambda: rotations(np.zeros((2, 4, 5, 1))), "square images"),
        (lambda: rotations(np.zeros((4, 4, 1))), "images must have shape"),
        (lambda: color_permutations(_images(), 6), "3 channels"),
        (
            lambda: color_permutations(_images(channels=3), 2),
            "num_permutations must be one of",
        ),
    ],
)
def test_bad_arguments_are_rejected(call, match):
    with pytest.raises(ValueError, match=match):
        call()
