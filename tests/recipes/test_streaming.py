"""Training from a streamed TFDS source (made in the test): deterministic,
resumable, and index-carrying for representation methods."""

import keras
import numpy as np
import pytest
import tensorflow_datasets as tfds

from keras_ssl import data as ssl_data
from keras_ssl import run
from keras_ssl.recipes import get_recipe
from tests.cli.test_cli import StopAfter

SIZES = {"train": 40, "test": 12}


class KerasSslStreamDigits(tfds.core.GeneratorBasedBuilder):
    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(8, 8, 1)),
                    "label": tfds.features.ClassLabel(num_classes=3),
                }
            ),
        )

    def _split_generators(self, dl_manager):
        return {split: self._generate_examples(split) for split in SIZES}

    def _generate_examples(self, split):
        rng = np.random.RandomState(0 if split == "train" else 1)
        for i in range(SIZES[split]):
            label = i % 3
            image = rng.randint(0, 80, (8, 8, 1)) + 60 * label
            yield i, {"image": image.astype("uint8"), "label": label}


@pytest.fixture(scope="module")
def streamed(tmp_path_factory):
    tfds.disable_progress_bar()
    path = str(tmp_path_factory.mktemp("tfds"))
    builder = KerasSslStreamDigits(data_dir=path)
    builder.download_and_prepare()

    def make():
        options = {"builder": builder, "data_dir": path}
        x_test, y_test = ssl_data.load_tfds("", "test", **options)
        x_train, y_train = ssl_data.load_tfds("", "train", **options)
        return {
            "kind": "image",
            "train_source": ssl_data.load_tfds(
                "", "train", as_numpy=False, **options
            ),
            "num_train": SIZES["train"],
            # Arrays for evaluation only (probes, calibration).
            "x_train": x_train,
            "y_train": y_train,
            "x_test": x_test,
            "y_test": y_test,
            "num_classes": 3,
            "input_shape": (8, 8, 1),
            "ood": {"noise": ssl_data.uniform_noise(12, (8, 8, 1), seed=0)},
        }

    return make


def _train(make, run_dir, **kwargs):
    options = dict(dataset="stream", epochs=3, batch_size=8, verbose=0)
    options.update(kwargs)
    return run.train("softmax", str(run_dir), data=make(), **options)


def _weights(run_dir):
    model = keras.saving.load_model(str(run_dir / "model.keras"))
    return [np.asarray(w) for w in model.weights]


def test_a_streamed_run_is_deterministic_and_resumable(streamed, tmp_path):
    first = _train(streamed, tmp_path / "a")
    assert first.record["epochs_this_session"] == 3
    _train(streamed, tmp_path / "b")
    pairs = zip(_weights(tmp_path / "a"), _weights(tmp_path / "b"), strict=True)
    for a, b in pairs:
        np.testing.assert_array_equal(a, b)
    with pytest.raises(KeyboardInterrupt):
        _train(streamed, tmp_path / "c", callbacks=[StopAfter(1)])
    resumed = _train(streamed, tmp_path / "c", resume=True)
    assert resumed.record["epochs_this_session"] == 2
    pairs = zip(_weights(tmp_path / "a"), _weights(tmp_path / "c"), strict=True)
    for a, b in pairs:
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_streamed_epochs_shuffle_differently_and_see_every_sample(streamed):
    recipe = get_recipe("softmax")
    data = streamed()
    config = recipe.resolve_config({})
    batches, steps = recipe.train_dataset(data, 8, 0, 0, 2, config)
    labels = [y.numpy() for _, y in batches]
    assert steps == 5 and len(labels) == 10
    first, second = np.concatenate(labels[:5]), np.concatenate(labels[5:])
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(np.sort(first), np.sort(data["y_train"]))


def test_representation_streams_carry_a_fixed_sample_index(streamed):
    recipe = get_recipe("nat")
    data = streamed()
    config = recipe.resolve_config({"max_shift": "0", "noise": "0"})
    batches, _ = recipe.train_dataset(data, 8, 0, 0, 2, config)
    seen = {}
    for x, index in batches:
        for image, i in zip(x.numpy(), index.numpy(), strict=True):
            seen.setdefault(int(i), image)
            np.testing.assert_array_equal(seen[int(i)], image)
    assert sorted(seen) == list(range(SIZES["train"]))
