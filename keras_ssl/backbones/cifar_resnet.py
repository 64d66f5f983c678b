"""ResNets for 32x32 images: ResNet-18 with a CIFAR stem, ResNet-20/32/..."""

import keras

from keras_ssl.backbones._batch_norm import batch_norm
from keras_ssl.core._checks import check_image_shape
from keras_ssl.core._checks import check_number
from keras_ssl.core._checks import is_integer


def cifar_resnet(
    input_shape,
    depth=18,
    width=1.0,
    shortcut=None,
    name="cifar_resnet",
):
    """A post-activation ResNet of basic blocks for small images.

    Two families, chosen by `depth`:

    - `depth=18`: ResNet-18 with the CIFAR stem, as DUQ and most CIFAR code
      use it (torchvision `resnet18` with `conv1` replaced by a 3x3, stride 1
      convolution and no max-pool). Stem Conv3x3 64 -> BN -> ReLU, then four
      stages of 2 basic blocks with 64-128-256-512 filters (stride 2 at the
      start of stages 2-4), then global average pooling: 512-d features,
      11,168,832 parameters (torchvision's 11,173,962 minus the 5,130 of a
      10-class head).
    - `depth = 6n + 2` (20, 32, 44, 56, 110, ...): the CIFAR ResNets of He et
      al. (2016, section 4.2) that SLA uses (`cresnet32`): stem Conv3x3 16
      -> BN -> ReLU, three stages of n basic blocks with 16-32-64 filters,
      global average pooling: 64-d features. ResNet-32 (n = 5) has 463,504
      parameters; with a 10-class head 464,154, the paper's 0.46M and the
      count of the widely used akamaster/pytorch_resnet_cifar10.

    A basic block is Conv3x3 -> BN -> ReLU -> Conv3x3 -> BN, added to the
    shortcut, then ReLU. Convolutions have no bias. Where a block changes
    the shape, the shortcut is either `"projection"` (1x1 strided Conv ->
    BN, the ResNet-18 default) or `"zero_pad"` (option A of He et al., the
    default for 6n+2 depths: take every other pixel and append zero
    channels; no parameters). Strided 3x3 convolutions pad 1 pixel on each
    side as PyTorch does, so the residual and the shortcut sample the same
    pixels. BatchNorm uses PyTorch's defaults (Keras `momentum=0.9`,
    `epsilon=1e-5`); convolutions use torchvision's He normal (fan-out)
    initialization.

    Layers are named `stem_*` and `stage{s}_block{b}_*`; the output of each
    block is `stage{s}_block{b}_output`.

    Args:
        input_shape: `(height, width, channels)`; height and width may be
            `None`.
        depth: 18, or 6n + 2 for a positive int n.
        width: multiplies every stage width (the first stage gets
            `round(64 * width)` or `round(16 * width)` filters, at least 1,
            and each later stage doubles it).
        shortcut: `"projection"`, `"zero_pad"`, or `None` for the family's
            default.
        name: the model name.

    Returns:
        A functional `keras.Model` mapping images to `(batch, d)` features,
        d = 512 * width for ResNet-18 and 64 * width for 6n+2 depths.

    Raises:
        ValueError: if an argument is out of range.

    Example:

    ```python
    import numpy as np
    import keras_ssl

    encoder = keras_ssl.backbones.cifar_resnet((32, 32, 3), depth=32)
    features = encoder(np.zeros((2, 32, 32, 3), "float32"))  # (2, 64)
    ```

    Reference:
        He, Zhang, Ren & Sun, "Deep Residual Learning for Image
        Recognition", CVPR 2016.
    """
    input_shape = check_image_shape(input_shape)
    is_resnet18 = depth == 18
    if not is_integer(depth, 1) or not (
        is_resnet18 or (depth >= 8 and (depth - 2) % 6 == 0)
    ):
        raise ValueError(
            f"depth must be 18 or 6n + 2 (20, 32, 44, 56, 110, ...); "
            f"got {depth!r}"
        )
    width = check_number(width, "width", "> 0")
    if shortcut is None:
        shortcut = "projection" if is_resnet18 else "zero_pad"
    if shortcut not in ("projection", "zero_pad"):
        raise ValueError(
            f"shortcut must be 'projection', 'zero_pad' or None; "
            f"got {shortcut!r}"
        )

    if is_resnet18:
        base, blocks_per_stage = 64, (2, 2, 2, 2)
    else:
        base, blocks_per_stage = 16, ((depth - 2) // 6,) * 3
    base = max(1, int(round(base * width)))

    inputs = keras.Input(shape=input_shape, name="images")
    x = _conv_bn(inputs, base, 3, 1, "stem")
    x = keras.layers.ReLU(name="stem_relu")(x)
    for s, num_blocks in enumerate(blocks_per_stage, start=1):
        filters = base * 2 ** (s - 1)
        for b in range(1, num_blocks + 1):
            stride = 2 if (s > 1 and b == 1) else 1
            x = _basic_block(x, filters, stride, shortcut, f"stage{s}_block{b}")
    outputs = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, outputs, name=name)


def _conv_bn(x, filters, kernel_size, stride, prefix):
    """Conv (no bias) -> BatchNorm, padded like PyTorch's `padding=k // 2`."""
    if stride > 1 and kernel_size > 1:
        x = keras.layers.ZeroPadding2D(kernel_size // 2, name=f"{prefix}_pad")(
            x
        )
        padding = "valid"
    else:
        padding = "same"
    x = keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=stride,
        padding=padding,
        use_bias=False,
        kernel_initializer=keras.initializers.VarianceScaling(
            scale=2.0, mode="fan_out", distribution="untruncated_normal"
        ),
        name=f"{prefix}_conv",
    )(x)
    return batch_norm(0.9, 1e-5, f"{prefix}_bn")(x)


def _basic_block(x, filters, stride, shortcut, prefix):
    """Conv-BN-ReLU-Conv-BN plus shortcut, then ReLU."""
    residual = _conv_bn(x, filters, 3, stride, f"{prefix}_1")
    residual = keras.layers.ReLU(name=f"{prefix}_1_relu")(residual)
    residual = _conv_bn(residual, filters, 3, 1, f"{prefix}_2")

    in_filters = x.shape[-1]
    if stride == 1 and in_filters == filters:
        skip = x
    elif shortcut == "projection":
        skip = _conv_bn(x, filters, 1, stride, f"{prefix}_shortcut")
    else:
        # Option A: x[:, ::2, ::2, :] (a 1x1 max-pool with stride 2), then
        # zero channels up to `filters`. Rescaling(0) makes zeros shaped
        # like x; the stage doubles the width, so one copy is enough. He et
        # al. pad on both sides of the channel axis; appending them instead
        # only permutes channels, which the next convolution absorbs.
        skip = keras.layers.MaxPooling2D(
            1, strides=stride, name=f"{prefix}_shortcut_subsample"
        )(x)
        zeros = keras.layers.Rescaling(0.0, name=f"{prefix}_shortcut_zeros")(
            skip
        )
        skip = keras.layers.Concatenate(name=f"{prefix}_shortcut_pad")(
            [skip, zeros]
        )
    x = keras.layers.Add(name=f"{prefix}_add")([residual, skip])
    return keras.layers.ReLU(name=f"{prefix}_output")(x)
