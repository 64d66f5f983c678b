"""The TFDS loader on small data sets built in the test (no network)."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from keras_ssl.data import DATASETS
from keras_ssl.data import load_dataset
from keras_ssl.data import load_tfds
from keras_ssl.data import tfds_split

SIZES = {"train": 20, "test": 8}


def _examples(split, shape):
    """The images and labels a fake builder writes, in generation order."""
    rng = np.random.RandomState(0 if split == "train" else 1)
    images = rng.randint(0, 256, (SIZES[split], *shape)).astype("uint8")
    labels = np.arange(SIZES[split]) % 3
    return images, labels


class _FakeBuilder(tfds.core.GeneratorBasedBuilder):
    VERSION = tfds.core.Version("1.0.0")
    SHAPE = None

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=self.SHAPE),
                    "label": tfds.features.ClassLabel(num_classes=3),
                }
            ),
        )

    def _split_generators(self, dl_manager):
        return {split: self._generate_examples(split) for split in SIZES}

    def _generate_examples(self, split):
        images, labels = _examples(split, self.SHAPE)
        for i, (image, label) in enumerate(zip(images, labels, strict=True)):
            yield i, {"image": image, "label": int(label)}


class KerasSslFakeGray(_FakeBuilder):
    SHAPE = (6, 6, 1)


class KerasSslFakeRgb(_FakeBuilder):
    SHAPE = (5, 5, 3)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    tfds.disable_progress_bar()
    path = str(tmp_path_factory.mktemp("tfds"))
    KerasSslFakeGray(data_dir=path).download_and_prepare()
    KerasSslFakeRgb(data_dir=path).download_and_prepare()
    return path


def _same_rows(actual, expected):
    """Order-free comparison (TFDS shuffles examples when it writes them)."""
    order_a = np.lexsort(actual.reshape(len(actual), -1).T)
    order_e = np.lexsort(expected.reshape(len(expected), -1).T)
    np.testing.assert_allclose(actual[order_a], expected[order_e], atol=1e-6)
    return order_a, order_e


def test_load_by_name_scales_to_unit_range(data_dir):
    x, y = load_tfds("keras_ssl_fake_gray", split="train", data_dir=data_dir)
    images, labels = _examples("train", (6, 6, 1))
    assert x.shape == (20, 6, 6, 1) and x.dtype == np.float32
    assert y.dtype == np.int32
    order_a, order_e = _same_rows(x, images / 255.0)
    np.testing.assert_array_equal(y[order_a], labels[order_e])


def test_resize_and_gray_to_rgb(data_dir):
    builder = KerasSslFakeGray(data_dir=data_dir)
    x, _ = load_tfds(
        None, split="test", image_size=4, channels=3, builder=builder
    )
    images, _ = _examples("test", (6, 6, 1))
    expected = tf.image.resize(images / 255.0, (4, 4), method="bilinear")
    expected = np.repeat(np.clip(expected.numpy(), 0, 1), 3, axis=-1)
    assert x.shape == (8, 4, 4, 3)
    _same_rows(x, expected)


def test_rgb_to_gray(data_dir):
    x, _ = load_tfds("keras_ssl_fake_rgb", data_dir=data_dir, channels=1)
    images, _ = _examples("train", (5, 5, 3))
    # ITU-R 601 luma, the weights of tf.image.rgb_to_grayscale.
    gray = (images / 255.0) @ np.array([0.2989, 0.5870, 0.1140])
    assert x.shape == (20, 5, 5, 1)
    _same_rows(x, gray[..., None])


def test_dataset_output_and_max_examples(data_dir):
    dataset = load_tfds(
        "keras_ssl_fake_rgb",
        split="test",
        data_dir=data_dir,
        as_numpy=False,
        image_size=(3, 2),
    )
    assert dataset.element_spec == (
        tf.TensorSpec((3, 2, 3), tf.float32),
        tf.TensorSpec((), tf.int32),
    )
    assert len(list(dataset)) == 8
    x, y = load_tfds("keras_ssl_fake_rgb", data_dir=data_dir, max_examples=7)
    assert len(x) == len(y) == 7


def test_missing_data_is_not_downloaded(tmp_path):
    with pytest.raises(ValueError, match="download=True"):
        load_tfds("keras_ssl_fake_gray", data_dir=str(tmp_path))
    assert not any(tmp_path.iterdir())


def test_bad_arguments(data_dir):
    with pytest.raises(ValueError, match="not a TensorFlow Datasets"):
        load_tfds("no_such_dataset_xyz")
    with pytest.raises(ValueError, match="channels"):
        load_tfds("keras_ssl_fake_gray", data_dir=data_dir, channels=2)
    with pytest.raises(ValueError, match="image_size"):
        load_tfds("keras_ssl_fake_gray", data_dir=data_dir, image_size=(0, 3))


def test_load_dataset_dispatch(data_dir):
    assert DATASETS == ("digits", "two_moons", "wine", "breast_cancer")
    (x_train, _), (x_test, _) = load_dataset("digits", image_size=16)
    assert x_train.shape[1:] == (16, 16, 1) and len(x_test) == 540
    (x_train, _), (x_test, _) = load_dataset("two_moons", n_samples=50)
    assert x_train.shape == (50, 2) and x_test.shape == (200, 2)
    (x_train, _), (x_test, _) = load_dataset("wine", test_size=0.5)
    assert x_train.shape == (89, 13) and x_test.shape == (89, 13)
    (x_train, y_train), (x_test, y_test) = load_dataset(
        "keras_ssl_fake_gray", data_dir=data_dir, channels=3
    )
    assert x_train.shape == (20, 6, 6, 3) and x_test.shape == (8, 6, 6, 3)
    with pytest.raises(ValueError, match="digits"):
        load_dataset("no_such_dataset_xyz")


def test_tfds_split_reads_both_splits_as_a_recipe_data_dict(data_dir):
    data = tfds_split(
        "keras_ssl_fake_rgb", image_size=4, channels=1, data_dir=data_dir
    )
    assert set(data) == {
        "kind",
        "x_train",
        "y_train",
        "x_test",
        "y_test",
        "num_classes",
        "input_shape",
    }
    assert data["kind"] == "image"
    assert data["x_train"].shape == (SIZES["train"], 4, 4, 1)
    assert data["x_test"].shape == (SIZES["test"], 4, 4, 1)
    assert data["input_shape"] == (4, 4, 1) and data["num_classes"] == 3
    # The same options reach both splits: each is what load_tfds reads.
    for split in ("train", "test"):
        x, y = load_tfds(
            "keras_ssl_fake_rgb",
            split,
            image_size=4,
            channels=1,
            data_dir=data_dir,
        )
        np.testing.assert_array_equal(data[f"x_{split}"], x)
        np.testing.assert_array_equal(data[f"y_{split}"], y)
    # ... and the test split holds the test images, not the train ones.
    images, _ = _examples("test", (5, 5, 3))
    expected = tf.image.resize(images / 255.0, (4, 4), method="bilinear")
    expected = tf.image.rgb_to_grayscale(np.clip(expected.numpy(), 0, 1))
    _same_rows(data["x_test"], expected.numpy())


def test_tfds_split_takes_a_builder_splits_and_a_cap(data_dir):
    builder = KerasSslFakeGray(data_dir=data_dir)
    data = tfds_split(
        None,
        builder=builder,
        train_split="train[:12]",
        test_split="train[12:]",
        max_examples=5,
    )
    assert len(data["x_train"]) == len(data["y_train"]) == 5
    assert len(data["x_test"]) == len(data["y_test"]) == 5
    assert data["input_shape"] == (6, 6, 1)
    assert data["num_classes"] == int(data["y_train"].max()) + 1
    # Disjoint slices of one split: no image is in both.
    train = {row.tobytes() for row in data["x_train"]}
    assert not train & {row.tobytes() for row in data["x_test"]}


def test_tfds_split_rejects_bad_arguments(data_dir, tmp_path):
    fake = dict(data_dir=data_dir)
    with pytest.raises(ValueError, match="name must be a TensorFlow"):
        tfds_split(None)
    with pytest.raises(ValueError, match="name must be a TensorFlow"):
        tfds_split("", **fake)
    with pytest.raises(ValueError, match="train_split must be a non-empty"):
        tfds_split("keras_ssl_fake_gray", train_split="", **fake)
    with pytest.raises(ValueError, match="test_split must be a non-empty"):
        tfds_split("keras_ssl_fake_gray", test_split=1, **fake)
    with pytest.raises(ValueError, match="must differ"):
        tfds_split("keras_ssl_fake_gray", test_split="train", **fake)
    # The options load_tfds checks, and a set that is not prepared.
    with pytest.raises(ValueError, match="channels"):
        tfds_split("keras_ssl_fake_gray", channels=2, **fake)
    with pytest.raises(ValueError, match="max_examples"):
        tfds_split("keras_ssl_fake_gray", max_examples=0, **fake)
    with pytest.raises(ValueError, match="download=True"):
        tfds_split("keras_ssl_fake_gray", data_dir=str(tmp_path))
    assert not any(tmp_path.iterdir())


def test_uncertainty_recipes_read_a_tfds_set_with_its_ood_sets(data_dir):
    from keras_ssl.recipes import get_recipe

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
    gray = data["ood"]["keras_ssl_fake_gray"]
    assert gray.shape == (SIZES["test"], 4, 4, 3)
    # The prepared gray images, made RGB: three equal channels.
    np.testing.assert_allclose(gray[..., 0], gray[..., 2])
    noise = data["ood"]["uniform_noise"]
    assert noise.shape == data["x_test"].shape
    assert not np.allclose(noise[..., 0], noise[..., 2])

    class MeanPixel:  # uniform probabilities, score = mean pixel
        def classify(self, x):
            score = tf.reduce_mean(x, axis=(1, 2, 3))
            probs = tf.ones((tf.shape(x)[0], 3)) / 3
            return {"probs": probs, "certainty": 0 * score, "ood_score": score}

    metrics = recipe.evaluate(MeanPixel(), data)
    assert set(metrics["ood"]) == {"keras_ssl_fake_gray", "uniform_noise"}


def test_semi_supervised_recipes_read_a_tfds_set_split_into_labels(data_dir):
    from keras_ssl.recipes.ns3l_recipe import NS3LRecipe

    recipe = NS3LRecipe()
    data = recipe.tfds_data(
        "keras_ssl_fake_rgb", labels_per_class=2, seed=1, data_dir=data_dir
    )
    assert data["x_labeled"].shape == (6, 5, 5, 3)  # 2 of each of 3 classes
    np.testing.assert_array_equal(np.bincount(data["y_labeled"]), [2, 2, 2])
    assert data["x_train"].shape == (SIZES["train"] - 6, 5, 5, 3)
    assert data["x_test"].shape == (SIZES["test"], 5, 5, 3)
    assert data["num_classes"] == 3 and data["input_shape"] == (5, 5, 3)
    # The unlabeled pool's true labels (evaluation only) complete the set.
    counts = np.bincount(data["y_unlabeled"]) + np.bincount(data["y_labeled"])
    np.testing.assert_array_equal(counts, np.bincount(np.arange(20) % 3))

    # A protocol run: its settings, the caller's overrides winning, and
    # the ramp-up over 40% of the steps (14 unlabeled: 1 step per epoch).
    with pytest.raises(ValueError, match="no Oliver et al. settings"):
        recipe.tfds_run("keras_ssl_fake_rgb", data_dir=data_dir)
    recipe.tfds_settings = {
        "keras_ssl_fake_rgb": {"labels_per_class": 2, "noise": 0.0}
    }
    data, config = recipe.tfds_run(
        "keras_ssl_fake_rgb",
        {"noise": 0.2},
        seed=1,
        epochs=10,
        data_dir=data_dir,
    )
    assert config == {
        "labels_per_class": 2,
        "noise": 0.2,
        "backbone": "wide_resnet",
        "ramp_up_steps": 4,
    }
    assert len(data["x_labeled"]) == 6


def test_generative_recipes_read_a_tfds_set_in_signed_range(data_dir):
    from keras_ssl.recipes import get_recipe

    data = get_recipe("pga").tfds_data(
        "keras_ssl_fake_gray", data_dir=data_dir, max_examples=6
    )
    x, y = load_tfds("keras_ssl_fake_gray", data_dir=data_dir, max_examples=6)
    np.testing.assert_allclose(data["x_train"], 2 * x - 1, atol=1e-6)
    np.testing.assert_array_equal(data["y_train"], y)
    assert data["x_test"].shape == (6, 6, 6, 1)
    assert data["x_test"].min() >= -1 and data["x_test"].max() <= 1
    assert data["input_shape"] == (6, 6, 1)
