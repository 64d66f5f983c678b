import math

import numpy as np
import tensorflow as tf


class Recipe:
    """How the `keras-ssl` command line trains and evaluates one method.

    A recipe ties a method class to the data it is trained on, the model the
    command line builds for a dataset, and the metrics written to
    `run.json`. Family recipes (`UncertaintyRecipe`,
    `RepresentationRecipe`) own the data and evaluation of their family; a
    method's recipe only says how to build the method.

    Class attributes:
        name: command-line name (`keras-ssl train NAME`).
        method: the `keras_ssl.core.Method` subclass.
        datasets: dataset names the recipe accepts.
        defaults: hyperparameters settable with `--set key=value`, with
            their defaults; a value given on the command line is converted
            to the type of the default.
        dataset_defaults: per-dataset values that replace entries of
            `defaults` (e.g. the two-moons settings of a method's paper).
        epochs, batch_size: what `keras-ssl train` uses when `--epochs` /
            `--batch-size` are not given; `dataset_training` may override
            them per dataset as `{dataset: {"epochs": ..., "batch_size":
            ...}}`.
    """

    name = None
    method = None
    datasets = ("digits",)
    defaults = {}
    dataset_defaults = {}
    epochs = 10
    batch_size = 64
    dataset_training = {}

    @property
    def family(self):
        return self.method.family

    @property
    def paper(self):
        return self.method.paper

    def resolve_config(self, overrides, dataset=None):
        """Defaults (for `dataset`) updated with `overrides`.

        Unknown keys are an error; string values are converted to the type
        of the default.
        """
        unknown = sorted(set(overrides) - set(self.defaults))
        if unknown:
            raise ValueError(
                f"unknown --set key(s) for {self.name}: {', '.join(unknown)}."
                f" Known keys: {', '.join(sorted(self.defaults)) or 'none'}"
            )
        config = {**self.defaults, **self.dataset_defaults.get(dataset, {})}
        for key, value in overrides.items():
            config[key] = _convert(key, value, config[key])
        return config

    def training_defaults(self, dataset):
        """`(epochs, batch_size)` used when the command line omits them."""
        training = self.dataset_training.get(dataset, {})
        return (
            training.get("epochs", self.epochs),
            training.get("batch_size", self.batch_size),
        )

    def check_dataset(self, dataset):
        if dataset not in self.datasets:
            raise ValueError(
                f"{self.name} does not train on dataset {dataset!r}; "
                f"choose one of: {', '.join(self.datasets)}"
            )

    def load_data(self, dataset, config, seed):
        """Returns a dict of NumPy arrays for training and evaluation."""
        raise NotImplementedError

    def build(self, data, config):
        """Returns the compiled method for `data`."""
        raise NotImplementedError

    def fit_inputs(self, data):
        """The arrays `fit` consumes, as a tuple (e.g. `(x, y)`)."""
        raise NotImplementedError

    def evaluate(self, model, data, run_dir=None, initial_model=None):
        """Returns the family's metrics; writes plots into `run_dir`.

        `initial_model` is the same method at its random initialisation
        (the weights before the first step), for families that report a
        random-init baseline.
        """
        raise NotImplementedError

    def export_preprocessing(self, data):
        """`(preprocessing, raw_input_shape)` for export, or `(None, None)`."""
        return data.get("preprocessing"), data.get("raw_input_shape")

    def augment(self, batch, seed, config):
        """Augments one training batch inside `tf.data` (default: none).

        Args:
            batch: the tuple of batched tensors `fit_inputs` describes.
            seed: a stateless seed, shape `(2,)`, unique to the run seed,
                the epoch and the step, so a resumed run draws the same
                augmentations (use `keras_ssl.augment`).
            config: the resolved hyperparameters.
        """
        return batch

    def train_dataset(
        self, data, batch_size, seed, initial_epoch, epochs, config=None
    ):
        """Batches for epochs `initial_epoch .. epochs - 1` and their steps.

        Epoch `e` is shuffled with the seed `(seed, e)` and augmented with
        stateless seeds derived from `(seed, e, step)`, so a run resumed at
        epoch `e` sees exactly the batches an uninterrupted run sees.
        """
        arrays = self.fit_inputs(data)
        n = len(arrays[0])
        steps = math.ceil(n / batch_size)
        orders = np.stack(
            [
                np.random.default_rng([seed, epoch]).permutation(n)
                for epoch in range(initial_epoch, epochs)
            ]
        )
        tensors = tuple(tf.constant(a) for a in arrays)
        config = dict(self.defaults if config is None else config)

        def epoch_batches(epoch, order):
            return (
                tf.data.Dataset.from_tensor_slices(order)
                .batch(batch_size)
                .enumerate()
                .map(lambda step, indices: (epoch, step, indices))
            )

        def gather(epoch, step, indices):
            batch = tuple(tf.gather(t, indices) for t in tensors)
            batch_seed = tf.stack(
                [tf.cast(seed, tf.int64), epoch * steps + step]
            )
            batch = self.augment(batch, batch_seed, config)
            return batch if len(batch) > 1 else batch[0]

        epochs_range = np.arange(initial_epoch, epochs, dtype="int64")
        dataset = (
            tf.data.Dataset.from_tensor_slices((epochs_range, orders))
            .flat_map(epoch_batches)
            .map(gather, num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE)
        )
        return dataset, steps


def _convert(key, value, default):
    if not isinstance(value, str) or isinstance(default, str):
        return value
    try:
        if isinstance(default, bool):
            if value.lower() in ("true", "1", "yes"):
                return True
            if value.lower() in ("false", "0", "no"):
                return False
            raise ValueError
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        if isinstance(default, (tuple, list)):
            return tuple(type(default[0])(v) for v in value.split(","))
    except ValueError:
        raise ValueError(
            f"--set {key}={value}: expected {type(default).__name__} "
            f"(the default is {default!r})"
        ) from None
    return value
