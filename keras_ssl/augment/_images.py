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


def check_interval(values, name, rule, upper=None):
    """`(low, high)` floats satisfying `rule` with `low <= high`."""
    try:
        low, high = (check_number(v, name, rule) for v in values)
    except (TypeError, ValueError):
        low = high = None
    if low is None or low > high or (upper is not None and high > upper):
        bound = "" if upper is None else f" and high <= {upper}"
        raise ValueError(
            f"{name} must be (low, high), numbers {rule} with low <= high"
            f"{bound}; got {values!r}"
        )
    return low, high
