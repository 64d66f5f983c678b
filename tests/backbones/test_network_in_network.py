import keras
import numpy as np
import pytest

from keras_ssl.backbones import network_in_network


def _conv_bn(kernel_size, filters_in, filters_out):
    # Conv without bias + BatchNorm gamma/beta, as in NetworkInNetwork.py.
    return (
        kernel_size * kernel_size * filters_in * filters_out + 2 * filters_out
    )


BLOCK1 = _conv_bn(5, 3, 192) + _conv_bn(1, 192, 160) + _conv_bn(1, 160, 96)
BLOCK2 = _conv_bn(5, 96, 192) + 2 * _conv_bn(1, 192, 192)
BLOCK3 = _conv_bn(3, 192, 192) + 2 * _conv_bn(1, 192, 192)


def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.fixture(scope="module")
def aet_nin():
    keras.utils.set_random_seed(0)
    return network_in_network((32, 32, 3))


def test_aet_encoder_structure(aet_nin):
    assert aet_nin.name == "network_in_network"
    assert aet_nin.output.shape == (None, 192)
    # AET: 4 blocks, pools after blocks 1 and 2 only.
    assert _trainable(aet_nin) == BLOCK1 + BLOCK2 + 2 * BLOCK3 == 1_410_368
    spatial = [
        aet_nin.get_layer(f"block{i}_output").output.shape for i in range(1, 5)
    ]
    assert spatial == [
        (None, 16, 16, 96),
        (None, 8, 8, 192),
        (None, 8, 8, 192),
        (None, 8, 8, 192),
    ]


def _pytorch_pool(x, reduce):
    """PyTorch 3x3 pool, stride 2, padding 1 (zeros; -inf for max)."""
    fill = -np.inf if reduce is np.max else 0.0
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=fill)
    size = (x.shape[1] + 2 - 3) // 2 + 1
    out = np.zeros((x.shape[0], size, size, x.shape[-1]))
    for i in range(size):
        for j in range(size):
            window = padded[:, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3, :]
            out[:, i, j, :] = reduce(window, axis=(1, 2))
    return out


def test_pools_match_pytorch_padding(aet_nin):
    """Max-pool and avg-pool (count_include_pad) as PyTorch pads them."""
    names = [
        "block1_conv3_relu",
        "block1_output",
        "block2_conv3_relu",
        "block2_output",
    ]
    probe = keras.Model(
        aet_nin.input, [aet_nin.get_layer(n).output for n in names]
    )
    images = np.random.default_rng(0).normal(size=(2, 32, 32, 3))
    relu1, pool1, relu2, pool2 = (
        keras.ops.convert_to_numpy(t) for t in probe(images)
    )
    np.testing.assert_allclose(pool1, _pytorch_pool(relu1, np.max), atol=1e-6)
    np.testing.assert_allclose(
        pool2, _pytorch_pool(relu2, np.mean), rtol=1e-5, atol=1e-6
    )


def test_works_on_16x16():
    model = network_in_network((16, 16, 1), num_blocks=3)
    out = model(np.zeros((2, 16, 16, 1), "float32"))
    assert out.shape == (2, 192)
    assert model.get_layer("block2_output").output.shape == (None, 4, 4, 192)
    assert _trainable(model) == (
        BLOCK1 - _conv_bn(5, 3, 192) + _conv_bn(5, 1, 192) + BLOCK2 + BLOCK3
    )


def test_options():
    model = network_in_network((32, 32, 3), pool_after_block3=True)
    assert model.get_layer("block3_output").output.shape == (None, 4, 4, 192)
    assert model.get_layer("block4_output").output.shape == (None, 4, 4, 192)
    single = network_in_network((16, 16, 3), num_blocks=1)
    assert single.output.shape == (None, 96)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"num_blocks": 0}, "num_blocks"),
        ({"num_blocks": 2.0}, "num_blocks"),
        ({"pool_after_block3": "yes"}, "pool_after_block3"),
        ({"input_shape": (32, 32)}, "input_shape"),
    ],
)
def test_argument_errors(kwargs, argument):
    kwargs = {"input_shape": (32, 32, 3), **kwargs}
    with pytest.raises(ValueError, match=argument):
        network_in_network(**kwargs)


def test_save_load_round_trip(tmp_path):
    model = network_in_network((16, 16, 3), num_blocks=3)
    images = np.random.default_rng(1).normal(size=(2, 16, 16, 3))
    path = str(tmp_path / "nin.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(
        restored(images, training=False),
        model(images, training=False),
        atol=1e-5,
    )
