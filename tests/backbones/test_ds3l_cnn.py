import math

import keras
import numpy as np
import pytest
from scipy import signal

from keras_ssl.backbones import ds3l_cnn


def _reference(x, kernel, bias):
    """NumPy of one official block on `(h, w, c)`: Conv3x3 padding 1,
    MaxPool 3x3 stride 2 padded with -inf (PyTorch), then ReLU."""
    padded = np.pad(x, ((1, 1), (1, 1), (0, 0)))
    conv = np.stack(
        [
            sum(
                signal.correlate2d(padded[..., c], kernel[..., c, o], "valid")
                for c in range(x.shape[-1])
            )
            + bias[o]
            for o in range(kernel.shape[-1])
        ],
        axis=-1,
    )
    h, w, _ = conv.shape
    pooled_in = np.pad(conv, ((1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
    out_h, out_w = (h + 2 - 3) // 2 + 1, (w + 2 - 3) // 2 + 1
    pooled = np.array(
        [
            [
                pooled_in[2 * i : 2 * i + 3, 2 * j : 2 * j + 3].max((0, 1))
                for j in range(out_w)
            ]
            for i in range(out_h)
        ]
    )
    return np.maximum(pooled, 0.0)


def test_blocks_match_the_official_conv_pool_relu():
    keras.utils.set_random_seed(0)
    model = ds3l_cnn((8, 8, 1))
    rng = np.random.default_rng(0)
    # Negative inputs too, so that whole pooling windows are negative
    # and the zero padding would show if it were not undone by the ReLU.
    x = rng.normal(size=(3, 8, 8, 1)).astype("float32") - 0.5
    out = keras.ops.convert_to_numpy(model(x))
    assert out.shape == (3, 32 * 2 * 2)
    expected = []
    for image in x:
        h = image
        for i in (1, 2):
            layer = model.get_layer(f"block{i}_conv")
            kernel, bias = (
                keras.ops.convert_to_numpy(w) for w in layer.weights
            )
            h = _reference(h, kernel, bias)
        expected.append(h.reshape(-1))
    np.testing.assert_allclose(out, np.array(expected), atol=1e-5)


@pytest.mark.parametrize("side, flat_side", [(8, 2), (28, 7), (5, 2)])
def test_feature_size_follows_the_official_network(side, flat_side):
    model = ds3l_cnn((side, side, 1))
    assert model.output.shape[-1] == 32 * flat_side**2
    # Conv 1->16 and 16->32, 3x3 with biases; no dense layer.
    assert model.count_params() == (9 + 1) * 16 + (9 * 16 + 1) * 32


def test_pytorch_initialisation_is_uniform_in_one_over_sqrt_fan_in():
    keras.utils.set_random_seed(0)
    layer = ds3l_cnn((8, 8, 1)).get_layer("block2_conv")
    bound = 1.0 / math.sqrt(9 * 16)
    for weights in (layer.kernel, layer.bias):
        w = keras.ops.convert_to_numpy(weights).ravel()
        assert np.abs(w).max() <= bound
    kernel = keras.ops.convert_to_numpy(layer.kernel).ravel()
    np.testing.assert_allclose(kernel.std(), bound / math.sqrt(3), rtol=0.1)
    glorot = ds3l_cnn((8, 8, 1), initializer="glorot")
    assert not np.any(
        keras.ops.convert_to_numpy(glorot.get_layer("block1_conv").bias)
    )


def test_center_maps_unit_inputs_to_plus_minus_one_first():
    keras.utils.set_random_seed(0)
    centred = ds3l_cnn((8, 8, 1), center=True)
    assert centred.layers[1].name == "center"
    keras.utils.set_random_seed(0)
    plain = ds3l_cnn((8, 8, 1))
    plain.set_weights(centred.get_weights())  # no weights of its own
    x = np.random.default_rng(1).uniform(size=(4, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(centred(x)),
        keras.ops.convert_to_numpy(plain(2.0 * x - 1.0)),
        atol=1e-6,
    )
    # A blank (0) background becomes -1, as the official inputs.
    center = keras.Model(centred.input, centred.get_layer("center").output)
    blank = keras.ops.convert_to_numpy(center(np.zeros((1, 8, 8, 1))))
    np.testing.assert_array_equal(blank, -np.ones((1, 8, 8, 1)))


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"input_shape": (1, 1, 1)}, "input_shape"),
        ({"widths": ()}, "widths"),
        ({"widths": (16, 0)}, "widths"),
        ({"initializer": "he"}, "initializer"),
        ({"center": 1}, "center"),
    ],
)
def test_bad_arguments(kwargs, argument):
    kwargs = {"input_shape": (8, 8, 1), **kwargs}
    with pytest.raises(ValueError, match=argument):
        ds3l_cnn(**kwargs)
