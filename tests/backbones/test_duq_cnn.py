import math

import keras
import numpy as np
import pytest

from keras_ssl.backbones import duq_cnn


@pytest.mark.parametrize(
    "side, last_padding, flat_side",
    [(16, "valid", 1), (8, "same", 1), (32, "valid", 3)],
)
def test_blocks_padding_and_parameter_count(side, last_padding, flat_side):
    model = duq_cnn((side, side, 3))
    assert model.get_layer("block3_conv").padding == last_padding
    assert model.get_layer("block1_conv").padding == "same"
    assert model.get_layer("block3_pool").output.shape[1] == flat_side
    out = model(np.zeros((2, side, side, 3), "float32"))
    assert out.shape == (2, 256)
    channels = (3, 32, 64, 64)
    convs = sum(
        (9 * a + 1) * b
        for a, b in zip(channels[:-1], channels[1:], strict=True)
    )
    batch_norms = 4 * (32 + 64 + 64)
    dense = (flat_side**2 * 64 + 1) * 256
    assert model.count_params() == convs + batch_norms + dense
    bn = model.get_layer("block1_bn")
    assert bn.epsilon == 1e-5 and bn.momentum == 0.9


def test_pytorch_initialisation_is_uniform_in_one_over_sqrt_fan_in():
    keras.utils.set_random_seed(0)
    model = duq_cnn((16, 16, 1))
    for name, fan_in in (("block2_conv", 9 * 32), ("dense", 64)):
        layer = model.get_layer(name)
        bound = 1.0 / math.sqrt(fan_in)
        for weights in (layer.kernel, layer.bias):
            w = keras.ops.convert_to_numpy(weights).ravel()
            assert np.abs(w).max() <= bound
            # Uniform on [-b, b]: standard deviation b / sqrt(3).
            np.testing.assert_allclose(w.std(), bound / math.sqrt(3), rtol=0.2)
    glorot = duq_cnn((16, 16, 1), initializer="glorot")
    assert not np.any(
        keras.ops.convert_to_numpy(glorot.get_layer("dense").bias)
    )


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"input_shape": (4, 4, 1)}, "input_shape"),
        ({"widths": ()}, "widths"),
        ({"units": 0}, "units"),
        ({"initializer": "he"}, "initializer"),
        ({"batch_norm_epsilon": 0.0}, "batch_norm_epsilon"),
    ],
)
def test_bad_arguments(kwargs, argument):
    kwargs = {"input_shape": (16, 16, 1), **kwargs}
    with pytest.raises(ValueError, match=argument):
        duq_cnn(**kwargs)
