import tensorflow as tf

from keras_ssl.augment._images import check_images
from keras_ssl.core._checks import check_integer


def random_erasing(images, size, seed):
    """Sets one random `size x size` square of every image to zero.

    Each image gets its own square, placed uniformly so that it lies
    inside the image (a fixed-size cutout, the "random 4x4 erasing" of
    the PCL note's digits experiment). Stateless: the same `seed` erases
    the same squares.

    Args:
        images: `(batch, height, width, channels)` tensor.
        size: int >= 0, the side of the square (at most the image's
            smaller side); 0 returns the images unchanged.
        seed: shape-`(2,)` integer tensor (a stateless seed).

    Returns:
        Tensor of the same shape and dtype as `images`.

    Example:

    ```python
    import numpy as np
    import tensorflow as tf
    from keras_ssl.augment import random_erasing

    images = np.ones((4, 8, 8, 1), dtype="float32")
    erased = random_erasing(images, 3, seed=tf.constant([0, 1]))
    ```
    """
    size = check_integer(size, 0, "size")
    images = check_images(images)
    if size == 0:
        return images
    shape = tf.shape(images)
    height, width = shape[1], shape[2]
    checks = [
        tf.debugging.assert_less_equal(
            size,
            tf.minimum(height, width),
            message="size must not exceed the image height and width",
        )
    ]
    with tf.control_dependencies(checks):
        corner = tf.random.stateless_uniform(
            (shape[0], 2), seed, 0, 2**30, dtype=tf.int32
        ) % tf.stack([height - size + 1, width - size + 1])
    rows = tf.range(height)[None, :] - corner[:, :1]
    columns = tf.range(width)[None, :] - corner[:, 1:]
    inside_rows = (rows >= 0) & (rows < size)
    inside_columns = (columns >= 0) & (columns < size)
    erased = inside_rows[:, :, None] & inside_columns[:, None, :]
    return tf.where(erased[..., None], tf.zeros_like(images), images)
