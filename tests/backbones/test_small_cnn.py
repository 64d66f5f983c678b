import keras
import numpy as np
import pytest

from keras_ssl.backbones import SMALL_CNN_PRESETS
from keras_ssl.backbones import small_cnn


def _numpy_small_cnn(model, images, num_blocks):
    """Inference of `small_cnn` in NumPy from the model's weights."""
    x = images.astype("float64")
    for i in range(1, num_blocks + 1):
        (kernel,) = model.get_layer(f"block{i}_conv").get_weights()
        gamma, beta, mean, var = model.get_layer(f"block{i}_bn").get_weights()
        eps = model.get_layer(f"block{i}_bn").epsilon
        padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        h, w = x.shape[1:3]
        out = np.zeros(x.shape[:3] + (kernel.shape[-1],))
        for dy in range(3):
            for dx in range(3):
                patch = padded[:, dy : dy + h, dx : dx + w, :]
                out += patch @ kernel[dy, dx]
        out = gamma * (out - mean) / np.sqrt(var + eps) + beta
        x = np.maximum(out, 0.0)
        if i < num_blocks:
            b, h, w, c = x.shape
            x = x.reshape(b, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))
    return x.mean(axis=(1, 2))


def _randomize_batch_norms(model, rng):
    """Random gamma, beta and moving statistics, so inference uses them."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.get_weights()[0].shape[0]
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, c),
                    rng.normal(0, 0.1, c),
                    rng.normal(0, 0.1, c),
                    rng.uniform(0.5, 1.5, c),
                ]
            )


def test_forward_matches_numpy_reference():
    keras.utils.set_random_seed(0)
    model = small_cnn((8, 8, 1), preset="narrow")
    rng = np.random.default_rng(0)
    _randomize_batch_norms(model, rng)
    images = rng.normal(size=(3, 8, 8, 1)).astype("float32")
    got = keras.ops.convert_to_numpy(model(images, training=False))
    want = _numpy_small_cnn(model, images, num_blocks=3)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, dim",
    [
        ({}, 128),
        ({"preset": "narrow"}, 16),
        ({"preset": "wide"}, 128),
        ({"widths": (8, 12)}, 12),
        ({"preset": "narrow", "width_multiplier": 2.0}, 32),
    ],
)
def test_output_dims(kwargs, dim):
    model = small_cnn((16, 16, 1), **kwargs)
    assert model.name == "small_cnn"
    assert model.output.shape == (None, dim)


def test_presets_and_layer_structure():
    assert SMALL_CNN_PRESETS == {"narrow": (4, 8, 16), "wide": (32, 64, 128)}
    model = small_cnn((16, 16, 1), preset="narrow")
    # Conv kernels 3x3, no bias; max-pool after blocks 1 and 2 only.
    for i, width in enumerate((4, 8, 16), start=1):
        conv = model.get_layer(f"block{i}_conv")
        assert conv.kernel.shape[:2] == (3, 3)
        assert conv.kernel.shape[-1] == width
        assert not conv.use_bias
    assert model.get_layer("block2_pool").output.shape == (None, 4, 4, 8)
    names = [layer.name for layer in model.layers]
    assert "block3_pool" not in names
    # Narrow: 9*(1*4 + 4*8 + 8*16) kernel weights + 2*(4+8+16) BN weights.
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == 9 * (4 + 32 + 128) + 2 * 28


def test_accepts_unknown_spatial_size():
    model = small_cnn((None, None, 1), preset="narrow")
    out = model(np.zeros((2, 12, 20, 1), "float32"))
    assert out.shape == (2, 16)


def test_accepts_numpy_integers():
    shape = tuple(np.array([16, 16, 1]))
    model = small_cnn(shape, widths=tuple(np.array([4, 8])))
    assert model.input.shape == (None, 16, 16, 1)
    assert model.output.shape == (None, 8)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"preset": "tiny"}, "preset"),
        ({"preset": "narrow", "widths": (4, 8)}, "widths or preset"),
        ({"widths": ()}, "widths"),
        ({"widths": (4, 0)}, "widths"),
        ({"widths": (4, 2.5)}, "widths"),
        ({"width_multiplier": 0}, "width_multiplier"),
        ({"width_multiplier": "2"}, "width_multiplier"),
    ],
)
def test_argument_errors(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        small_cnn((16, 16, 1), **kwargs)


@pytest.mark.parametrize(
    "input_shape", [(16, 16), (16, 16, 0), (2, 16, 1), (16, 16, None)]
)
def test_input_shape_errors(input_shape):
    with pytest.raises(ValueError, match="input_shape"):
        small_cnn(input_shape)


def test_save_load_round_trip(tmp_path):
    model = small_cnn((16, 16, 1), preset="narrow")
    rng = np.random.default_rng(1)
    _randomize_batch_norms(model, rng)
    images = rng.normal(size=(2, 16, 16, 1))
    path = str(tmp_path / "small_cnn.keras")
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
    # A learnable target: is the top half brighter than the bottom half?
    labels = (
        images[:, :4].mean(axis=(1, 2, 3)) > images[:, 4:].mean(axis=(1, 2, 3))
    ).astype("int32")
    encoder = small_cnn((8, 8, 1), preset="narrow")
    model = keras.Sequential([encoder, keras.layers.Dense(2)])
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    history = model.fit(images, labels, batch_size=64, epochs=15, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.3 * losses[0]
