import keras
import numpy as np
import pytest
from sklearn.datasets import make_moons

from keras_ssl.backbones import mlp


def _numpy_mlp(model, x, activation, final_activation):
    dense = [layer for layer in model.layers if "dense" in layer.name]
    for i, layer in enumerate(dense):
        kernel, bias = layer.get_weights()
        x = x @ kernel + bias
        x = activation(x) if i < len(dense) - 1 else final_activation(x)
    return x


def test_duq_two_moons_network_matches_numpy():
    keras.utils.set_random_seed(0)
    model = mlp((2,), hidden=(20, 20, 20))
    assert model.name == "mlp"
    # 2 -> 20 -> 20 -> 20 with biases.
    assert model.count_params() == (2 * 20 + 20) + 2 * (20 * 20 + 20)
    x = np.random.default_rng(0).normal(size=(7, 2))
    got = keras.ops.convert_to_numpy(model(x))
    want = _numpy_mlp(
        model, x, lambda v: np.maximum(v, 0.0), final_activation=lambda v: v
    )
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert got.min() < 0  # the last layer is linear


def test_activations_and_dropout():
    keras.utils.set_random_seed(1)
    model = mlp(
        (5,),
        hidden=(16, 8),
        activation="tanh",
        final_activation="sigmoid",
        dropout=0.5,
    )
    assert [layer.name for layer in model.layers].count("dropout1") == 1
    x = np.random.default_rng(1).normal(size=(4, 5))
    got = keras.ops.convert_to_numpy(model(x, training=False))
    want = _numpy_mlp(model, x, np.tanh, lambda v: 1 / (1 + np.exp(-v)))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # Dropout is active in training mode only.
    train_out = keras.ops.convert_to_numpy(model(x, training=True))
    assert not np.allclose(train_out, got)


def test_no_dropout_layers_by_default():
    model = mlp((3,), hidden=(4, 4))
    assert not any(
        isinstance(layer, keras.layers.Dropout) for layer in model.layers
    )
    assert model.output.shape == (None, 4)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"input_shape": (2, 2)}, "input_shape"),
        ({"input_shape": 2}, "input_shape"),
        ({"input_shape": (0,)}, "input_shape"),
        ({"hidden": ()}, "hidden"),
        ({"hidden": (20, -1)}, "hidden"),
        ({"activation": "no_such_activation"}, "activation"),
        ({"final_activation": "no_such_activation"}, "final_activation"),
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": -0.1}, "dropout"),
    ],
)
def test_argument_errors(kwargs, argument):
    kwargs = {"input_shape": (2,), **kwargs}
    with pytest.raises(ValueError, match=argument):
        mlp(**kwargs)


def test_save_load_round_trip(tmp_path):
    model = mlp((2,), hidden=(20, 20, 20), dropout=0.1)
    x = np.random.default_rng(2).normal(size=(5, 2))
    path = str(tmp_path / "mlp.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(
        restored(x, training=False), model(x, training=False), atol=1e-6
    )


def test_trains_on_two_moons():
    keras.utils.set_random_seed(0)
    x, y = make_moons(n_samples=256, noise=0.1, random_state=0)
    encoder = mlp((2,), hidden=(20, 20, 20))
    model = keras.Sequential([encoder, keras.layers.Dense(2)])
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history = model.fit(x, y, batch_size=64, epochs=15, verbose=0)
    assert history.history["loss"][-1] < 0.4 * history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.95
