"""Frozen features of an encoder as a NumPy array."""

import numpy as np


def encoder_features(encoder, x, batch_size=256):
    """Runs `encoder` in inference mode and returns 2-D NumPy features.

    Calls `encoder.predict(x, batch_size=batch_size, verbose=0)`, which runs
    the model with `training=False` (dropout off, batch-norm moving
    statistics), and flattens every output to `(num_samples, -1)`.

    Args:
        encoder: a `keras.Model` (anything with a Keras-style `predict`)
            with a single output.
        x: model input: a NumPy array (or nested structure the model
            accepts), or a batched `tf.data.Dataset` / `keras.utils.PyDataset`
            (then `batch_size` is not used).
        batch_size: samples per inference batch for array inputs, `>= 1`.

    Returns:
        `np.ndarray` of shape `(num_samples, num_features)`.

    Raises:
        ValueError: if `encoder` has no `predict` method, `batch_size < 1`,
            or the encoder returns several outputs.

    Example:

    >>> import keras
    >>> import numpy as np
    >>> encoder = keras.Sequential(
    ...     [keras.Input((4, 4, 1)), keras.layers.Conv2D(2, 3)]
    ... )
    >>> encoder_features(encoder, np.zeros((5, 4, 4, 1))).shape
    (5, 8)
    """
    if not callable(getattr(encoder, "predict", None)):
        raise ValueError(
            "encoder must be a keras.Model (with a predict method); got "
            f"{type(encoder).__name__}"
        )
    if isinstance(batch_size, bool) or int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size!r}")
    if isinstance(x, np.ndarray | list | tuple | dict):
        outputs = encoder.predict(x, batch_size=int(batch_size), verbose=0)
    else:
        outputs = encoder.predict(x, verbose=0)
    if isinstance(outputs, list | tuple | dict):
        raise ValueError(
            "encoder must have a single output; got "
            f"{type(outputs).__name__} of {len(outputs)} outputs"
        )
    outputs = np.asarray(outputs)
    return outputs.reshape(outputs.shape[0], -1)
