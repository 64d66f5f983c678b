import math

import tensorflow as tf

from keras_ssl.augment._images import check_images
from keras_ssl.augment._images import check_interval
from keras_ssl.augment._images import uniform


def random_resized_crop(images, seed, scale=(0.2, 1.0), ratio=(0.75, 4 / 3)):
    """Crops a random box of every image and resizes it to the image size.

    torchvision's `RandomResizedCrop` as MoCo and PCL use it: the box
    covers a fraction of the image area drawn from `U[scale]` and has an
    aspect ratio (width / height) whose log is drawn from `U[log ratio]`;
    it is placed uniformly inside the image and resized back to
    `(height, width)` bilinearly (`tf.image.crop_and_resize`). Where
    torchvision redraws up to 10 times when a box does not fit and then
    falls back to a centre crop, a too-long side is clipped to the image
    here, in one draw. Stateless: the same `seed` gives the same boxes.

    Args:
        images: `(batch, height, width, channels)` tensor.
        seed: shape-`(2,)` integer tensor (a stateless seed).
        scale: `(low, high)` fractions of the area, `0 < low <= high <= 1`.
        ratio: `(low, high)` aspect ratios, `0 < low <= high`.

    Returns:
        float32 tensor of the same shape as `images`.

    Example:

    ```python
    import numpy as np
    import tensorflow as tf
    from keras_ssl.augment import random_resized_crop

    images = np.random.default_rng(0).random((4, 16, 16, 3), "float32")
    crops = random_resized_crop(images, seed=tf.constant([0, 1]))
    ```
    """
    images = check_images(images)
    low, high = check_interval(scale, "scale", "> 0", upper=1)
    ratio_low, ratio_high = check_interval(ratio, "ratio", "> 0")
    images = tf.cast(images, "float32")
    shape = tf.shape(images)
    height = tf.cast(shape[1], "float32")
    width = tf.cast(shape[2], "float32")
    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 4))
    area = uniform(images, low, high, seeds[0]) * height * width
    aspect = tf.exp(
        uniform(images, math.log(ratio_low), math.log(ratio_high), seeds[1])
    )
    # Box sides as fractions of the image sides.
    box_width = tf.minimum(tf.sqrt(area * aspect) / width, 1.0)
    box_height = tf.minimum(tf.sqrt(area / aspect) / height, 1.0)
    top = uniform(images, 0.0, 1.0, seeds[2]) * (1.0 - box_height)
    left = uniform(images, 0.0, 1.0, seeds[3]) * (1.0 - box_width)
    boxes = tf.stack([top, left, top + box_height, left + box_width], -1)
    return tf.image.crop_and_resize(
        images, boxes, tf.range(shape[0]), shape[1:3], method="bilinear"
    )
