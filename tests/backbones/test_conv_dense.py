import keras
import numpy as np
import pytest

from keras_ssl.backbones import conv_dense


@pytest.mark.parametrize(
    "input_shape, filters, units",
    [((8, 8, 1), (32, 32), 128), ((6, 6, 3), (4,), 5)],
)
def test_output_and_parameter_count(input_shape, filters, units):
    model = conv_dense(input_shape, filters=filters, units=units)
    assert model.name == "conv_dense"
    out = model(np.zeros((2,) + input_shape, "float32"))
    assert out.shape == (2, units)
    channels = (input_shape[-1], *filters)
    convs = sum(
        (9 * a + 1) * b
        for a, b in zip(channels[:-1], channels[1:], strict=True)
    )
    flat = (input_shape[0] // 2) * (input_shape[1] // 2) * filters[-1]
    assert model.count_params() == convs + (flat + 1) * units


def test_layers_and_activation():
    model = conv_dense((8, 8, 1))
    assert [layer.name for layer in model.layers[1:]] == [
        "conv1",
        "conv2",
        "pool",
        "flatten",
        "dense",
    ]
    assert model.get_layer("pool").output.shape == (None, 4, 4, 32)
    x = np.random.default_rng(0).normal(size=(4, 8, 8, 1))
    assert keras.ops.convert_to_numpy(model(x)).min() >= 0.0  # ReLU


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"input_shape": (8, 8)}, "input_shape"),
        ({"input_shape": (1, 8, 1)}, "input_shape"),
        ({"filters": ()}, "filters"),
        ({"units": 0}, "units"),
        ({"activation": "nope"}, "activation"),
    ],
)
def test_bad_arguments(kwargs, argument):
    kwargs = {"input_shape": (8, 8, 1), **kwargs}
    with pytest.raises(ValueError, match=argument):
        conv_dense(**kwargs)
