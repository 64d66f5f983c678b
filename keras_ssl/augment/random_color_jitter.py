import tensorflow as tf

from keras_ssl.augment._images import check_images
from keras_ssl.augment._images import coin
from keras_ssl.augment._images import uniform
from keras_ssl.core._checks import check_number


def random_color_jitter(
    images, brightness, contrast, saturation, hue, seed, probability=1.0
):
    """Random brightness, contrast, saturation and hue, per image.

    torchvision's `ColorJitter` semantics on images in [0, 1]: brightness
    multiplies by a factor from `U[max(0, 1 - b), 1 + b]`; contrast blends
    with the image's mean grey value by a factor from
    `U[max(0, 1 - c), 1 + c]`; saturation blends with the grey image by a
    factor from `U[max(0, 1 - s), 1 + s]`; hue rotates the HSV hue by a
    draw from `U[-h, h]`; the result of each is clipped to [0, 1]. The
    four are applied in a random order drawn per image, as torchvision
    draws one per call. With `probability < 1` an image is jittered with
    that probability (MoCo v2's `RandomApply(..., p=0.8)`) and otherwise
    left alone. Stateless: the same `seed` gives the same images.

    Args:
        images: `(batch, height, width, 3)` RGB tensor in [0, 1].
        brightness: float >= 0.
        contrast: float >= 0.
        saturation: float >= 0.
        hue: float in [0, 0.5].
        seed: shape-`(2,)` integer tensor (a stateless seed).
        probability: float in [0, 1].

    Returns:
        Tensor of the same shape and dtype as `images`.

    Example:

    ```python
    import numpy as np
    import tensorflow as tf
    from keras_ssl.augment import random_color_jitter

    images = np.random.default_rng(0).random((4, 8, 8, 3), "float32")
    jittered = random_color_jitter(
        images, 0.4, 0.4, 0.4, 0.1, seed=tf.constant([0, 1])
    )
    ```
    """
    images = check_images(images, channels=3)
    amounts = [
        check_number(brightness, "brightness", ">= 0"),
        check_number(contrast, "contrast", ">= 0"),
        check_number(saturation, "saturation", ">= 0"),
    ]
    hue = check_number(hue, "hue", ">= 0")
    if hue > 0.5:
        raise ValueError(f"hue must be a number in [0, 0.5]; got {hue!r}")
    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 6))
    factors = [
        uniform(images, max(0.0, 1.0 - a), 1.0 + a, s)[:, None, None, None]
        for a, s in zip(amounts, seeds[:3], strict=True)
    ]
    shift = uniform(images, -hue, hue, seeds[3])[:, None, None]

    def grey(x):
        return tf.image.rgb_to_grayscale(x)

    def adjust_brightness(x):
        return x * factors[0]

    def adjust_contrast(x):
        mean = tf.reduce_mean(grey(x), axis=(1, 2, 3), keepdims=True)
        return factors[1] * x + (1.0 - factors[1]) * mean

    def adjust_saturation(x):
        return factors[2] * x + (1.0 - factors[2]) * grey(x)

    def adjust_hue(x):
        hsv = tf.image.rgb_to_hsv(x)
        rotated = tf.math.floormod(hsv[..., 0] + shift, 1.0)
        return tf.image.hsv_to_rgb(
            tf.stack([rotated, *tf.unstack(hsv, axis=-1)[1:]], -1)
        )

    adjustments = [
        adjust_brightness,
        adjust_contrast,
        adjust_saturation,
        adjust_hue,
    ]
    # A random order per image: the rank of four uniform draws.
    order = tf.argsort(
        tf.random.stateless_uniform((tf.shape(images)[0], 4), seeds[4]),
        axis=-1,
    )
    x = images
    for slot in range(4):
        candidates = tf.stack(
            [tf.clip_by_value(f(x), 0.0, 1.0) for f in adjustments], axis=1
        )
        x = tf.gather(candidates, order[:, slot], axis=1, batch_dims=1)
    return tf.where(coin(images, probability, seeds[5]), x, images)
