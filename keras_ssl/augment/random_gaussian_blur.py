import math

import tensorflow as tf

from keras_ssl.augment._images import check_images
from keras_ssl.augment._images import check_interval
from keras_ssl.augment._images import coin
from keras_ssl.augment._images import uniform


def random_gaussian_blur(images, seed, sigma=(0.1, 2.0), probability=0.5):
    """Blurs each image with probability `probability` by a random sigma.

    MoCo v2's (and PCL v2's) `GaussianBlur`: a Gaussian of standard
    deviation `sigma ~ U[sigma]` pixels, drawn per image, applied with
    probability `probability`. The filter is separable and truncated at
    `3 * max(sigma)`; near the border the weights that would fall outside
    the image are dropped and the rest renormalised (PIL extends the edge
    pixels instead). Stateless: the same `seed` gives the same images.

    Args:
        images: `(batch, height, width, channels)` tensor.
        seed: shape-`(2,)` integer tensor (a stateless seed).
        sigma: `(low, high)` range of the standard deviation in pixels.
        probability: float in [0, 1].

    Returns:
        float32 tensor of the same shape as `images`.

    Example:

    ```python
    import numpy as np
    import tensorflow as tf
    from keras_ssl.augment import random_gaussian_blur

    images = np.random.default_rng(0).random((4, 16, 16, 3), "float32")
    blurred = random_gaussian_blur(images, seed=tf.constant([0, 1]))
    ```
    """
    images = tf.cast(check_images(images), "float32")
    low, high = check_interval(sigma, "sigma", "> 0")
    seeds = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    sigmas = uniform(images, low, high, seeds[0])[:, None, None]
    radius = math.ceil(3 * high)

    def blur_matrix(size):
        # (batch, size, size): row i holds the weights of output pixel i.
        positions = tf.range(size, dtype="float32")
        offsets = positions[:, None] - positions[None, :]
        weights = tf.exp(-0.5 * tf.square(offsets[None] / sigmas))
        weights *= tf.cast(tf.abs(offsets) <= radius, "float32")[None]
        return weights / tf.reduce_sum(weights, axis=-1, keepdims=True)

    shape = tf.shape(images)
    rows, columns = blur_matrix(shape[1]), blur_matrix(shape[2])
    blurred = tf.einsum("bij,bjkc,blk->bilc", rows, images, columns)
    return tf.where(coin(images, probability, seeds[1]), blurred, images)
