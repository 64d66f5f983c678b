import tensorflow as tf

from keras_ssl.augment._images import check_images
from keras_ssl.augment._images import coin


def random_grayscale(images, probability, seed):
    """Turns each RGB image grey with probability `probability`.

    The grey value is `tf.image.rgb_to_grayscale` (ITU-R 601 luma, the
    weights torchvision's `RandomGrayscale` uses), repeated over the three
    channels. Stateless: the same `seed` greys the same images.

    Args:
        images: `(batch, height, width, 3)` RGB tensor.
        probability: float in [0, 1] (MoCo and PCL use 0.2).
        seed: shape-`(2,)` integer tensor (a stateless seed).

    Returns:
        Tensor of the same shape and dtype as `images`.

    Example:

    ```python
    import numpy as np
    import tensorflow as tf
    from keras_ssl.augment import random_grayscale

    images = np.random.default_rng(0).random((4, 8, 8, 3), "float32")
    grey = random_grayscale(images, 0.2, seed=tf.constant([0, 1]))
    ```
    """
    images = check_images(images, channels=3)
    grey = tf.image.grayscale_to_rgb(tf.image.rgb_to_grayscale(images))
    return tf.where(coin(images, probability, seed), grey, images)
