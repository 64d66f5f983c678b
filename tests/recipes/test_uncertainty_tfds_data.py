"""The uncertainty recipes' TFDS in/out data, on sets built in the test."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

from keras_ssl.recipes import get_recipe
from tests.data.test_load_tfds import SIZES
from tests.data.test_load_tfds import KerasSslFakeGray
from tests.data.test_load_tfds import KerasSslFakeRgb


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    tfds.disable_progress_bar()
    path = str(tmp_path_factory.mktemp("tfds"))
    KerasSslFakeGray(data_dir=path).download_and_prepare()
    KerasSslFakeRgb(data_dir=path).download_and_prepare()
    return path


def test_tfds_data_has_the_load_data_format(data_dir):
    recipe = get_recipe("softmax")
    data = recipe.tfds_data(
        "keras_ssl_fake_rgb",
        ("keras_ssl_fake_gray",),
        seed=3,
        image_size=4,
        channels=3,
        data_dir=data_dir,
    )
    assert data["x_train"].shape == (SIZES["train"], 4, 4, 3)
    assert data["x_test"].shape == (SIZES["test"], 4, 4, 3)
    assert data["num_classes"] == 3 and data["input_shape"] == (4, 4, 3)
    assert set(data["ood"]) == {"keras_ssl_fake_gray", "uniform_noise"}
    assert data["ood"]["keras_ssl_fake_gray"].shape == (SIZES["test"], 4, 4, 3)
    noise = data["ood"]["uniform_noise"]
    assert noise.shape == data["x_test"].shape
    assert 0.0 <= noise.min() and noise.max() <= 1.0
    # The images are the prepared ones, not noise: gray sets turned RGB
    # have three equal channels.
    gray = data["ood"]["keras_ssl_fake_gray"]
    np.testing.assert_allclose(gray[..., 0], gray[..., 2])
    # The family's evaluation runs on it.
    metrics = recipe.evaluate(_Uniform(), data)
    assert set(metrics["ood"]) == {"keras_ssl_fake_gray", "uniform_noise"}


def test_tfds_data_does_not_download(tmp_path):
    with pytest.raises(ValueError, match="keras_ssl_fake_rgb"):
        get_recipe("duq").tfds_data(
            "keras_ssl_fake_rgb", (), data_dir=str(tmp_path)
        )


class _Uniform:
    """A stand-in model: uniform probabilities, score = mean pixel."""

    def classify(self, x):
        import keras

        score = keras.ops.mean(x, axis=(1, 2, 3))
        probs = keras.ops.ones((keras.ops.shape(x)[0], 3)) / 3.0
        return {
            "probs": probs,
            "certainty": 1 / 3 + 0 * score,
            "ood_score": score,
        }
