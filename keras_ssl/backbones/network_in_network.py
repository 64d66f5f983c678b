"""Network-in-Network encoder of RotNet and AET."""

import keras

from keras_ssl.backbones._batch_norm import batch_norm
from keras_ssl.core._checks import check_image_shape
from keras_ssl.core._checks import check_integer


def network_in_network(
    input_shape,
    num_blocks=4,
    pool_after_block3=False,
    name="network_in_network",
):
    """The NIN encoder of the AET (and RotNet) CIFAR experiments.

    Every convolution is Conv (no bias, padding "same") -> BatchNorm ->
    ReLU. The blocks are, as in the official `NetworkInNetwork.py`:

    - block 1: 5x5 -> 192, 1x1 -> 160, 1x1 -> 96, then max-pool 3x3,
      stride 2, pad 1;
    - block 2: 5x5 -> 192, 1x1 -> 192, 1x1 -> 192, then avg-pool 3x3,
      stride 2, pad 1;
    - blocks 3, 4, ...: 3x3 -> 192, 1x1 -> 192, 1x1 -> 192, no pooling
      (optionally an avg-pool after block 3, see `pool_after_block3`);

    followed by global average pooling (192-d). The defaults (4 blocks, no
    pooling after block 3) are what AET's CIFAR `main.py` builds
    (`Regressor(_num_stages=4, _use_avg_on_conv3=False)`); RotNet's class
    defaults are 3 blocks. The pools pad explicitly by 1 on each side and
    count the padding in the average, as PyTorch's `MaxPool2d`/`AvgPool2d`
    with `padding=1` do, so 32x32 -> 16x16 -> 8x8 and 16x16 -> 8x8 -> 4x4.
    BatchNorm uses PyTorch's defaults (Keras `momentum=0.9`,
    `epsilon=1e-5`) and convolutions the official normal init with
    std sqrt(2 / (k * k * filters)).

    AET and RotNet evaluate **block-2** features, not the final GAP
    features. Each block's last layer is named `block{i}_output`; the
    example shows how to read block 2 (a `(batch, h/4, w/4, 192)` map).

    Args:
        input_shape: `(height, width, channels)`; height and width may be
            `None`.
        num_blocks: number of NIN blocks (at least 1).
        pool_after_block3: average-pool (3x3, stride 2, pad 1) after block 3
            when `num_blocks > 3` (RotNet's `use_avg_on_conv3`).
        name: the model name.

    Returns:
        A functional `keras.Model` mapping images to `(batch, 192)` (96 when
        `num_blocks == 1`), the global average of the last block.

    Raises:
        ValueError: if an argument is out of range.

    Example:

    ```python
    import keras
    import numpy as np
    import keras_ssl

    encoder = keras_ssl.backbones.network_in_network((32, 32, 3))
    images = np.zeros((2, 32, 32, 3), "float32")
    features = encoder(images)  # (2, 192)
    block2 = keras.Model(
        encoder.input, encoder.get_layer("block2_output").output
    )
    block2_maps = block2(images)  # (2, 8, 8, 192)
    ```

    Reference:
        Zhang, Qi, Wang & Luo, "AET vs. AED: Unsupervised Representation
        Learning by Auto-Encoding Transformations rather than Data",
        CVPR 2019 (code: maple-research-lab/AET); Gidaris, Singh & Komodakis,
        "Unsupervised Representation Learning by Predicting Image
        Rotations", ICLR 2018; Lin, Chen & Yan, "Network In Network",
        ICLR 2014.
    """
    input_shape = check_image_shape(input_shape)
    num_blocks = check_integer(num_blocks, 1, "num_blocks")
    if not isinstance(pool_after_block3, bool):
        raise ValueError(
            f"pool_after_block3 must be a bool; got {pool_after_block3!r}"
        )

    block_specs = [
        ((5, 192), (1, 160), (1, 96)),
        ((5, 192), (1, 192), (1, 192)),
    ]
    block_specs += [((3, 192), (1, 192), (1, 192))] * (num_blocks - 2)
    initializer = keras.initializers.VarianceScaling(
        scale=2.0, mode="fan_out", distribution="untruncated_normal"
    )

    # Which blocks end in a pool, and which pool.
    pools = {1: keras.layers.MaxPooling2D, 2: keras.layers.AveragePooling2D}
    if pool_after_block3 and num_blocks > 3:
        pools[3] = keras.layers.AveragePooling2D

    inputs = keras.Input(shape=input_shape, name="images")
    x = inputs
    for block, convs in enumerate(block_specs[:num_blocks], start=1):
        for j, (kernel_size, filters) in enumerate(convs, start=1):
            prefix = f"block{block}_conv{j}"
            x = keras.layers.Conv2D(
                filters,
                kernel_size,
                padding="same",
                use_bias=False,
                kernel_initializer=initializer,
                name=prefix,
            )(x)
            x = batch_norm(0.9, 1e-5, f"{prefix}_bn")(x)
            is_output = j == len(convs) and block not in pools
            relu_name = (
                f"block{block}_output" if is_output else f"{prefix}_relu"
            )
            x = keras.layers.ReLU(name=relu_name)(x)
        if block in pools:
            # PyTorch pads by 1 and averages over all 9 cells (padding
            # included); ZeroPadding2D + a "valid" pool does the same. For
            # max-pooling the inputs are >= 0 (after ReLU), so zero padding
            # equals PyTorch's -inf padding.
            x = keras.layers.ZeroPadding2D(1, name=f"block{block}_pad")(x)
            x = pools[block](3, strides=2, name=f"block{block}_output")(x)
    outputs = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, outputs, name=name)
