import keras
import numpy as np
import pytest

from keras_ssl.backbones import cifar_resnet


def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.fixture(scope="module")
def resnet18():
    keras.utils.set_random_seed(0)
    return cifar_resnet((32, 32, 3), depth=18)


def test_resnet18_matches_torchvision_count(resnet18):
    assert resnet18.name == "cifar_resnet"
    assert resnet18.output.shape == (None, 512)
    # torchvision resnet18 with a 3x3 stem and a 10-class fc (the CIFAR
    # ResNet-18 of DUQ and kuangliu/pytorch-cifar) has 11,173,962 weights.
    assert _trainable(resnet18) + (512 * 10 + 10) == 11_173_962
    # CIFAR stem: 3x3 stride 1, no max-pool; 32 -> 32 -> 16 -> 8 -> 4.
    assert resnet18.get_layer("stem_conv").kernel.shape == (3, 3, 3, 64)
    for stage, size in zip((1, 2, 3, 4), (32, 16, 8, 4), strict=True):
        layer = resnet18.get_layer(f"stage{stage}_block2_output")
        assert layer.output.shape[1:3] == (size, size)
    assert not any(
        isinstance(layer, keras.layers.MaxPooling2D)
        for layer in resnet18.layers
    )


def test_resnet18_save_load_round_trip(resnet18, tmp_path):
    images = np.random.default_rng(1).normal(size=(2, 32, 32, 3))
    path = str(tmp_path / "resnet18.keras")
    resnet18.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(
        restored(images, training=False),
        resnet18(images, training=False),
        rtol=1e-5,
        atol=1e-5,
    )


# Counts with a 10-class head, as printed by akamaster/pytorch_resnet_cifar10
# (He et al. 2016 option-A CIFAR ResNets: 0.27M, 0.46M, 0.85M).
@pytest.mark.parametrize(
    "depth, with_head", [(20, 269_722), (32, 464_154), (56, 853_018)]
)
def test_cifar_resnets_match_reference_counts(depth, with_head):
    model = cifar_resnet((32, 32, 3), depth=depth)
    assert model.output.shape == (None, 64)
    assert _trainable(model) + (64 * 10 + 10) == with_head


def test_zero_pad_shortcut_is_subsample_and_zeros():
    model = cifar_resnet((8, 8, 3), depth=20)
    probe = keras.Model(
        model.input,
        [
            model.get_layer("stage1_block3_output").output,
            model.get_layer("stage2_block1_shortcut_pad").output,
        ],
    )
    images = np.random.default_rng(0).normal(size=(2, 8, 8, 3))
    stage1, shortcut = (keras.ops.convert_to_numpy(t) for t in probe(images))
    assert shortcut.shape == (2, 4, 4, 32)
    np.testing.assert_allclose(shortcut[..., :16], stage1[:, ::2, ::2, :])
    np.testing.assert_array_equal(shortcut[..., 16:], 0.0)


def test_projection_shortcut_and_width():
    zero_pad = cifar_resnet((16, 16, 3), depth=20)
    projection = cifar_resnet((16, 16, 3), depth=20, shortcut="projection")
    # Two 1x1 convs (16->32, 32->64) and their BatchNorms.
    extra = 16 * 32 + 2 * 32 + 32 * 64 + 2 * 64
    assert _trainable(projection) == _trainable(zero_pad) + extra
    wide = cifar_resnet((16, 16, 3), depth=20, width=2)
    assert wide.output.shape == (None, 128)
    narrow = cifar_resnet((16, 16, 3), depth=18, width=0.125)
    assert narrow.output.shape == (None, 64)


def test_strided_conv_pads_like_pytorch():
    """A 3x3 stride-2 conv with padding 1 centres its taps on even pixels."""
    model = cifar_resnet((8, 8, 1), depth=20)
    pad = model.get_layer("stage2_block1_1_pad")
    assert pad.output.shape == (None, 10, 10, 16)
    conv = model.get_layer("stage2_block1_1_conv")
    assert conv.padding == "valid" and conv.output.shape[1:3] == (4, 4)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"depth": 19}, "depth"),
        ({"depth": 2}, "depth"),
        ({"depth": "18"}, "depth"),
        ({"width": 0}, "width"),
        ({"shortcut": "conv"}, "shortcut"),
        ({"input_shape": (32, 32, 3, 1)}, "input_shape"),
    ],
)
def test_argument_errors(kwargs, argument):
    kwargs = {"input_shape": (32, 32, 3), **kwargs}
    with pytest.raises(ValueError, match=argument):
        cifar_resnet(**kwargs)


def test_zero_pad_resnet_save_load_round_trip(tmp_path):
    model = cifar_resnet((8, 8, 3), depth=20)
    images = np.random.default_rng(2).normal(size=(2, 8, 8, 3))
    path = str(tmp_path / "resnet20.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(
        restored(images, training=False),
        model(images, training=False),
        rtol=1e-5,
        atol=1e-5,
    )
