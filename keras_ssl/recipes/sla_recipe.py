import os

import keras
import numpy as np
import tensorflow as tf

from keras_ssl import backbones
from keras_ssl import data as ssl_data
from keras_ssl import evaluation
from keras_ssl.recipes.recipe import Recipe
from keras_ssl.supervised.sla import SLA
from keras_ssl.supervised.sla import transformed_copies

# The plain cross-entropy baseline, inside the run directory.
BASELINE_DIR = "baseline"


class SLARecipe(Recipe):
    """`keras-ssl train sla`: few-label supervised digits, SLA against a
    plain cross-entropy baseline.

    The method note's small experiment: digits at 16x16, 20 labels per
    class (200 training images, drawn with the run seed; the test split
    is digits' 30%), the wide small CNN (32-64-128), rotations (M = 4),
    SGD 0.05 with momentum 0.9 and coupled weight decay 5e-4, batches of
    50 images (200 copies), lr x0.1 at 50% and 75% of training. The
    note's 1,500 steps are 375 epochs of 4 steps; the recipe's default is
    200 epochs (800 steps, as the learning test), with the milestones at
    epochs 100 and 150 (`--set lr_milestones=...` for other lengths).
    SLA is trained with the SD head (`self_distillation=True`), so one
    run gives AG, SI and SD. `--set backbone=cifar_resnet32` builds the
    note's CIFAR network (`cresnet32`, 16-32-64, option-A shortcuts)
    instead of the small CNN (`examples/sla.py --dataset cifar10`).

    Every batch of images becomes their M contiguous transformed copies
    in `tf.data` (`augment`), with the class label of every copy.

    The baseline is the same network, optimizer, epochs and batches of
    images with plain cross-entropy: `SLA` with `num_transforms=1` and no
    SD head (one joint label per class, so the joint loss is the
    cross-entropy), built by `build_model` from the run's config, started
    from its own seeded initialisation, and kept in `RUN_DIR/baseline/`.

    `run.json` gets the test accuracy, ECE and NLL of `ag`, `si`, `sd`
    and `baseline` (`metrics[name]`), and `RUN_DIR/plots` the confusion
    matrices of AG and of the baseline, the reliability diagram of AG and
    the learning curves of both runs.
    """

    name = "sla"
    method = SLA
    datasets = ("digits",)
    settings = {
        "labels_per_class": 20,
        "image_size": 16,
        "width": "wide",
        "backbone": "small_cnn",
        "optimizer": "sgd",
        "learning_rate": 0.05,
        "momentum": 0.9,
        "lr_milestones": (100, 150),
        "lr_decay": 0.1,
    }
    setting_rules = {
        "labels_per_class": "int >= 1",
        "backbone": ("small_cnn", "cifar_resnet32"),
    }
    dataset_defaults = {
        "digits": {"self_distillation": True, "weight_decay": 5e-4}
    }
    epochs = 200
    batch_size = 50

    def load_data(self, dataset, config, seed):
        self.check_dataset(dataset)
        size = config["image_size"]
        (x, y), (x_test, y_test) = ssl_data.digits(image_size=size, seed=0)
        split = ssl_data.semi_supervised_split(
            x, y, labels_per_class=config["labels_per_class"], seed=seed
        )
        x_l, y_l = split["labeled"]
        return ssl_data.image_data(
            (x_l, y_l.astype("int32")),
            (x_test, y_test),
            num_classes=10,
            preprocessing=ssl_data.digits_preprocessing(image_size=size),
            raw_input_shape=(8, 8, 1),
        )

    def model_inputs(self, data, config):
        if config["backbone"] == "cifar_resnet32":  # the note's cresnet32
            encoder = backbones.cifar_resnet(data["input_shape"], depth=32)
        else:
            encoder = backbones.small_cnn(
                data["input_shape"], preset=config["width"]
            )
        return {
            "encoder": encoder,
            "num_classes": data["num_classes"],
        }

    def fit_inputs(self, data):
        return (data["x_train"], data["y_train"])

    def augment(self, batch, seed, config):
        """The M contiguous transformed copies of every image, and their
        labels (no other augmentation, as the note's experiment)."""
        x, y = batch
        m = config["num_transforms"]
        copies = transformed_copies(x, config["transforms"], m)
        return copies, tf.repeat(y, m)

    @staticmethod
    def baseline_config(config):
        """The run's config for the plain cross-entropy baseline."""
        return {
            **config,
            "num_transforms": 1,
            "transforms": "rotation",
            "self_distillation": False,
            "aggregation": "ag",
        }

    def evaluate(self, model, data, run_dir=None, initial_model=None):
        outputs = evaluation.predict_in_batches(
            tf.function(model.classify), data["x_test"]
        )
        heads = {"ag": "aggregated_probs", "si": "single_probs"}
        if "sd_probs" in outputs:
            heads["sd"] = "sd_probs"
        metrics = {
            name: _calibration(outputs[key], data["y_test"])
            for name, key in heads.items()
        }
        if run_dir is None:
            return metrics
        histories = {}
        if getattr(getattr(model, "history", None), "history", None):
            histories["sla"] = model.history.history
        baseline = self.baseline(data, run_dir)
        predictions = {"sla_ag": outputs["aggregated_probs"]}
        if baseline is not None:
            baseline_model, histories["baseline"], seconds = baseline
            probs = evaluation.predict_in_batches(
                tf.function(baseline_model.classify), data["x_test"]
            )["probs"]
            metrics["baseline"] = _calibration(probs, data["y_test"])
            metrics["baseline_train_seconds"] = seconds
            predictions["baseline"] = probs
        plots = os.path.join(run_dir, "plots")
        os.makedirs(plots, exist_ok=True)
        for name, probs in predictions.items():
            evaluation.confusion_matrix_plot(
                data["y_test"],
                np.argmax(probs, axis=1),
                num_classes=data["num_classes"],
                path=os.path.join(plots, f"{name}_confusion_matrix.png"),
                title=f"{name}: test confusion matrix",
            )
        evaluation.reliability_diagram(
            outputs["aggregated_probs"],
            data["y_test"],
            path=os.path.join(plots, "reliability_diagram.png"),
            title="SLA+AG: test reliability",
        )
        if histories:
            evaluation.learning_curves(
                histories,
                keys=("loss", "accuracy"),
                path=os.path.join(plots, "learning_curves.png"),
                title="SLA (accuracy: AG on the training batches) and the "
                "cross-entropy baseline",
            )
        return metrics

    def baseline(self, data, run_dir):
        """`(model, history, train_seconds)` of the run's baseline, trained
        on first use and kept in `RUN_DIR/baseline/` (None without the
        run's `args.json`)."""

        def prepare(args):
            config = self.baseline_config(args["config"])
            seed = args["seed"]
            batches, steps = self.train_dataset(
                data, args["global_batch"], seed, 0, args["epochs"], config
            )
            keras.utils.set_random_seed(seed)
            model = self.build_model(data, config, steps)
            model(data["x_train"][:2])
            return model, batches, steps

        cached = self.cached_control(run_dir, BASELINE_DIR, prepare)
        if cached is None:
            return None
        model, record = cached
        return model, record["history"], record["train_seconds"]


def _calibration(probs, labels):
    metrics = evaluation.calibration_metrics(probs, labels)
    return {k: metrics[k] for k in ("accuracy", "ece", "nll")}
