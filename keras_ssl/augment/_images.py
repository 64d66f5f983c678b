"""Helpers shared by the stateless augmentations (private)."""

import tensorflow as tf

from keras_ssl.core._checks import check_number


def check_images(images, channels=None):
    """`images` as a 4-D tensor; a ValueError for another rank."""
    images = tf.convert_to_tensor(images)
    if images.shape.rank != 4:
        raise ValueError(
            "images must have shape (batch, height, width, channels); got "
            f"shape {images.shape}"
        )
    if channels is not None and images.shape[-1] != channels:
        raise ValueError(
            f"images must have {channels} channels (RGB); got shape "
            f"{images.shape}"
        )
    return images


def coin(images, probability, seed):
    """A `(batch, 1, 1, 1)` boolean tensor, True with `probability`."""
    probability = check_number(probability, "probability", "in [0, 1]")
    draw = tf.random.stateless_uniform(tf.shape(images)[:1], seed)
    return (draw < probability)[:, None, None, None]


def uniform(images, low, high, seed):
    """One uniform draw in `[low, high)` per image, shape `(batch,)`."""
    return tf.random.stateless_uniform(
        tf.shape(images)[:1], seed, low, high, dtype=images.dtype
    )
