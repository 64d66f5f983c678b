import keras
import numpy as np
import pytest

from keras_ssl.backbones import wide_resnet


def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.fixture(scope="module")
def wrn_28_2():
    keras.utils.set_random_seed(0)
    return wide_resnet((32, 32, 3))


def test_wrn_28_2_parameter_count(wrn_28_2):
    assert wrn_28_2.name == "wide_resnet"
    assert wrn_28_2.output.shape == (None, 128)
    # WRN-28-2 with a 10-class head: 1,467,610 weights (the "1.47M" of
    # FixMatch / USB tables; bias-free convolutions as in Oliver et al.).
    assert _trainable(wrn_28_2) + (128 * 10 + 10) == 1_467_610


def test_wrn_28_10_parameter_count():
    # Zagoruyko & Komodakis report 36.5M for WRN-28-10 on CIFAR-10
    # (36,479,194 with the 10-class head in their PyTorch port).
    model = wide_resnet((32, 32, 3), depth=28, width=10)
    assert _trainable(model) + (640 * 10 + 10) == 36_479_194


def test_oliver_et_al_details(wrn_28_2):
    bns = [
        layer
        for layer in wrn_28_2.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert len(bns) == 2 * 12 + 1
    assert all(bn.momentum == 0.999 and bn.epsilon == 1e-3 for bn in bns)
    acts = [
        layer
        for layer in wrn_28_2.layers
        if isinstance(layer, keras.layers.LeakyReLU)
    ]
    assert all(act.negative_slope == 0.1 for act in acts)
    convs = [
        layer
        for layer in wrn_28_2.layers
        if isinstance(layer, keras.layers.Conv2D)
    ]
    assert len(convs) == 1 + 2 * 12 + 3 and not any(c.use_bias for c in convs)
    # Pre-activation units; only the first unit shortcuts from the
    # activated input (activate_before_residual = [True, False, False]).

    def source(layer_name):
        tensor = wrn_28_2.get_layer(layer_name).input
        return tensor._keras_history.operation.name

    assert source("stage1_unit1_shortcut") == "stage1_unit1_act1"
    assert source("stage2_unit1_shortcut") == "stage1_unit4_output"
    assert source("stage3_unit1_shortcut") == "stage2_unit4_output"
    assert source("stage1_unit1_conv1") == "stage1_unit1_act1"
    # 32 -> 32 -> 16 -> 8, then BN -> LeakyReLU -> GAP.
    for stage, size in zip((1, 2, 3), (32, 16, 8), strict=True):
        shape = wrn_28_2.get_layer(f"stage{stage}_unit4_output").output.shape
        assert shape[1:3] == (size, size)
    assert source("pool") == "final_act"


def test_dropout_between_convolutions():
    model = wide_resnet((16, 16, 3), depth=10, width=1, dropout=0.3)
    drops = [
        layer
        for layer in model.layers
        if isinstance(layer, keras.layers.Dropout)
    ]
    assert len(drops) == 3 and all(d.rate == 0.3 for d in drops)
    plain = wide_resnet((16, 16, 3), depth=10, width=1)
    assert not any(
        isinstance(layer, keras.layers.Dropout) for layer in plain.layers
    )


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"depth": 27}, "depth"),
        ({"depth": 4}, "depth"),
        ({"width": 0}, "width"),
        ({"width": 2.5}, "width"),
        ({"dropout": 1.0}, "dropout"),
        ({"leaky_relu_slope": -0.1}, "leaky_relu_slope"),
        ({"input_shape": (32, 32)}, "input_shape"),
    ],
)
def test_argument_errors(kwargs, argument):
    kwargs = {"input_shape": (32, 32, 3), **kwargs}
    with pytest.raises(ValueError, match=argument):
        wide_resnet(**kwargs)


def test_save_load_round_trip(wrn_28_2, tmp_path):
    images = np.random.default_rng(1).normal(size=(2, 32, 32, 3))
    path = str(tmp_path / "wrn.keras")
    wrn_28_2.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(
        restored(images, training=False),
        wrn_28_2(images, training=False),
        rtol=1e-5,
        atol=1e-5,
    )
