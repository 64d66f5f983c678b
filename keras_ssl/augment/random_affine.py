import math

import tensorflow as tf

from keras_ssl.augment._geometry import batch_and_size
from keras_ssl.augment._geometry import check_fill_value
from keras_ssl.augment._geometry import to_index_coordinates
from keras_ssl.augment._geometry import warp
from keras_ssl.augment._images import check_images
from keras_ssl.augment._images import check_interval
from keras_ssl.core._checks import check_number


def random_affine(
    images,
    seed,
    rotation=180.0,
    translation=0.2,
    scale=(0.7, 1.3),
    shear=30.0,
    fill_value=128 / 255,
):
    """Warps every image by its own random affine map; returns its target.

    The AET-affine transformation of the official CIFAR code
    (`cifar/affine/dataset.py`), per image:

    - rotation `theta ~ U[-rotation, rotation]` degrees;
    - translation `tx ~ U[-translation W, translation W]` and `ty` the
      same with `H`, rounded to whole pixels (half to even, as NumPy);
    - isotropic scale `s ~ U[scale]`;
    - shear `phi ~ U[-shear, shear]` degrees;

    composed as torchvision 0.2.1's `affine` does
    (`_get_inverse_affine_matrix`): the forward map sends an input point
    `p` to `c + t + s R (p - c)` with
    `R = [[cos theta, -sin(theta + phi)], [sin theta, cos(theta + phi)]]`
    (the y axis turns by `theta + phi`), about the centre
    `c = (W / 2 + 0.5, H / 2 + 0.5)` in PIL coordinates (pixel centres at
    `i + 0.5`), i.e. `(W / 2, H / 2)` in pixel indices. Every output pixel
    samples the input bilinearly at the inverse map, and pixels that come
    from outside the image get `fill_value`, as PIL's `AFFINE` transform
    (tested against PIL). With `y` pointing down a positive `theta` turns
    the image clockwise on screen.

    The regression target (6-d) is the official normalisation
    `[cos theta, sin theta, tx / (translation W), ty / (translation H),
    (2 s - (low + high)) / (high - low), phi / shear]`; a component whose
    range is empty (`translation=0`, `low == high`, `shear=0`) is 0.
    Every component lies in `[-1, 1]`: where `translation * W` has a
    fractional part above one half, the rounded shift is clipped to its
    integer part (the official code could round it beyond the range and
    its target just past 1, out of reach of the tanh decoder).

    Stateless: the same `seed` gives the same maps. Use it in `tf.data`.

    Args:
        images: `(batch, height, width, channels)` tensor, typically in
            `[0, 1]`.
        seed: shape-`(2,)` integer tensor (a stateless seed).
        rotation: float in `[0, 180]`, the largest rotation in degrees
            (official `--rot 180`).
        translation: float in `[0, 1]`, the largest shift as a fraction
            of the side (official `--translate 0.2`).
        scale: `(low, high)`, `0 < low <= high` (official `--shrink 0.7`,
            `--enlarge 1.3`).
        shear: float in `[0, 90)`, the largest shear in degrees (official
            `--shear 30`).
        fill_value: the value of pixels from outside the image. Default
            `128 / 255`, the official fill colour (128, 128, 128) on
            images in `[0, 1]`.

    Returns:
        `(warped, target)`: float32 images of the input's shape, and the
        float32 target of shape `(batch, 6)`.

    Raises:
        ValueError: for an argument out of range or images of another
            rank.

    Example:

    ```python
    import numpy as np
    import tensorflow as tf
    from keras_ssl.augment import random_affine

    images = np.random.default_rng(0).random((4, 16, 16, 1), "float32")
    warped, target = random_affine(images, seed=tf.constant([0, 1]))
    warped.shape, target.shape  # (4, 16, 16, 1), (4, 6)
    ```

    Reference:
        Zhang, Qi, Wang & Luo, "AET vs. AED: Unsupervised Representation
        Learning by Auto-Encoding Transformations rather than Data",
        CVPR 2019; official code `maple-research-lab/AET`.
    """
    images = tf.cast(check_images(images), tf.float32)
    fill_value = check_fill_value(fill_value)
    shape = tf.shape(images)[:3]
    parameters = affine_parameters(
        shape, seed, rotation, translation, scale, shear
    )
    transforms = to_index_coordinates(_inverse_matrix(shape, parameters))
    return warp(images, transforms, fill_value), parameters["target"]


def affine_parameters(shape, seed, rotation, translation, scale, shear):
    """The sampled parameters of `random_affine`, and its target.

    Args:
        shape: `(batch, height, width)` of the images.
        seed, rotation, translation, scale, shear: as for `random_affine`.

    Returns:
        A dict of float64 `(batch,)` tensors `angle`, `shear` (degrees),
        `tx`, `ty` (pixels), `scale`, and the float32 `target`.
    """
    rotation = _check_degrees(rotation, "rotation", 180.0, inclusive=True)
    translation = check_number(translation, "translation", "in [0, 1]")
    low, high = check_interval(scale, "scale", "> 0")
    shear = _check_degrees(shear, "shear", 90.0, inclusive=False)
    batch, height, width = batch_and_size(shape)
    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 5))

    def uniform(index, bound_low, bound_high):
        return tf.random.stateless_uniform(
            (batch,), seeds[index], bound_low, bound_high, dtype=tf.float64
        )

    angle = uniform(0, -rotation, rotation)
    max_dx, max_dy = translation * width, translation * height
    tx = tf.clip_by_value(
        tf.round(uniform(1, -1.0, 1.0) * max_dx),
        -tf.floor(max_dx),
        tf.floor(max_dx),
    )
    ty = tf.clip_by_value(
        tf.round(uniform(2, -1.0, 1.0) * max_dy),
        -tf.floor(max_dy),
        tf.floor(max_dy),
    )
    s = uniform(3, low, high)
    phi = uniform(4, -shear, shear)
    radians = angle * (math.pi / 180.0)
    target = tf.stack(
        [
            tf.cos(radians),
            tf.sin(radians),
            tf.math.divide_no_nan(tx, max_dx),
            tf.math.divide_no_nan(ty, max_dy),
            (2.0 * s - (low + high)) / (high - low) if high > low else 0 * s,
            phi / shear if shear > 0 else 0 * phi,
        ],
        axis=1,
    )
    return {
        "angle": angle,
        "tx": tx,
        "ty": ty,
        "scale": s,
        "shear": phi,
        "target": tf.cast(target, tf.float32),
    }


def _inverse_matrix(shape, parameters):
    """torchvision 0.2.1 `_get_inverse_affine_matrix`, batched: the
    output -> input map in PIL coordinates, as `(batch, 8)` rows."""
    _, height, width = batch_and_size(shape)
    cx, cy = width * 0.5 + 0.5, height * 0.5 + 0.5
    angle = parameters["angle"] * (math.pi / 180.0)
    phi = parameters["shear"] * (math.pi / 180.0)
    factor = 1.0 / parameters["scale"] / tf.cos(phi)  # det(R) = cos(phi)
    a = factor * tf.cos(angle + phi)
    b = factor * tf.sin(angle + phi)
    d = -factor * tf.sin(angle)
    e = factor * tf.cos(angle)
    ox = -cx - parameters["tx"]
    oy = -cy - parameters["ty"]
    c = a * ox + b * oy + cx
    f = d * ox + e * oy + cy
    zeros = tf.zeros_like(a)
    return tf.stack([a, b, c, d, e, f, zeros, zeros], axis=1)


def _check_degrees(value, name, limit, inclusive):
    value = check_number(value, name, ">= 0")
    if value > limit or (value == limit and not inclusive):
        interval = f"[0, {limit:g}]" if inclusive else f"[0, {limit:g})"
        raise ValueError(
            f"{name} must be a number of degrees in {interval}; got {value!r}"
        )
    return value
