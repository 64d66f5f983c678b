"""The in-graph preprocessing that turns raw digits into model inputs."""

import keras

IMAGE_SIZES = (8, 16, 32)
CHANNELS = (1, 3)


def check_image_options(image_size, channels):
    """Raises a `ValueError` for an unsupported digits size or channels."""
    if image_size not in IMAGE_SIZES:
        raise ValueError(
            f"image_size must be one of {IMAGE_SIZES}; got {image_size!r}"
        )
    if channels not in CHANNELS:
        raise ValueError(
            f"channels must be one of {CHANNELS}; got {channels!r}"
        )


def digits_preprocessing(image_size=8, channels=1):
    """Builds a deterministic model mapping raw digits to model inputs.

    The model takes raw scikit-learn digits, shape `(batch, 8, 8, 1)` with
    pixel values in `0..16` (as returned by `raw_digits`), and applies the
    same steps as `digits()`:

    1. rescale by `1 / 16` to `[0, 1]`;
    2. resize bilinearly to `image_size x image_size` (skipped for 8) and
       clip back to `[0, 1]`;
    3. repeat the gray channel three times when `channels=3`.

    Its output equals `digits(image_size, channels)` for the same images
    (up to float rounding). Exported SavedModels put this model in front of
    the network so that a server can be fed raw digits.

    It is a plain functional `keras.Model` made of built-in layers
    (`Rescaling`, `Resizing`, `ReLU(max_value=1)` as the clip,
    `Concatenate`), so it saves and loads without custom objects.

    Args:
        image_size: output height and width, one of `(8, 16, 32)`.
        channels: output channels, `1` (gray) or `3` (gray repeated).

    Returns:
        A `keras.Model` with input shape `(None, 8, 8, 1)` and output shape
        `(None, image_size, image_size, channels)`.

    Raises:
        ValueError: if `image_size` or `channels` is not supported.

    Example:

    ```python
    from keras_ssl.data import digits_preprocessing, raw_digits

    images, _ = raw_digits()
    preprocess = digits_preprocessing(image_size=16, channels=3)
    preprocess(images[:2]).shape  # (2, 16, 16, 3)
    ```
    """
    check_image_options(image_size, channels)
    inputs = keras.Input(shape=(8, 8, 1), name="raw_digits")
    x = keras.layers.Rescaling(1.0 / 16.0, name="rescale")(inputs)
    if image_size != 8:
        x = keras.layers.Resizing(
            image_size, image_size, interpolation="bilinear", name="resize"
        )(x)
        # ReLU with max_value=1 is exactly clip(x, 0, 1).
        x = keras.layers.ReLU(max_value=1.0, name="clip")(x)
    if channels == 3:
        x = keras.layers.Concatenate(axis=-1, name="to_rgb")([x, x, x])
    return keras.Model(inputs, x, name=f"digits_preprocessing_{image_size}")
