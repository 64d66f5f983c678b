import json
import math
import os

import keras
import numpy as np
from sklearn.linear_model import LogisticRegression

from keras_ssl import augment as ssl_augment
from keras_ssl import data as ssl_data
from keras_ssl import evaluation
from keras_ssl.layers.real_nvp_flow import RealNVPFlow
from keras_ssl.recipes.recipe import make_optimizer
from keras_ssl.recipes.semi_supervised_recipe import CONTROL_DIR
from keras_ssl.recipes.semi_supervised_recipe import HISTORY_FILE
from keras_ssl.recipes.semi_supervised_recipe import SemiSupervisedRecipe
from keras_ssl.semi_supervised.flow_gmm import FlowGMM

# The official toy (`flow_ssl/data/toy_datasets.py`, `make_moons_ssl`):
# `np.random.seed(0); make_moons(1000, noise=0.05)` with these labels.
MOONS_LABELED_INDICES = {0: (2, 6, 7, 10, 17), 1: (0, 1, 3, 4, 5)}
MOONS_MEANS = [[-3.5, -3.5], [3.5, 3.5]]
# The official tabular prior's standard deviation, softplus(1) (see
# FlowGMM's `cov_std`).
SOFTPLUS_ONE = math.log1p(math.e)
SAMPLES_PER_CLASS = 500


class FlowGMMRecipe(SemiSupervisedRecipe):
    """`keras-ssl train flowgmm`: FlowGMM on two moons, tabular data, digits.

    The flow is a `keras_ssl.layers.RealNVPFlow` (`num_couplings`,
    `hidden_units`, coupled L2 `weight_decay`, `zero_init`); FlowGMM's own
    hyperparameters keep their defaults and sources on the method.
    Training batches come from the family's
    `keras_ssl.data.semi_supervised_dataset` (`--batch-size` is the
    unlabeled batch, `labeled_batch` the labeled one; Gaussian `noise` on
    every view, two unlabeled views when `consistency_weight > 0`).
    Adam at `learning_rate`, divided by 10 (`lr_decay`) at each epoch of
    `lr_milestones`. Every step is XLA-compiled (`jit_compile`): the TFP
    couplings are many small ops, which XLA fuses.

    Data sets (`--dataset`):

    - `two_moons` (the default of the examples): the official toy,
      `make_moons(1000, noise=0.05)` drawn after `np.random.seed(0)`
      (`keras_ssl.data.two_moons(1000, 0.05, seed=0)` gives the same
      points), labeled indices `{0, 1, 3, 4, 5}` (class 1) and `{2, 6, 7,
      10, 17}` (class 0) as `make_moons_ssl`, the first
      `labels_per_class` (<= 5) of each; the other points unlabeled; 2,000
      fresh test points from the same generator. The official notebook's
      settings: means `(-3.5, -3.5)`, `(3.5, 3.5)`, 5 couplings of two
      512-unit hidden layers, Adam 1e-4 with coupled weight decay, 2,001
      steps with the rate divided by 10 at 50% and 80%, batches of all 10
      labeled points and 10 unlabeled ones. Here: 20 epochs of 99 steps
      (1,980), milestones at epochs 10 and 16, `weight_decay=2e-2`: the
      official loss is the mean NLL over the 20 rows of a batch,
      FlowGMM's the labeled mean plus the unlabeled mean, twice as large,
      so twice the official 1e-2 gives the same update (Adam is
      invariant to the scale of the gradient).
    - `wine`, `breast_cancer`: scikit-learn's bundled tabular sets
      (`keras_ssl.data.tabular`, standardized with the training split's
      statistics, a stratified 70/30 split), `labels_per_class` labels per
      class, the official tabular prior (`cov_std = softplus(1)`, means
      from FlowGMM's tabular rule), the default flow and Adam 1e-4 (no
      tuning on these sets), 20 epochs of unlabeled batches of 64.
    - `digits`: scikit-learn's digits flattened to 64 values in [0, 1]
      (the family's stratified split and 5 labels per class), Gaussian
      noise 0.05 on every view to dequantize the 17 grey levels.

    `run.json` holds the family's metrics (`accuracy`, `ece`, `nll` and
    `labeled_only_*` of FlowGMM-Sup: the same flow from the same initial
    weights, trained by the same recipe on the labeled part of the same
    stream, `unlabeled_weight=0`), the mean test log-likelihood
    `test_log_likelihood` of both (nats per example, of the model inputs,
    i.e. the standardized features), and `logistic_regression_accuracy`:
    scikit-learn's logistic regression fitted on the labeled points
    alone. Plots: the family's learning curves and confusion matrices,
    `test_log_likelihood.png` (per epoch, both runs) and, for 2-D data,
    `decision_regions.png`, `latent_space.png` (`f(x)` of the training
    points with the class means) and `class_samples.png` (samples of each
    class through the inverse flow). Exports take raw inputs: raw
    features for the tabular sets (the standardization runs in the
    graph), raw 0-16 digits of shape `(8, 8, 1)`.
    """

    name = "flowgmm"
    method = FlowGMM
    datasets = ("two_moons", "wine", "breast_cancer", "digits")
    settings = {
        "labels_per_class": 5,
        "labeled_batch": 10,
        "num_couplings": 5,
        "hidden_units": (512, 512),
        "weight_decay": 2e-2,
        "zero_init": False,
        "optimizer": "adam",
        "learning_rate": 1e-4,
        "lr_milestones": (),
        "lr_decay": 0.1,
        "noise": 0.0,
        "jit_compile": True,
    }
    setting_rules = {
        "labels_per_class": "int >= 1",
        "labeled_batch": "int >= 1",
        "num_couplings": "int >= 1",
        "weight_decay": ">= 0",
        "noise": ">= 0",
        "jit_compile": (True, False),
        "zero_init": (True, False),
    }
    _tabular = {"cov_std": SOFTPLUS_ONE}
    dataset_defaults = {
        "two_moons": {"means": MOONS_MEANS, "lr_milestones": (10, 16)},
        "wine": dict(_tabular),
        "breast_cancer": dict(_tabular),
        "digits": {"noise": 0.05, "labeled_batch": 50},
    }
    dataset_training = {"two_moons": {"epochs": 20, "batch_size": 10}}
    epochs = 20
    batch_size = 64
    curve_keys = ("labeled", "unlabeled", "accuracy", "test_accuracy")

    # ------------------------------------------------------------------
    # Data
    # ------------------------------------------------------------------
    def load_data(self, dataset, config, seed):
        self.check_dataset(dataset)
        k = config["labels_per_class"]
        data = {"kind": "tabular", "seed": seed}
        if dataset == "two_moons":
            (x, y), (x_test, y_test) = ssl_data.two_moons(
                1000, noise=0.05, test_size=2000, seed=0
            )
            if not 1 <= k <= 5:
                raise ValueError(
                    "two_moons has the 5 official labeled points per class; "
                    f"labels_per_class must be 1..5, got {k}"
                )
            labeled = np.array(
                [i for c in (0, 1) for i in MOONS_LABELED_INDICES[c][:k]]
            )
            rest = np.setdiff1d(np.arange(len(x)), labeled)
            split = {
                "labeled": (x[labeled], y[labeled]),
                "unlabeled": x[rest],
                "unlabeled_labels": y[rest],
            }
        else:
            if dataset == "digits":
                (x, y), (x_test, y_test) = ssl_data.digits(seed=seed)
                x, x_test = x.reshape(len(x), -1), x_test.reshape(-1, 64)
                data["preprocessing"] = keras.Sequential(
                    [
                        keras.Input((8, 8, 1)),
                        ssl_data.digits_preprocessing(8),
                        keras.layers.Flatten(),
                    ],
                    name="flat_digits",
                )
                data["raw_input_shape"] = (8, 8, 1)
            else:
                (x, y), (x_test, y_test) = ssl_data.tabular(dataset, seed=seed)
                data["preprocessing"] = ssl_data.tabular_preprocessing(
                    dataset, seed=seed
                )
                data["raw_input_shape"] = x.shape[1:]
            split = ssl_data.semi_supervised_split(
                x, y, labels_per_class=k, seed=seed
            )
        x_l, y_l = split["labeled"]
        data.update(
            {
                "x_labeled": x_l,
                "y_labeled": y_l.astype("int32"),
                "x_train": split["unlabeled"],
                "y_unlabeled": split["unlabeled_labels"].astype("int32"),
                "x_test": x_test,
                "y_test": y_test.astype("int32"),
                "num_classes": int(y.max()) + 1,
                "input_shape": x.shape[1:],
            }
        )
        return data

    def views(self, config):
        return 2 if config["consistency_weight"] > 0 else 1

    def labeled_views(self, config):
        return 1

    def augment(self, batch, seed, config):
        """Gaussian noise of standard deviation `noise` (0: the inputs)."""
        return ssl_augment.random_noise(batch, config["noise"], seed)

    # ------------------------------------------------------------------
    # Model
    # ------------------------------------------------------------------
    def model_inputs(self, data, config):
        flow = RealNVPFlow(
            int(np.prod(data["input_shape"])),
            num_couplings=config["num_couplings"],
            hidden_units=config["hidden_units"],
            weight_decay=config["weight_decay"],
            zero_init=config["zero_init"],
        )
        return {
            "flow": flow,
            "num_classes": data["num_classes"],
            "seed": data.get("seed"),
        }

    def build_model(self, data, config, steps_per_epoch=None, method=None):
        model = super().build_model(data, config, steps_per_epoch, method)
        model.set_monitor_data(data["x_test"], data["y_test"])
        return model

    def compile_arguments(self, config, steps_per_epoch=None):
        return {
            "optimizer": make_optimizer(config, steps_per_epoch),
            "jit_compile": config["jit_compile"],
        }

    def build_control(self, data, config, steps_per_epoch=None):
        """FlowGMM-Sup: the same flow and recipe, labeled inputs only."""
        labeled_only = {**config, "unlabeled_weight": 0.0}
        labeled_only["consistency_weight"] = 0.0
        return self.build_model(data, labeled_only, steps_per_epoch)

    # ------------------------------------------------------------------
    # Evaluation
    # ------------------------------------------------------------------
    def evaluate(self, model, data, run_dir=None, initial_model=None):
        metrics = super().evaluate(model, data, run_dir, initial_model)
        metrics["test_log_likelihood"] = _log_likelihood(model, data)
        regression = LogisticRegression(max_iter=5000)
        regression.fit(data["x_labeled"], data["y_labeled"])
        metrics["logistic_regression_accuracy"] = float(
            np.mean(regression.predict(data["x_test"]) == data["y_test"])
        )
        if run_dir is None:
            return metrics
        control = self.labeled_only_control(data, run_dir)
        if control is not None:
            metrics["labeled_only_test_log_likelihood"] = _log_likelihood(
                control[0], data
            )
        plots = os.path.join(run_dir, "plots")
        self.log_likelihood_curve(run_dir, plots)
        if tuple(data["input_shape"]) == (2,):
            self.plane_plots(model, data, plots)
        return metrics

    def log_likelihood_curve(self, run_dir, plots):
        """`test_log_likelihood.png`: the per-epoch test log-likelihood of
        the method and of its labeled-only control."""
        runs = {}
        for name, folder in ((self.name, run_dir), ("labeled only", None)):
            folder = folder or os.path.join(run_dir, CONTROL_DIR)
            path = os.path.join(folder, HISTORY_FILE)
            if os.path.exists(path):
                with open(path) as f:
                    saved = json.load(f)
                if "test_log_likelihood" in saved["history"]:
                    runs[name] = (saved["epochs"], saved["history"])
        if runs:
            evaluation.learning_curves(
                runs,
                keys=("test_log_likelihood",),
                path=os.path.join(plots, "test_log_likelihood.png"),
                title="mean log p(x) of the test set (nats), per epoch",
            )

    def plane_plots(self, model, data, plots):
        """Decision regions, latent space and class samples of 2-D data."""
        x = np.concatenate([data["x_labeled"], data["x_train"]])
        y = np.concatenate([data["y_labeled"], data["y_unlabeled"]])
        labeled = (data["x_labeled"], data["y_labeled"])
        classify = _batched(model, "classify")
        evaluation.decision_regions(
            lambda points: classify(points)["prediction"],
            x,
            y,
            labeled=labeled,
            path=os.path.join(plots, "decision_regions.png"),
            title=f"{self.name}: decision regions, "
            f"{len(labeled[1])} labeled points",
        )
        latent = _batched(model, "log_prob")
        evaluation.class_scatter(
            latent(x)["latent"],
            y,
            centers=np.asarray(model.class_means),
            highlight=(latent(labeled[0])["latent"], labeled[1]),
            axis_labels=("z1", "z2"),
            path=os.path.join(plots, "latent_space.png"),
            title="latent space z = f(x) and the class means",
        )
        samples = [
            np.asarray(model.sample(c, SAMPLES_PER_CLASS, seed=c))
            for c in range(model.num_classes)
        ]
        evaluation.class_scatter(
            np.concatenate(samples),
            np.repeat(np.arange(model.num_classes), SAMPLES_PER_CLASS),
            background=x,
            path=os.path.join(plots, "class_samples.png"),
            title="class-conditional samples x = f^-1(z), "
            f"z ~ N(mu_k, {model.cov_std:.3g}^2 I)",
        )


def _batched(model, endpoint):
    import tensorflow as tf

    function = tf.function(getattr(model, endpoint))
    return lambda x: evaluation.predict_in_batches(function, x)


def _log_likelihood(model, data):
    out = _batched(model, "classify")(data["x_test"])
    return float(np.mean(out["log_prob"]))
