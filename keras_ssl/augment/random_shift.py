import tensorflow as tf


def random_shift(images, max_shift, seed):
    """Shifts every image by its own random offset, filling with zeros.

    Stateless: the same `seed` gives the same shifts, which is what makes
    a resumed `tf.data` pipeline see the same batches as an uninterrupted
    one. Use it inside `tf.data` (not inside `train_step`, where every
    replica would draw the same numbers).

    Args:
        images: `(batch, height, width, channels)` tensor.
        max_shift: int >= 0; each image moves by a uniform integer offset in
            `[-max_shift, max_shift]` along each spatial axis.
        seed: shape-`(2,)` integer tensor (a stateless seed).

    Returns:
        Tensor of the same shape and dtype as `images`.

    Example:

    ```python
    import numpy as np
    import tensorflow as tf
    from keras_ssl.augment import random_shift

    images = np.ones((4, 8, 8, 1), dtype="float32")
    shifted = random_shift(images, 2, seed=tf.constant([0, 1]))
    ```
    """
    if isinstance(max_shift, bool) or int(max_shift) != max_shift:
        raise ValueError(f"max_shift must be an integer; got {max_shift!r}")
    if max_shift < 0:
        raise ValueError(f"max_shift must be >= 0; got {max_shift}")
    images = tf.convert_to_tensor(images)
    if images.shape.rank != 4:
        raise ValueError(
            "images must have shape (batch, height, width, channels); got "
            f"shape {images.shape}"
        )
    if max_shift == 0:
        return images
    shape = tf.shape(images)
    height, width = shape[1], shape[2]
    offsets = tf.random.stateless_uniform(
        (shape[0], 2), seed, 0, 2 * max_shift + 1, dtype=tf.int32
    )
    pad = [[0, 0], [max_shift, max_shift], [max_shift, max_shift], [0, 0]]
    padded = tf.pad(images, pad)
    rows = tf.range(height)[None, :] + offsets[:, :1]
    columns = tf.range(width)[None, :] + offsets[:, 1:]
    shifted = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(shifted, columns, axis=2, batch_dims=1)
