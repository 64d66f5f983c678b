import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.layers import unet_lens


def test_the_lens_starts_as_the_identity_and_keeps_the_shape():
    x = np.random.default_rng(0).random((3, 16, 16, 3)).astype("float32")
    lens = unet_lens((16, 16, 3), widths=(4, 8, 16))
    np.testing.assert_array_equal(lens(x), x)
    assert lens.output_shape == (None, 16, 16, 3)
    residual = lens.get_layer("residual")
    assert not np.any(residual.kernel.numpy()) and not np.any(residual.bias)
    # Any size divisible by 4 (two poolings) goes through.
    flexible = unet_lens((None, None, 1), widths=(2, 4, 8))
    assert flexible(np.zeros((1, 12, 20, 1))).shape == (1, 12, 20, 1)


def test_the_output_is_input_plus_residual_clipped_with_gradients_at_bounds():
    lens = unet_lens((8, 8, 1), widths=(4, 8))
    residual = lens.get_layer("residual")
    residual.bias.assign([0.3])
    x = np.zeros((2, 8, 8, 1), "float32")
    x[:, :4] = 1.0
    out = np.asarray(lens(x))
    np.testing.assert_allclose(out[:, :4], 1.0)  # 1.3, clipped
    np.testing.assert_allclose(out[:, 4:], 0.3, atol=1e-6)
    residual.bias.assign([0.0])
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(lens(x))
    # At the bounds (0 and 1 exactly) the bias still gets the gradient of
    # every pixel.
    gradient = tape.gradient(loss, residual.bias)
    np.testing.assert_allclose(gradient, [2 * 64])
    unclipped = unet_lens((8, 8, 1), widths=(4, 8), value_range=None)
    unclipped.get_layer("residual").bias.assign([0.3])
    np.testing.assert_allclose(unclipped(x)[:, :4], 1.3)


def test_the_lens_saves_and_loads(tmp_path):
    lens = unet_lens((8, 8, 1), widths=(4, 8), value_range=(-1.0, 1.0))
    lens.get_layer("residual").bias.assign([-5.0])
    path = str(tmp_path / "lens.keras")
    lens.save(path)
    loaded = keras.saving.load_model(path)
    x = np.ones((1, 8, 8, 1), "float32")
    np.testing.assert_allclose(loaded(x), -1.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"input_shape": (10, 10, 1)}, "divisible by 4"),
        ({"input_shape": (16, 16)}, "input_shape must be"),
        ({"widths": ()}, "widths must be"),
        ({"value_range": (1.0, 0.0)}, "value_range must be"),
        ({"value_range": "unit"}, "value_range must be"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        unet_lens(**{"input_shape": (16, 16, 1), **kwargs})
