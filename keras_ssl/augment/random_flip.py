import tensorflow as tf

from keras_ssl.augment._images import check_images
from keras_ssl.augment._images import coin


def random_flip(images, seed, probability=0.5):
    """Mirrors each image left-right with probability `probability`.

    The horizontal flip of MoCo's and PCL's augmentations. Stateless: the
    same `seed` flips the same images.

    Args:
        images: `(batch, height, width, channels)` tensor.
        seed: shape-`(2,)` integer tensor (a stateless seed).
        probability: float in [0, 1].

    Returns:
        Tensor of the same shape and dtype as `images`.

    Example:

    ```python
    import numpy as np
    import tensorflow as tf
    from keras_ssl.augment import random_flip

    images = np.random.default_rng(0).random((4, 8, 8, 3), "float32")
    flipped = random_flip(images, seed=tf.constant([0, 1]))
    ```
    """
    images = check_images(images)
    return tf.where(coin(images, probability, seed), images[:, :, ::-1], images)
