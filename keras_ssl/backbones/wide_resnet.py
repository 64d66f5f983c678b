"""Wide ResNet (WRN-28-2) of the semi-supervised learning benchmarks."""

import keras

from keras_ssl.backbones._batch_norm import batch_norm
from keras_ssl.core._checks import check_image_shape
from keras_ssl.core._checks import check_integer
from keras_ssl.core._checks import check_number
from keras_ssl.core._checks import is_integer


def wide_resnet(
    input_shape,
    depth=28,
    width=2,
    dropout=0.0,
    leaky_relu_slope=0.1,
    name="wide_resnet",
):
    """A pre-activation wide ResNet; WRN-28-2 by default.

    This follows `wide_resnet` in `lib/networks.py` of Oliver et al.'s
    "Realistic Evaluation" code (TensorFlow), the WRN-28-2 every
    semi-supervised method there shares:

    - stem Conv3x3 16 (no BN or activation after it);
    - three stages of n = (depth - 4) / 6 pre-activation units with
      16*width, 32*width and 64*width filters, stride 2 at the start of
      stages 2 and 3. A unit is BN -> LeakyReLU -> Conv3x3 -> BN ->
      LeakyReLU -> [Dropout] -> Conv3x3, added to the shortcut. In the very
      first unit the shortcut takes the activated input
      (`activate_before_residual`), elsewhere the raw input; a unit that
      changes the width has a 1x1 strided Conv shortcut;
    - final BN -> LeakyReLU -> global average pooling: 64*width features.

    Details taken from that code: convolutions have no bias, padding
    "same", normal init with std sqrt(2 / (k * k * filters)) (He fan-out);
    BatchNorm is `tf.contrib.layers.batch_norm`'s default, decay 0.999 and
    epsilon 1e-3 (Keras `momentum=0.999`, `epsilon=1e-3`, i.e. PyTorch
    momentum 0.001 as in USB); LeakyReLU slope 0.1. WRN-28-2 has 1,466,320
    parameters here; with a 10-class head 1,467,610, the "1.47M" usually
    quoted (about 1.5M in Oliver et al.). USB's PyTorch `wrn_28_2` is the
    same network except that its convolutions have biases (2,032 more
    weights) and the first unit of every stage shortcuts from the
    activated input.
    `dropout` (between the two convolutions, Zagoruyko & Komodakis) is off
    in both.

    Args:
        input_shape: `(height, width, channels)`; height and width may be
            `None`.
        depth: total depth; (depth - 4) must be a positive multiple of 6
            (10, 16, 22, 28, 40, ...).
        width: the widening factor k (a positive int).
        dropout: dropout rate inside each unit, in `[0, 1)`.
        leaky_relu_slope: negative slope of the LeakyReLUs, in `[0, 1)`
            (0 gives ReLU, as in the original WRN paper).
        name: the model name.

    Returns:
        A functional `keras.Model` mapping images to `(batch, 64 * width)`.

    Raises:
        ValueError: if an argument is out of range.

    Example:

    ```python
    import numpy as np
    import keras_ssl

    encoder = keras_ssl.backbones.wide_resnet((32, 32, 3))  # WRN-28-2
    features = encoder(np.zeros((2, 32, 32, 3), "float32"))  # (2, 128)
    ```

    Reference:
        Zagoruyko & Komodakis, "Wide Residual Networks", BMVC 2016; Oliver,
        Odena, Raffel, Cubuk & Goodfellow, "Realistic Evaluation of Deep
        Semi-Supervised Learning Algorithms", NeurIPS 2018 (code:
        brain-research/realistic-ssl-evaluation); Wang et al., "USB: A
        Unified Semi-supervised Learning Benchmark", NeurIPS 2022.
    """
    input_shape = check_image_shape(input_shape)
    if not is_integer(depth, 10) or (depth - 4) % 6 != 0:
        raise ValueError(
            f"depth must satisfy (depth - 4) % 6 == 0 with depth >= 10 "
            f"(e.g. 16, 22, 28, 40); got {depth!r}"
        )
    width = check_integer(width, 1, "width")
    dropout = check_number(dropout, "dropout", "in [0, 1)")
    leaky_relu_slope = check_number(
        leaky_relu_slope, "leaky_relu_slope", "in [0, 1)"
    )

    units_per_stage = (depth - 4) // 6
    stage_filters = (16 * width, 32 * width, 64 * width)

    inputs = keras.Input(shape=input_shape, name="images")
    x = _conv(inputs, 16, 3, 1, "stem_conv")
    for s, filters in enumerate(stage_filters, start=1):
        for u in range(1, units_per_stage + 1):
            x = _unit(
                x,
                filters,
                stride=2 if (s > 1 and u == 1) else 1,
                activate_before_residual=(s == 1 and u == 1),
                dropout=dropout,
                slope=leaky_relu_slope,
                prefix=f"stage{s}_unit{u}",
            )
    x = _bn(x, "final_bn")
    x = keras.layers.LeakyReLU(
        negative_slope=leaky_relu_slope, name="final_act"
    )(x)
    outputs = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, outputs, name=name)


def _conv(x, filters, kernel_size, stride, name):
    """Conv without bias, "same" padding, He fan-out normal init."""
    return keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=stride,
        padding="same",
        use_bias=False,
        kernel_initializer=keras.initializers.VarianceScaling(
            scale=2.0, mode="fan_out", distribution="untruncated_normal"
        ),
        name=name,
    )(x)


def _bn(x, name):
    """BatchNorm with TF-contrib defaults (decay 0.999, epsilon 1e-3)."""
    return batch_norm(0.999, 1e-3, name)(x)


def _unit(x, filters, stride, activate_before_residual, dropout, slope, prefix):
    """One pre-activation residual unit (see `wide_resnet`)."""
    in_filters = x.shape[-1]
    activated = _bn(x, f"{prefix}_bn1")
    activated = keras.layers.LeakyReLU(
        negative_slope=slope, name=f"{prefix}_act1"
    )(activated)
    shortcut = activated if activate_before_residual else x

    residual = _conv(activated, filters, 3, stride, f"{prefix}_conv1")
    residual = _bn(residual, f"{prefix}_bn2")
    residual = keras.layers.LeakyReLU(
        negative_slope=slope, name=f"{prefix}_act2"
    )(residual)
    if dropout > 0:
        residual = keras.layers.Dropout(dropout, name=f"{prefix}_dropout")(
            residual
        )
    residual = _conv(residual, filters, 3, 1, f"{prefix}_conv2")

    if in_filters != filters:
        shortcut = _conv(shortcut, filters, 1, stride, f"{prefix}_shortcut")
    return keras.layers.Add(name=f"{prefix}_output")([residual, shortcut])
