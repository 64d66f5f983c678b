import numpy as np
import pytest

import keras_ssl
from keras_ssl import backbones


@pytest.mark.parametrize(
    "name, input_shape, kwargs, dim",
    [
        ("small_cnn", (16, 16, 1), {"preset": "narrow"}, 16),
        ("lenet", (8, 8, 1), {"features": 10}, 10),
        ("mlp", (2,), {"hidden": (20, 20, 20)}, 20),
        ("network_in_network", (16, 16, 1), {"num_blocks": 1}, 96),
        ("cifar_resnet", (8, 8, 3), {"depth": 20, "width": 0.5}, 32),
        ("conv_dense", (8, 8, 1), {"units": 16}, 16),
        ("ds3l_cnn", (8, 8, 1), {"widths": (4, 3)}, 12),
        ("duq_cnn", (8, 8, 1), {"widths": (4, 4, 4), "units": 8}, 8),
        ("wide_resnet", (8, 8, 3), {"depth": 10, "width": 1}, 64),
    ],
)
def test_builds_each_backbone_by_name(name, input_shape, kwargs, dim):
    model = backbones.get_backbone(name, input_shape, **kwargs)
    assert model.name == name
    assert model is not backbones.get_backbone(name, input_shape, **kwargs)
    out = model(np.zeros((2,) + input_shape, "float32"))
    assert out.shape == (2, dim)


def test_registry_is_the_public_functions():
    assert backbones.BACKBONES == {
        "cifar_resnet": backbones.cifar_resnet,
        "conv_dense": backbones.conv_dense,
        "ds3l_cnn": backbones.ds3l_cnn,
        "duq_cnn": backbones.duq_cnn,
        "lenet": backbones.lenet,
        "mlp": backbones.mlp,
        "network_in_network": backbones.network_in_network,
        "small_cnn": backbones.small_cnn,
        "wide_resnet": backbones.wide_resnet,
    }
    assert keras_ssl.backbones.small_cnn is backbones.small_cnn


def test_unknown_name_lists_known_names():
    with pytest.raises(ValueError, match="name must be one of") as error:
        backbones.get_backbone("resnet50", (32, 32, 3))
    for known in backbones.BACKBONES:
        assert known in str(error.value)


def test_builder_errors_pass_through():
    with pytest.raises(ValueError, match="preset"):
        backbones.get_backbone("small_cnn", (16, 16, 1), preset="huge")
