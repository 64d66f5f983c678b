import tensorflow as tf

from keras_ssl.augment._geometry import batch_and_size
from keras_ssl.augment._geometry import check_fill_value
from keras_ssl.augment._geometry import to_index_coordinates
from keras_ssl.augment._geometry import warp
from keras_ssl.augment._images import check_images
from keras_ssl.augment._images import check_interval
from keras_ssl.core._checks import check_integer

# The official CIFAR-10 target normalisation (`cifar/projective/main.py`,
# computed for 32x32 images and a corner shift of 4 by `get_mean_std.py`).
PROJECTIVE_TARGET_MEAN = (0.0, 0.0, 16.0, 0.0, 0.0, 16.0, 0.0, 0.0)
PROJECTIVE_TARGET_STD = (1.0, 1.0, 20.0, 1.0, 1.0, 20.0, 0.015, 0.015)


def random_projective(
    images,
    seed,
    corner_scale=(0.8, 1.2),
    corner_shift=4,
    target_mean=PROJECTIVE_TARGET_MEAN,
    target_std=PROJECTIVE_TARGET_STD,
    fill_value=128 / 255,
):
    """Warps every image by its own random homography; returns its target.

    The AET-project transformation of the official CIFAR code
    (`cifar/projective/dataset.py`), per image: the four image corners
    `(0, 0), (W, 0), (W, H), (0, H)` (PIL coordinates, pixel centres at
    `i + 0.5`) are scaled by `s ~ U[corner_scale]` about the centre
    `(W / 2 + 0.5, H / 2 + 0.5)`, shifted cyclically by `k ~ U{0, 1, 2, 3}`
    places (the output corner `i` takes the scaled corner `(i + k) mod 4`,
    a rotation by a multiple of 90 degrees), and every one of their 8
    coordinates moves by its own integer `U{-corner_shift, ...,
    corner_shift}` pixels. The 8 coefficients `(a, b, c, d, e, f, g, h)`
    of the homography that maps these output corners onto the input
    corners are solved by least squares (`homography`), and the image is
    warped with them as PIL's `PERSPECTIVE` transform does: the output
    pixel `(x, y)` samples the input bilinearly at
    `((a x + b y + c) / k, (d x + e y + f) / k)`, `k = g x + h y + 1`, and
    pixels from outside get `fill_value` (tested against PIL).

    The regression target is `(coefficients - target_mean) / target_std`,
    the coefficients in PIL coordinates as the official code has them.
    The official constants suit 32x32 images and `corner_shift=4`; for
    another size or shift compute new ones with
    `projective_target_statistics`, as the official `get_mean_std.py`
    did.

    Stateless: the same `seed` gives the same homographies.

    Args:
        images: `(batch, height, width, channels)` tensor.
        seed: shape-`(2,)` integer tensor (a stateless seed).
        corner_scale: `(low, high)`, `0 < low <= high` (official
            `--shrink 0.8`, `--enlarge 1.2`).
        corner_shift: int >= 0, the largest corner shift in pixels
            (official `--shift 4`; the dataset class's default 6 is not
            what `main.py` passes).
        target_mean: 8 numbers (official CIFAR-10
            `(0, 0, 16, 0, 0, 16, 0, 0)`).
        target_std: 8 positive numbers (official CIFAR-10
            `(1, 1, 20, 1, 1, 20, 0.015, 0.015)`).
        fill_value: the value of pixels from outside the image. Default
            `128 / 255`, the official fill colour on images in `[0, 1]`.

    Returns:
        `(warped, target)`: float32 images of the input's shape and the
        float32 target of shape `(batch, 8)`.

    Raises:
        ValueError: for an argument out of range or images of another
            rank.

    Example:

    ```python
    import numpy as np
    import tensorflow as tf
    from keras_ssl.augment import random_projective

    images = np.random.default_rng(0).random((4, 32, 32, 3), "float32")
    warped, target = random_projective(images, seed=tf.constant([0, 1]))
    warped.shape, target.shape  # (4, 32, 32, 3), (4, 8)
    ```

    Reference:
        Zhang, Qi, Wang & Luo, "AET vs. AED: Unsupervised Representation
        Learning by Auto-Encoding Transformations rather than Data",
        CVPR 2019; official code `maple-research-lab/AET`.
    """
    images = tf.cast(check_images(images), tf.float32)
    mean = _check_eight(target_mean, "target_mean", positive=False)
    std = _check_eight(target_std, "target_std", positive=True)
    fill_value = check_fill_value(fill_value)
    parameters = projective_parameters(
        tf.shape(images)[:3], seed, corner_scale, corner_shift
    )
    coefficients = parameters["coefficients"]
    transforms = to_index_coordinates(coefficients)
    target = (coefficients - tf.constant(mean, tf.float64)) / tf.constant(
        std, tf.float64
    )
    return warp(images, transforms, fill_value), tf.cast(target, tf.float32)


def projective_parameters(shape, seed, corner_scale, corner_shift):
    """The sampled corners of `random_projective` and their homography.

    Args:
        shape: `(batch, height, width)` of the images.
        seed, corner_scale, corner_shift: as for `random_projective`.

    Returns:
        A dict of float64 tensors: `corners` `(batch, 4, 2)`, the output
        corners (PIL coordinates) that map onto the image corners
        `(0, 0), (W, 0), (W, H), (0, H)`; `coefficients` `(batch, 8)`,
        that map; and the draws `scale` `(batch,)`, `rotation` (int32
        `k`, `(batch,)`) and `shift` `(batch, 4, 2)`.
    """
    low, high = check_interval(corner_scale, "corner_scale", "> 0")
    corner_shift = check_integer(corner_shift, 0, "corner_shift")
    batch, height, width = batch_and_size(shape)
    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    scale = tf.random.stateless_uniform(
        (batch,), seeds[0], low, high, dtype=tf.float64
    )
    rotation = tf.random.stateless_uniform(
        (batch,), seeds[1], 0, 4, dtype=tf.int32
    )
    shift = tf.cast(
        tf.random.stateless_uniform(
            (batch, 4, 2),
            seeds[2],
            -corner_shift,
            corner_shift + 1,
            dtype=tf.int32,
        ),
        tf.float64,
    )
    image_corners = _image_corners(height, width)
    centre = tf.stack([width * 0.5 + 0.5, height * 0.5 + 0.5])
    scaled = centre + scale[:, None, None] * (image_corners - centre)
    order = (tf.range(4)[None, :] + rotation[:, None]) % 4
    corners = tf.gather(scaled, order, batch_dims=1) + shift
    coefficients = homography(
        corners, tf.broadcast_to(image_corners, tf.shape(corners))
    )
    return {
        "corners": corners,
        "coefficients": coefficients,
        "scale": scale,
        "rotation": rotation,
        "shift": shift,
    }


def homography(source, target):
    """The 8 projective coefficients mapping `source` points onto `target`.

    Least squares over the point pairs, the linearised equations the
    official `find_coeffs` solves (`x' (g x + h y + 1) = a x + b y + c`,
    and the same for `y'`) through the normal equations, in float64.
    With four points in general position the fit is exact.

    Args:
        source: `(batch, n, 2)` points `(x, y)`, `n >= 4`.
        target: `(batch, n, 2)` points they map to.

    Returns:
        float64 `(batch, 8)`: `(a, b, c, d, e, f, g, h)` with
        `x' = (a x + b y + c) / (g x + h y + 1)` and
        `y' = (d x + e y + f) / (g x + h y + 1)`.

    Example:

    ```python
    import numpy as np
    from keras_ssl.augment import homography

    square = np.array([[[0, 0], [1, 0], [1, 1], [0, 1]]], "float64")
    homography(square, 2 * square + 3)  # [[2, 0, 3, 0, 2, 3, 0, 0]]
    ```
    """
    source = tf.cast(source, tf.float64)
    target = tf.cast(target, tf.float64)
    x, y = source[..., 0], source[..., 1]
    u, v = target[..., 0], target[..., 1]
    zeros, ones = tf.zeros_like(x), tf.ones_like(x)
    rows_u = tf.stack([x, y, ones, zeros, zeros, zeros, -u * x, -u * y], -1)
    rows_v = tf.stack([zeros, zeros, zeros, x, y, ones, -v * x, -v * y], -1)
    system = tf.concat([rows_u, rows_v], axis=1)
    values = tf.concat([u, v], axis=1)[..., None]
    solution = tf.linalg.lstsq(system, values, fast=True)
    return solution[..., 0]


def projective_target_statistics(
    height=32,
    width=32,
    corner_scale=(0.8, 1.2),
    corner_shift=4,
    num_samples=100_000,
    seed=0,
):
    """Mean and standard deviation of `random_projective`'s coefficients.

    What the official `get_mean_std.py` computed (over 500,000 draws)
    before its constants were rounded into `main.py`: the per-coefficient
    mean and (population) standard deviation of the homographies drawn
    for `height x width` images. Use them as `target_mean` /
    `target_std` for images of another size or another `corner_shift`.

    Returns:
        `(mean, std)`, two tuples of 8 floats.

    Example:

    ```python
    from keras_ssl.augment import projective_target_statistics

    mean, std = projective_target_statistics(16, 16, corner_shift=2)
    ```
    """
    num_samples = check_integer(num_samples, 1, "num_samples")
    height = check_integer(height, 1, "height")
    width = check_integer(width, 1, "width")
    coefficients = projective_parameters(
        (num_samples, height, width),
        tf.constant([seed, 0]),
        corner_scale,
        corner_shift,
    )["coefficients"]
    mean = tf.reduce_mean(coefficients, axis=0).numpy()
    std = tf.math.reduce_std(coefficients, axis=0).numpy()
    return tuple(float(m) for m in mean), tuple(float(s) for s in std)


def _image_corners(height, width):
    zero = tf.zeros((), tf.float64)
    return tf.stack(
        [
            tf.stack([zero, zero]),
            tf.stack([width, zero]),
            tf.stack([width, height]),
            tf.stack([zero, height]),
        ]
    )


def _check_eight(values, name, positive):
    try:
        entries = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        entries = ()
    rule = "positive " if positive else ""
    if len(entries) != 8 or (positive and min(entries) <= 0):
        raise ValueError(
            f"{name} must be 8 {rule}numbers, one per coefficient "
            f"(a, b, c, d, e, f, g, h); got {values!r}"
        )
    return entries
