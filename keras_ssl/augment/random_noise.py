import tensorflow as tf


def random_noise(images, stddev, seed):
    """Adds Gaussian noise of standard deviation `stddev` (stateless).

    Args:
        images: float tensor of any shape.
        stddev: float >= 0.
        seed: shape-`(2,)` integer tensor (a stateless seed).

    Returns:
        `images + stddev * N(0, 1)`, same shape and dtype.

    Example:

    ```python
    import numpy as np
    import tensorflow as tf
    from keras_ssl.augment import random_noise

    noisy = random_noise(np.zeros((2, 4), "float32"), 0.1, tf.constant([0, 1]))
    ```
    """
    if isinstance(stddev, bool) or not float(stddev) >= 0:
        raise ValueError(f"stddev must be a number >= 0; got {stddev!r}")
    images = tf.convert_to_tensor(images)
    if stddev == 0:
        return images
    noise = tf.random.stateless_normal(
        tf.shape(images), seed, dtype=images.dtype
    )
    return images + stddev * noise
