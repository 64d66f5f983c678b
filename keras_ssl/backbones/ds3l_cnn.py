"""The CNN of the official DS3L MNIST code, sized for any image."""

import keras

from keras_ssl.backbones._torch_dense import torch_initializers
from keras_ssl.core._checks import check_image_shape
from keras_ssl.core._checks import check_integers

INITIALIZERS = ("pytorch", "glorot")


def ds3l_cnn(
    input_shape,
    widths=(16, 32),
    initializer="pytorch",
    center=False,
    name="ds3l_cnn",
):
    """Conv -> max-pool -> ReLU blocks, then flatten: no dense layer.

    The feature trunk of the official DS3L MNIST network (`CNN` in
    `guolz-ml/DS3L` `wideresnet.py`): each block is Conv3x3 (padding 1,
    with bias) -> MaxPool 3x3 stride 2 padding 1 -> ReLU, widths 16 and 32;
    the official network then applies dropout 0.5 and one linear layer to
    the flattened features, which the semi-supervised methods add (their
    `dropout` and classifier). On 8x8 digits the features are 32 x 2 x 2
    = 128 (32 x 7 x 7 on 28x28 MNIST, as the official code).

    PyTorch pads its max-pool with -inf; here the padding is zeros. The
    ReLU after the pool makes the two the same: `relu(max(window, 0)) =
    relu(max(window))`. With `initializer="pytorch"` the kernels and
    biases start as PyTorch's default `Conv2d` initialisation, uniform in
    `+-1 / sqrt(fan_in)`, as the official layers keep it.

    Unlike `conv_dense` (two 32-filter convolutions, one 2x2 pool and a
    128-unit dense layer), the classifier sees the pooled convolution
    maps directly. Measured on the digits class-mismatch protocol
    (`keras_ssl.recipes.ds3l_recipe`, mismatch 0.5, 2,100 steps of full
    unlabeled batches, 10 seeds): with this trunk, centred inputs and
    dropout 0.5, DS3L's unseen/seen mean-weight ratio was 0.70 of the
    means (the official PyTorch code on the same splits: 0.65), with
    `conv_dense` 0.82.

    Args:
        input_shape: `(height, width, channels)` with known sides of at
            least 2.
        widths: the filters of each block; default `(16, 32)`, the
            official network's.
        initializer: `"pytorch"` (uniform fan-in, the official code) or
            `"glorot"` (Keras' Glorot-uniform kernels and zero biases).
        center: if True, the inputs are first mapped from `[0, 1]` to
            `[-1, 1]` (`2x - 1`, a `Rescaling` layer named `center`), the
            official code's input scale (`(x / 255 - 0.5) / 0.5`), so a
            blank background is -1, not 0. Default False.
        name: the model name.

    Returns:
        A functional `keras.Model` mapping images to the flattened
        features, `(batch, widths[-1] * h * w)`.

    Raises:
        ValueError: if an argument is out of range.

    Example:

    ```python
    import numpy as np
    import keras_ssl

    encoder = keras_ssl.backbones.ds3l_cnn((8, 8, 1))
    features = encoder(np.zeros((2, 8, 8, 1), "float32"))  # (2, 128)
    ```
    """
    widths = check_integers(widths, 1, "widths")
    input_shape = check_image_shape(input_shape, min_size=2, allow_none=False)
    if initializer not in INITIALIZERS:
        raise ValueError(
            f"initializer must be one of {INITIALIZERS}; got {initializer!r}"
        )
    if not isinstance(center, bool):
        raise ValueError(f"center must be True or False; got {center!r}")

    inputs = keras.Input(shape=input_shape, name="images")
    x = inputs
    if center:
        x = keras.layers.Rescaling(2.0, offset=-1.0, name="center")(x)
    channels = input_shape[-1]
    for i, width in enumerate(widths, start=1):
        init = torch_initializers(9 * channels)
        if initializer == "glorot":
            init = {}
        x = keras.layers.Conv2D(
            width, 3, padding="same", name=f"block{i}_conv", **init
        )(x)
        x = keras.layers.ZeroPadding2D(1, name=f"block{i}_pad")(x)
        x = keras.layers.MaxPooling2D(3, 2, name=f"block{i}_pool")(x)
        x = keras.layers.ReLU(name=f"block{i}_relu")(x)
        channels = width
    outputs = keras.layers.Flatten(name="flatten")(x)
    return keras.Model(inputs, outputs, name=name)
