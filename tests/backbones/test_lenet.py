import keras
import numpy as np
import pytest

from keras_ssl.backbones import lenet


def _lenet_params(height, width, channels, features):
    """Weights of conv 6@5x5, conv 16@5x5, two 2x2 pools, 120, features."""
    conv1 = (5 * 5 * channels + 1) * 6
    conv2 = (5 * 5 * 6 + 1) * 16
    flat = (height // 4) * (width // 4) * 16
    return conv1 + conv2 + (flat + 1) * 120 + (120 + 1) * features


@pytest.mark.parametrize(
    "input_shape, features", [((8, 8, 1), 84), ((16, 16, 3), 32)]
)
def test_output_dims_and_parameter_count(input_shape, features):
    model = lenet(input_shape, features=features)
    assert model.name == "lenet"
    out = model(np.zeros((2,) + input_shape, "float32"))
    assert out.shape == (2, features)
    assert model.count_params() == _lenet_params(*input_shape, features)


def test_layers_follow_lenet5():
    model = lenet((16, 16, 1))
    assert model.get_layer("conv1").kernel.shape == (5, 5, 1, 6)
    assert model.get_layer("conv2").kernel.shape == (5, 5, 6, 16)
    # "same" padding: 16 -> 16 -> pool 8 -> 8 -> pool 4.
    assert model.get_layer("pool2").output.shape == (None, 4, 4, 16)
    assert model.get_layer("fc1").units == 120
    # The features are activated (ReLU by default), LeNet's F6.
    x = np.random.default_rng(0).normal(size=(4, 16, 16, 1))
    assert keras.ops.convert_to_numpy(model(x)).min() >= 0.0


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"input_shape": (None, None, 1)}, "input_shape"),
        ({"input_shape": (2, 2, 1)}, "input_shape"),
        ({"input_shape": (8, 8)}, "input_shape"),
        ({"features": 0}, "features"),
        ({"features": 8.0}, "features"),
        ({"activation": "no_such_activation"}, "activation"),
    ],
)
def test_argument_errors(kwargs, argument):
    kwargs = {"input_shape": (8, 8, 1), **kwargs}
    with pytest.raises(ValueError, match=argument):
        lenet(**kwargs)


def test_save_load_round_trip(tmp_path):
    model = lenet((16, 16, 1))
    images = np.random.default_rng(1).normal(size=(2, 16, 16, 1))
    path = str(tmp_path / "lenet.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(
        restored(images, training=False),
        model(images, training=False),
        atol=1e-6,
    )


def test_trains():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    images = rng.normal(size=(64, 8, 8, 1)).astype("float32")
    labels = (images[:, :, :4].mean(axis=(1, 2, 3)) > 0).astype("int32")
    model = keras.Sequential([lenet((8, 8, 1)), keras.layers.Dense(2)])
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    history = model.fit(images, labels, batch_size=64, epochs=20, verbose=0)
    assert history.history["loss"][-1] < 0.3 * history.history["loss"][0]
