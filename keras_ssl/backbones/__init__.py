"""Encoders: functions that build a functional `keras.Model` image -> vector.

Every backbone takes `input_shape` first and returns a `keras.Model` (named
after the backbone) mapping inputs to a flat `(batch, d)` feature vector.
`get_backbone(name, input_shape, **kwargs)` builds one by name.
"""

from keras_ssl.backbones.cifar_resnet import cifar_resnet
from keras_ssl.backbones.conv_dense import conv_dense
from keras_ssl.backbones.ds3l_cnn import ds3l_cnn
from keras_ssl.backbones.duq_cnn import duq_cnn
from keras_ssl.backbones.lenet import lenet
from keras_ssl.backbones.mlp import mlp
from keras_ssl.backbones.network_in_network import network_in_network
from keras_ssl.backbones.small_cnn import SMALL_CNN_PRESETS
from keras_ssl.backbones.small_cnn import small_cnn
from keras_ssl.backbones.wide_resnet import wide_resnet

BACKBONES = {
    "cifar_resnet": cifar_resnet,
    "conv_dense": conv_dense,
    "ds3l_cnn": ds3l_cnn,
    "duq_cnn": duq_cnn,
    "lenet": lenet,
    "mlp": mlp,
    "network_in_network": network_in_network,
    "small_cnn": small_cnn,
    "wide_resnet": wide_resnet,
}


def get_backbone(name, input_shape, **kwargs):
    """Builds a backbone by name.

    Args:
        name: a key of `BACKBONES`: `"cifar_resnet"`, `"conv_dense"`,
            `"ds3l_cnn"`, `"duq_cnn"`, `"lenet"`, `"mlp"`,
            `"network_in_network"`, `"small_cnn"` or `"wide_resnet"`.
        input_shape: the input shape, passed on to the builder.
        **kwargs: the builder's other arguments (e.g. `preset="narrow"`
            for `small_cnn`, `depth=32` for `cifar_resnet`).

    Returns:
        The `keras.Model` the builder returns.

    Raises:
        ValueError: if `name` is not a known backbone (or the builder
            rejects an argument).

    Example:

    ```python
    import keras_ssl

    encoder = keras_ssl.backbones.get_backbone(
        "small_cnn", (16, 16, 1), preset="narrow"
    )
    ```
    """
    if name not in BACKBONES:
        raise ValueError(
            f"name must be one of {sorted(BACKBONES)}; got {name!r}"
        )
    return BACKBONES[name](input_shape, **kwargs)


__all__ = [
    "BACKBONES",
    "SMALL_CNN_PRESETS",
    "cifar_resnet",
    "conv_dense",
    "ds3l_cnn",
    "duq_cnn",
    "get_backbone",
    "lenet",
    "mlp",
    "network_in_network",
    "small_cnn",
    "wide_resnet",
]
