import json
import os

import keras
import tensorflow as tf

from keras_ssl import augment as ssl_augment
from keras_ssl import backbones
from keras_ssl import data as ssl_data
from keras_ssl import evaluation
from keras_ssl.recipes.recipe import Recipe
from keras_ssl.semi_supervised.supervised import Supervised

# Files of the labeled-only control, inside the run directory.
CONTROL_DIR = "labeled_only"
HISTORY_FILE = "history.json"


class SemiSupervisedRecipe(Recipe):
    """Data and evaluation shared by the semi-supervised methods.

    Data (`digits`): scikit-learn's digits (stratified 70/30 split, 1,257
    training and 540 test images at 8x8), of which `labels_per_class`
    training images per class keep their label (default 5: 50 labels, the
    method notes' CPU experiment) and the rest are the unlabeled pool.
    Training batches come from `keras_ssl.data.semi_supervised_dataset`:
    `--batch-size` is the unlabeled batch (an epoch is one pass over the
    unlabeled pool) and `labeled_batch` the labeled one; every view is
    shifted by up to `max_shift` pixels and gets Gaussian noise of
    standard deviation `noise` in `tf.data`, with stateless seeds, so
    `--resume` sees the batches of an uninterrupted run. A method asks
    for its number of views with `views(config)` (and of labeled views
    with `labeled_views(config)`, by default the same). To train on other
    arrays (`keras_ssl.run.train(..., data=...)`), give a dict with
    `x_labeled`, `y_labeled`, `x_train` (the unlabeled inputs), `x_test`,
    `y_test`, `num_classes` and `input_shape`, as `tfds_data` builds from
    a TFDS set; it is checked before anything is written.

    Network (`backbone`): `"conv_dense"` (default) is
    `backbones.conv_dense` with `filters` and `units`, the notes' digits
    network (Conv32, Conv32, max-pool, Dense128); `"ds3l_cnn"` is
    `backbones.ds3l_cnn`, the official DS3L MNIST network's trunk (Conv16
    and Conv32, each with a 3x3 stride-2 max-pool, no dense layer);
    `"wide_resnet"` is the WRN-28-2 of Oliver et al. (2018), for CIFAR-10
    / SVHN. Then the method's feature dropout and dense classifier.

    Metrics (`run.json`) on the test split: `accuracy`, `ece`, `nll` of
    the method, and `labeled_only_accuracy`, `labeled_only_ece`,
    `labeled_only_nll` of the labeled-only control: a
    `keras_ssl.semi_supervised.Supervised` with the same network, the
    same initial weights (`initial.weights.h5`), optimizer, epochs,
    batches, augmentation and dropout keys, trained on the labeled part
    of the same stream (its first view). So every run shows what the
    unlabeled data bought. The control is trained once, by the first
    evaluation, on one device, and kept in `RUN_DIR/labeled_only/`;
    `keras-ssl evaluate` reuses it. Plots: the learning curves of both
    runs (`learning_curves.png`, the training logs of `curve_keys`) and
    the test confusion matrices of the method (`confusion_matrix.png`)
    and of the control (`labeled_only_confusion_matrix.png`).
    """

    datasets = ("digits",)
    settings = {
        "labels_per_class": 5,
        "labeled_batch": 50,
        "image_size": 8,
        "backbone": "conv_dense",
        "filters": (32, 32),
        "units": 128,
        "optimizer": "adam",
        "learning_rate": 1e-3,
        "max_shift": 1,
        "noise": 0.05,
    }
    batch_size = 128
    control = Supervised
    # Training logs drawn in `learning_curves.png`, one panel each.
    curve_keys = ("supervised", "accuracy")
    # Oliver et al. (2018): the label counts and augmentation of the TFDS
    # sets the examples train on (`tfds_run`).
    tfds_settings = {
        "cifar10": {"labels_per_class": 400, "max_shift": 2, "noise": 0.15},
        "svhn_cropped": {
            "labels_per_class": 100,
            "max_shift": 2,
            "noise": 0.0,
        },
    }

    # ------------------------------------------------------------------
    # Data
    # ------------------------------------------------------------------
    def load_data(self, dataset, config, seed):
        self.check_dataset(dataset)
        size = config.get("image_size", 8)
        (x, y), (x_test, y_test) = ssl_data.digits(image_size=size, seed=seed)
        split = ssl_data.semi_supervised_split(
            x, y, labels_per_class=config["labels_per_class"], seed=seed
        )
        x_l, y_l = split["labeled"]
        return {
            "kind": "image",
            "seed": seed,
            "x_labeled": x_l,
            "y_labeled": y_l,
            # What an epoch passes over (and what builds the model).
            "x_train": split["unlabeled"],
            "y_unlabeled": split["unlabeled_labels"],  # evaluation only
            "x_test": x_test,
            "y_test": y_test,
            "num_classes": 10,
            "input_shape": x.shape[1:],
            "preprocessing": ssl_data.digits_preprocessing(image_size=size),
            "raw_input_shape": (8, 8, 1),
        }

    def tfds_data(
        self, dataset, labels_per_class, seed=0, channels=3, data_dir=None
    ):
        """A TensorFlow Datasets image set in the `load_data` format.

        For `keras_ssl.run.train(..., data=...)` (the examples' paper
        datasets, e.g. CIFAR-10 / SVHN with the Oliver et al. label
        counts): the `train` split, of which `labels_per_class` images per
        class keep their label (`semi_supervised_split` with `seed`) and
        the rest are the unlabeled pool, and the `test` split. Read with
        `keras_ssl.data.tfds_split` (nothing is downloaded: an unprepared
        set raises its `ValueError`). `num_classes` is the largest
        training label + 1.
        """
        data = ssl_data.tfds_split(
            dataset, channels=channels, data_dir=data_dir
        )
        split = ssl_data.semi_supervised_split(
            data.pop("x_train"),
            data.pop("y_train"),
            labels_per_class=labels_per_class,
            seed=seed,
        )
        return {
            **data,
            "seed": seed,
            "x_labeled": split["labeled"][0],
            "y_labeled": split["labeled"][1],
            # What an epoch passes over (and what builds the model).
            "x_train": split["unlabeled"],
            "y_unlabeled": split["unlabeled_labels"],  # evaluation only
        }

    def tfds_run(
        self, dataset, config=None, seed=0, epochs=None, data_dir=None
    ):
        """`(data, config)` for `keras_ssl.run.train` on a TFDS set under
        the Oliver et al. (2018) protocol.

        The protocol's settings: `tfds_settings[dataset]` (CIFAR-10: 4,000
        labels, 2-pixel shifts, noise 0.15; SVHN: 1,000 labels, noise
        off), their WRN-28-2 (`backbone="wide_resnet"`) and the ramp-up
        over the first 40% of the steps of `epochs` (default: the
        recipe's) epochs; the entries of `config` win. The horizontal
        flips Oliver et al. add on CIFAR-10 are not applied. The data
        come from `tfds_data`.

        Raises:
            ValueError: for a dataset without protocol settings, or a
                TFDS set that is not prepared.
        """
        if dataset not in self.tfds_settings:
            raise ValueError(
                f"no Oliver et al. settings for {dataset!r}; known: "
                f"{', '.join(self.tfds_settings)}"
            )
        config = {
            **self.tfds_settings[dataset],
            "backbone": "wide_resnet",
            **(config or {}),
        }
        data = self.tfds_data(
            dataset, config["labels_per_class"], seed=seed, data_dir=data_dir
        )
        if "ramp_up_steps" not in config:
            steps = self.steps_per_epoch(data, self.batch_size)
            epochs = self.epochs if epochs is None else epochs
            config["ramp_up_steps"] = int(0.4 * epochs * steps)
        return data, config

    @staticmethod
    def split(data):
        """The `{"labeled": (x, y), "unlabeled": x_u}` split of `data`."""
        return {
            "labeled": (data["x_labeled"], data["y_labeled"]),
            "unlabeled": data["x_train"],
        }

    def views(self, config):
        """Views of each input per step the method needs (default 1)."""
        return 1

    def labeled_views(self, config):
        """Views of each labeled input per step (default: `views`)."""
        return self.views(config)

    def augment(self, batch, seed, config):
        """One view of a batch of images: a random shift, then noise."""
        shift_seed, noise_seed = tf.unstack(
            tf.random.experimental.stateless_split(seed, 2)
        )
        batch = ssl_augment.random_shift(batch, config["max_shift"], shift_seed)
        return ssl_augment.random_noise(batch, config["noise"], noise_seed)

    def train_dataset(
        self,
        data,
        batch_size,
        seed,
        initial_epoch,
        epochs,
        config=None,
        views=None,
    ):
        """The zipped stream of epochs `initial_epoch .. epochs - 1`.

        `batch_size` is the unlabeled batch; `views` defaults to the
        method's `views(config)` and `labeled_views(config)` (a given
        `views` is used for both streams).
        """
        config = dict(self.defaults if config is None else config)
        labeled_views = self.labeled_views(config) if views is None else views
        return ssl_data.semi_supervised_dataset(
            self.split(data),
            labeled_batch=config["labeled_batch"],
            unlabeled_batch=batch_size,
            seed=seed,
            augment=lambda x, key: self.augment(x, key, config),
            views=self.views(config) if views is None else views,
            labeled_views=labeled_views,
            initial_epoch=initial_epoch,
            epochs=epochs,
            num_classes=data["num_classes"],
            drop_remainder=self.drop_remainder,
        )

    # ------------------------------------------------------------------
    # Model
    # ------------------------------------------------------------------
    def encoder(self, data, config):
        backbone = config.get("backbone", "conv_dense")
        if backbone == "wide_resnet":
            return backbones.wide_resnet(data["input_shape"])
        if backbone == "ds3l_cnn":
            # Centred to [-1, 1] first, as the official code's inputs
            # (`(x / 255 - 0.5) / 0.5`).
            return backbones.ds3l_cnn(data["input_shape"], center=True)
        if backbone != "conv_dense":
            raise ValueError(
                "--set backbone must be 'conv_dense', 'ds3l_cnn' or "
                f"'wide_resnet'; got {backbone!r}"
            )
        return backbones.conv_dense(
            data["input_shape"],
            filters=config["filters"],
            units=config["units"],
        )

    def model_inputs(self, data, config):
        return {
            "encoder": self.encoder(data, config),
            "num_classes": data["num_classes"],
            "seed": data.get("seed"),
        }

    def build_model(self, data, config, steps_per_epoch=None, method=None):
        # Bad data stop here, before `keras_ssl.run.train` writes anything.
        ssl_data.check_semi_supervised_split(
            self.split(data), data["num_classes"]
        )
        return super().build_model(data, config, steps_per_epoch, method)

    def build_control(self, data, config, steps_per_epoch=None):
        """The labeled-only `Supervised` control for the same config."""
        return self.build_model(data, config, steps_per_epoch, self.control)

    # ------------------------------------------------------------------
    # Evaluation
    # ------------------------------------------------------------------
    def evaluate(self, model, data, run_dir=None, initial_model=None):
        metrics, test = _test_metrics(model, data)
        if run_dir is None:
            return metrics
        plots = os.path.join(run_dir, "plots")
        os.makedirs(plots, exist_ok=True)
        predictions = {self.name: test["prediction"]}
        histories = {self.name: _history(model, run_dir)}
        control = self.labeled_only_control(data, run_dir)
        if control is not None:
            control_model, histories["labeled only"], seconds = control
            control_metrics, control_test = _test_metrics(control_model, data)
            metrics.update(
                {f"labeled_only_{k}": v for k, v in control_metrics.items()}
            )
            metrics["labeled_only_train_seconds"] = seconds
            predictions["labeled only"] = control_test["prediction"]
        for run, prediction in predictions.items():
            prefix = "" if run == self.name else "labeled_only_"
            evaluation.confusion_matrix_plot(
                data["y_test"],
                prediction,
                num_classes=data["num_classes"],
                path=os.path.join(plots, f"{prefix}confusion_matrix.png"),
                title=f"{run}: test confusion matrix",
            )
        runs = {k: v for k, v in histories.items() if v is not None}
        if runs:
            evaluation.learning_curves(
                runs,
                keys=self.curve_keys,
                path=os.path.join(plots, "learning_curves.png"),
                title=f"{self.name} and the labeled-only control "
                "(per-epoch means of the training logs)",
            )
        return metrics

    def labeled_only_control(self, data, run_dir):
        """`(model, history, train_seconds)` of the run's control, trained
        on first use and kept in `RUN_DIR/labeled_only/` (None without the
        run's `args.json`)."""
        from keras_ssl import run as ssl_run

        def prepare(args):
            config, seed = args["config"], args["seed"]
            dataset, steps = self.train_dataset(
                data,
                args["global_batch"],
                seed,
                0,
                args["epochs"],
                config,
                views=1,
            )
            keras.utils.set_random_seed(seed)
            control = self.build_control(data, config, steps)
            control(data["x_train"][:2])
            initial = os.path.join(run_dir, ssl_run.INITIAL_WEIGHTS)
            if os.path.exists(initial):  # the method's initial weights
                control.load_weights(initial)
            return control, dataset, steps

        cached = self.cached_control(run_dir, CONTROL_DIR, prepare)
        if cached is None:
            return None
        control, record = cached
        history = (record["epochs"], record["history"])
        return control, history, record["train_seconds"]


def _test_metrics(model, data):
    test = evaluation.predict_in_batches(
        tf.function(model.classify), data["x_test"]
    )
    calibration = evaluation.calibration_metrics(test["probs"], data["y_test"])
    metrics = {k: calibration[k] for k in ("accuracy", "ece", "nll")}
    return metrics, test


def _history(model, run_dir):
    """The method's per-epoch logs, as `(epochs, logs)`.

    This session's `fit` logs (`model.history`) are merged into
    `RUN_DIR/history.json`, so a resumed run keeps the epochs of its
    earlier sessions that reached an evaluation.
    """
    path = os.path.join(run_dir, HISTORY_FILE)
    by_epoch = {}
    if os.path.exists(path):
        with open(path) as f:
            saved = json.load(f)
        for i, epoch in enumerate(saved["epochs"]):
            by_epoch[epoch] = {k: v[i] for k, v in saved["history"].items()}
    history = getattr(model, "history", None)
    if history is not None and getattr(history, "history", None):
        logs = _plain(history.history)
        for i, epoch in enumerate(history.epoch):
            by_epoch[epoch] = {k: v[i] for k, v in logs.items()}
    if not by_epoch:
        return None
    epochs = sorted(by_epoch)
    keys = sorted({k for logs in by_epoch.values() for k in logs})
    record = {
        "epochs": epochs,
        "history": {
            k: [by_epoch[e].get(k, float("nan")) for e in epochs] for k in keys
        },
    }
    with open(path, "w") as f:
        json.dump(record, f)
    return record["epochs"], record["history"]


def _plain(history):
    return {k: [float(v) for v in values] for k, values in history.items()}
