import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_ssl.evaluation import encoder_features  # noqa: E402


@pytest.fixture(scope="module")
def encoder():
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            keras.layers.Conv2D(2, 3),
            keras.layers.BatchNormalization(),
            keras.layers.Dropout(0.5),
        ]
    )


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).normal(size=(10, 6, 6, 1)).astype("float32")


def test_inference_mode_and_flattening(encoder, images):
    features = encoder_features(encoder, images, batch_size=3)
    assert isinstance(features, np.ndarray)
    assert features.shape == (10, 4 * 4 * 2)
    expected = keras.ops.convert_to_numpy(encoder(images, training=False))
    np.testing.assert_allclose(features, expected.reshape(10, -1), rtol=1e-5)
    # Training mode (dropout on) would give different numbers.
    training = keras.ops.convert_to_numpy(encoder(images, training=True))
    assert not np.allclose(features, training.reshape(10, -1))


def test_batch_size_and_dataset_input_agree(encoder, images):
    whole = encoder_features(encoder, images, batch_size=256)
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(4)
    np.testing.assert_allclose(
        encoder_features(encoder, images, batch_size=1), whole, rtol=1e-5
    )
    np.testing.assert_allclose(
        encoder_features(encoder, dataset), whole, rtol=1e-5
    )


def test_rejects_bad_input(encoder, images):
    inputs = keras.Input((3,))
    two_outputs = keras.Model(
        inputs, [keras.layers.Dense(2)(inputs), keras.layers.Dense(1)(inputs)]
    )
    with pytest.raises(ValueError, match="single output"):
        encoder_features(two_outputs, np.zeros((4, 3)))
    with pytest.raises(ValueError, match="predict"):
        encoder_features(lambda x: x, images)
    with pytest.raises(ValueError, match="batch_size"):
        encoder_features(encoder, images, batch_size=0)
