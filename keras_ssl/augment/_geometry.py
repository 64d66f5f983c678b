"""Warps with known parameters, shared by the AET samplers (private).

Coordinates: `x` runs along the width (columns), `y` along the height
(rows). PIL, and so the official AET code, puts pixel centres at
`i + 0.5` ("PIL coordinates"); `tf.raw_ops.ImageProjectiveTransformV3`
puts them at `i` ("index coordinates"). Both map an *output* point to
the *input* point it is sampled from (tested in
`tests/augment/test_geometry.py`).
"""

import math
import numbers

import tensorflow as tf


def warp(images, transforms, fill_value):
    """Samples every image at its own output -> input projective map.

    Args:
        images: float32 `(batch, height, width, channels)`.
        transforms: `(batch, 8)` rows `[a, b, c, d, e, f, g, h]` in index
            coordinates: the output pixel `(x, y)` reads the input at
            `((a x + b y + c) / k, (d x + e y + f) / k)`,
            `k = g x + h y + 1`.
        fill_value: the value of output pixels that fall outside.

    Returns:
        The warped images (bilinear), same shape.
    """
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=tf.cast(transforms, tf.float32),
        output_shape=tf.shape(images)[1:3],
        fill_value=tf.cast(fill_value, tf.float32),
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )


def to_index_coordinates(coefficients):
    """`(batch, 8)` PIL-coordinate maps as index-coordinate maps.

    A map `M` between PIL coordinates becomes `T(-1/2) M T(1/2)` between
    index coordinates (`T(v)` adds `v` to both axes), rescaled so that its
    last entry is 1.
    """
    coefficients = tf.cast(coefficients, tf.float64)
    ones = tf.ones_like(coefficients[:, :1])
    matrices = tf.reshape(tf.concat([coefficients, ones], 1), (-1, 3, 3))
    half = tf.constant([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
    back = tf.constant([[1.0, 0.0, -0.5], [0.0, 1.0, -0.5], [0.0, 0.0, 1.0]])
    matrices = tf.cast(back, tf.float64) @ matrices @ tf.cast(half, tf.float64)
    matrices = matrices / matrices[:, 2:, 2:]
    return tf.reshape(matrices, (-1, 9))[:, :8]


def batch_and_size(shape):
    """`(batch, height, width)` from `(batch, height, width, ...)`: the
    batch as an int32 scalar, the sides as float64 scalars."""
    shape = tf.cast(tf.convert_to_tensor(shape)[:3], tf.int32)
    height, width = tf.cast(shape[1], tf.float64), tf.cast(shape[2], tf.float64)
    return shape[0], height, width


def check_fill_value(value):
    """`float(value)` for a finite number; else a ValueError."""
    if (
        not isinstance(value, numbers.Real)
        or isinstance(value, bool)
        or not math.isfinite(value)
    ):
        raise ValueError(f"fill_value must be a finite number; got {value!r}")
    return float(value)
