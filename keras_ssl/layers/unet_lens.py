"""The image-to-image lens of automatic shortcut removal."""

import math

import keras
from keras import ops

from keras_ssl.core._checks import check_image_shape
from keras_ssl.core._checks import check_integers


def unet_lens(
    input_shape, widths=(16, 32, 64), value_range=(0.0, 1.0), name="lens"
):
    """A small U-Net that edits an image by adding a residual to it.

    The lens `L` of automatic shortcut removal (Minderer et al., ICML
    2020): an image-to-image network whose output has the input's shape.
    Each level is two Conv3x3 -> ReLU layers; the encoder path halves the
    resolution with 2x2 max-pooling after every level but the last, the
    decoder path doubles it with bilinear upsampling and concatenates the
    encoder's features of the same resolution (the skip connections), and
    a final Conv3x3 maps to the input's channels. That last conv's kernel
    and bias start at zero and its output is *added* to the input, so the
    lens starts as the identity, `L(x) = x`, and learns small edits.
    The sum is clipped to `value_range` (the images' valid range; the
    gradient passes at the bounds, so a pixel at 0 or 1 can still move
    inwards).

    Sources: U-Net-style, residual (the lensed image is `x + L(x)`) and
    zero-initialised in the third-party reimplementation
    (`aahmadian-liu/rep-learning-shortcut`, a 5-level U-Net of ResNet
    bottleneck blocks, 64-1024 channels) and in the method note's digits
    experiment (a 3-level mini U-Net). The levels, widths and the plain
    conv blocks (no normalisation, so the lens holds no batch statistics)
    are ours; the paper's exact lens is unverified (no official code).

    Args:
        input_shape: `(height, width, channels)`; height and width must be
            divisible by `2 ** (len(widths) - 1)` (or `None`).
        widths: filters of each level, top to bottom.
        value_range: `(low, high)` the output is clipped to, or `None`.
        name: the model name.

    Returns:
        A functional `keras.Model` mapping images to images of the same
        shape.

    Raises:
        ValueError: for a bad shape, widths or range.

    Example:

    ```python
    import numpy as np
    import keras_ssl

    lens = keras_ssl.layers.unet_lens((16, 16, 1))
    x = np.random.default_rng(0).random((2, 16, 16, 1), "float32")
    np.testing.assert_allclose(lens(x), x)  # the identity at initialisation
    ```
    """
    widths = check_integers(widths, 1, "widths")
    factor = 2 ** (len(widths) - 1)
    input_shape = check_image_shape(input_shape, min_size=factor)
    for size in input_shape[:2]:
        if size is not None and size % factor:
            raise ValueError(
                f"input_shape height and width must be divisible by {factor} "
                f"for {len(widths)} U-Net levels; got {input_shape!r}"
            )
    if value_range is not None:
        try:
            low, high = (float(v) for v in value_range)
        except (TypeError, ValueError):
            low = high = None
        if low is None or not (math.isfinite(low) and math.isfinite(high)):
            low = high = None
        if low is None or not low < high:
            raise ValueError(
                f"value_range must be (low, high) with low < high, or None; "
                f"got {value_range!r}"
            )
        value_range = (low, high)

    def block(x, filters, label):
        for i in (1, 2):
            x = keras.layers.Conv2D(
                filters, 3, padding="same", name=f"{label}_conv{i}"
            )(x)
            x = keras.layers.ReLU(name=f"{label}_relu{i}")(x)
        return x

    inputs = keras.Input(shape=input_shape, name="images")
    x = inputs
    skips = []
    for level, filters in enumerate(widths, start=1):
        x = block(x, filters, f"down{level}")
        if level < len(widths):
            skips.append(x)
            x = keras.layers.MaxPooling2D(2, name=f"down{level}_pool")(x)
    for level in range(len(widths) - 1, 0, -1):
        x = keras.layers.UpSampling2D(
            2, interpolation="bilinear", name=f"up{level}_upsample"
        )(x)
        x = keras.layers.Concatenate(name=f"up{level}_skip")(
            [x, skips[level - 1]]
        )
        x = block(x, widths[level - 1], f"up{level}")
    residual = keras.layers.Conv2D(
        input_shape[-1],
        3,
        padding="same",
        kernel_initializer="zeros",
        bias_initializer="zeros",
        name="residual",
    )(x)
    outputs = keras.layers.Add(name="lensed")([inputs, residual])
    if value_range is not None:
        outputs = _Clip(*value_range, name="clip")(outputs)
    return keras.Model(inputs, outputs, name=name)


@keras.saving.register_keras_serializable(package="keras_ssl")
class _Clip(keras.layers.Layer):
    """Clips to `[low, high]` (`tf.clip_by_value`: gradients pass at the
    bounds)."""

    def __init__(self, low, high, **kwargs):
        super().__init__(**kwargs)
        self.low = float(low)
        self.high = float(high)

    def call(self, inputs):
        return ops.clip(inputs, self.low, self.high)

    def get_config(self):
        return {**super().get_config(), "low": self.low, "high": self.high}
