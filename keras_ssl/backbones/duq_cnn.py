"""The CNN of the official DUQ FashionMNIST code, sized for digits."""

import keras

from keras_ssl.backbones._batch_norm import batch_norm
from keras_ssl.backbones._torch_dense import torch_initializers
from keras_ssl.core._checks import check_image_shape
from keras_ssl.core._checks import check_integer
from keras_ssl.core._checks import check_integers
from keras_ssl.core._checks import check_number

INITIALIZERS = ("pytorch", "glorot")


def duq_cnn(
    input_shape,
    widths=(32, 64, 64),
    units=256,
    initializer="pytorch",
    batch_norm_epsilon=1e-5,
    synchronized_batch_norm=True,
    name="duq_cnn",
):
    """Conv-BN-ReLU-pool blocks, flatten, a dense ReLU feature layer.

    The trunk of the official DUQ FashionMNIST model
    (`y0ast/deterministic-uncertainty-quantification`, 64-128-128 filters
    and a 256-unit dense layer there): each block is Conv3x3 (with bias)
    -> BatchNorm -> ReLU -> 2x2 max-pool; every convolution but the last
    pads "same", the last is "valid" as in that code (on 8x8 inputs,
    where a valid last block would leave no pixel, it pads "same").
    Then flatten and Dense(units) -> ReLU. The default widths 32-64-64 are
    the digits protocol of keras_ssl issue 13.

    Unlike `small_cnn` (global average pooling, no bias, Glorot), it keeps
    where a stroke is and, with `initializer="pytorch"`, starts from
    PyTorch's default `Conv2d`/`Linear` initialisation: kernels and biases
    uniform in `+-1 / sqrt(fan_in)`. On digits 0-4 that start gives DUQ
    features (and so RBF kernels) of the scale the official head's
    `N(0, 0.05)` weights and length scales were tuned for (see
    `keras_ssl.recipes.duq_recipe`). BatchNorm uses PyTorch's defaults
    (Keras `momentum=0.9`, `epsilon=1e-5`).

    Args:
        input_shape: `(height, width, channels)` with known sides of at
            least `2 ** len(widths)`.
        widths: the filters of each block.
        units: the width of the dense feature layer (the output).
        initializer: `"pytorch"` (uniform fan-in, the official code) or
            `"glorot"` (Keras' Glorot-uniform kernels and zero biases).
        batch_norm_epsilon: float > 0, default 1e-5 (PyTorch).
        synchronized_batch_norm: bool, default `True`, as in `small_cnn`
            (moments over the global batch of all replicas).
        name: the model name.

    Returns:
        A functional `keras.Model` mapping images to `(batch, units)`.

    Raises:
        ValueError: if an argument is out of range.

    Example:

    ```python
    import numpy as np
    import keras_ssl

    encoder = keras_ssl.backbones.duq_cnn((16, 16, 1))
    features = encoder(np.zeros((2, 16, 16, 1), "float32"))  # (2, 256)
    ```
    """
    widths = check_integers(widths, 1, "widths")
    input_shape = check_image_shape(
        input_shape, min_size=2 ** len(widths), allow_none=False
    )
    units = check_integer(units, 1, "units")
    if initializer not in INITIALIZERS:
        raise ValueError(
            f"initializer must be one of {INITIALIZERS}; got {initializer!r}"
        )
    check_number(batch_norm_epsilon, "batch_norm_epsilon", "> 0")

    def init(fan_in):
        return {} if initializer == "glorot" else torch_initializers(fan_in)

    inputs = keras.Input(shape=input_shape, name="images")
    x = inputs
    side = min(input_shape[:2])
    channels = input_shape[-1]
    for i, width in enumerate(widths, start=1):
        last = i == len(widths)
        padding = "valid" if last and side >= 4 else "same"
        x = keras.layers.Conv2D(
            width,
            3,
            padding=padding,
            name=f"block{i}_conv",
            **init(9 * channels),
        )(x)
        x = batch_norm(
            0.9, batch_norm_epsilon, f"block{i}_bn", synchronized_batch_norm
        )(x)
        x = keras.layers.ReLU(name=f"block{i}_relu")(x)
        x = keras.layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
        side = (side - 2 if padding == "valid" else side) // 2
        channels = width
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = keras.layers.Dense(
        units, activation="relu", name="dense", **init(x.shape[-1])
    )(x)
    return keras.Model(inputs, outputs, name=name)
