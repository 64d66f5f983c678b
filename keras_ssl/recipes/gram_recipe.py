import os
import random

import keras
import numpy as np
import tensorflow as tf

from keras_ssl import evaluation
from keras_ssl.recipes.recipe import init_parameters
from keras_ssl.recipes.uncertainty_recipe import UncertaintyRecipe
from keras_ssl.uncertainty.gram_detector import EXPECTED_EPSILON
from keras_ssl.uncertainty.gram_detector import GramDetector
from keras_ssl.uncertainty.softmax_classifier import SoftmaxClassifier

CLASSIFIER_DIR = "classifier"
# What the classifier's run must share with the detector's: the same
# training split (dataset, seed) and the same inputs.
SHARED_SETTINGS = ("in_classes", "image_size", "channels")
OOD_FIELDS = (
    "auroc",
    "aupr_in",
    "aupr_out",
    "fpr_at_95_tpr",
    "tnr_at_95_tpr",
    "detection_accuracy",
)


class GramRecipe(UncertaintyRecipe):
    """`keras-ssl train gram`: a softmax classifier, then its Gram detector.

    1. **Classifier.** `prepare` trains the `softmax` recipe's classifier
       with `keras_ssl.run.train` into `RUN_DIR/classifier` (same dataset,
       seed, `in_classes`, `image_size`, `channels` and `width`;
       `classifier_epochs` epochs), or loads a finished softmax run given
       as `--set classifier_run=RUN_DIR`, which must have been trained on
       the same split (dataset, seed and those settings). An interrupted
       classifier run inside `RUN_DIR/classifier` is resumed.
    2. **Detector.** `fit` makes one pass over the training inputs in
       batches of 128 (the official notebooks' batch) to record the
       bounds; it then calibrates on the validation split below.
    3. **Validation protocol** (the official notebooks): a random 10%
       (`val_fraction`) of the in-distribution test set is the validation
       set `Va` that calibrates the detector, without OOD data; the other
       90% are the test set. The indices are the official
       `random.seed(i); random.sample(range(n), int(0.1 * n))` for `i = 1`.
       The saved, exported detector is calibrated on split 1, and the
       family's metrics (`accuracy`, `ece`, ..., `ood`, `ood_by_score`
       with `ood_score` = Gram and `msp_score` = the classifier's maximum
       softmax probability, side by side) are measured on its 90%.
       `validation_splits` adds the official average: mean and standard
       deviation of the OOD metrics of both scores over the splits `i = 1
       .. validation_splits` (10), each calibrated on its own 10%.

    Plots: `ood_histograms.png` (Gram, `log10(1 + Delta)`),
    `msp_ood_histograms.png` (the classifier's), `tap_deviations.png`
    (per-tap normalised deviations of each set) and the reliability
    diagram of the classifier.
    """

    name = "gram"
    method = GramDetector
    datasets = ("digits",)
    settings = {
        "classifier_run": "",
        "classifier_epochs": 10,
        "width": "wide",
        "val_fraction": 0.1,
        "validation_splits": 10,
    }
    epochs = 1
    batch_size = 128
    ood_scores = ("ood_score", "msp_score")

    # ------------------------------------------------------------------
    # Data and the classifier
    # ------------------------------------------------------------------
    def load_data(self, dataset, config, seed):
        return self.split(super().load_data(dataset, config, seed), config)

    def split(self, data, config):
        """Adds the validation split (split 1) to a family data dict.

        `x_test_all` / `y_test_all` keep the whole in-distribution test
        set; `x_val` / `y_val` are its split-1 validation part and
        `x_test` / `y_test` the rest. `val_fraction` and
        `validation_splits` are copied from `config` for `evaluate`.
        """
        fraction = config.get("val_fraction", 0.1)
        splits = config.get("validation_splits", 10)
        if isinstance(fraction, bool) or not (
            isinstance(fraction, int | float) and 0 < fraction < 1
        ):
            raise ValueError(
                "val_fraction (--set val_fraction=0.1) must be in (0, 1); "
                f"got {fraction!r}"
            )
        if (
            isinstance(splits, bool)
            or not isinstance(splits, int)
            or (splits < 0)
        ):
            raise ValueError(
                "validation_splits (--set validation_splits=10) must be an "
                f"integer >= 0; got {splits!r}"
            )
        data = dict(data)
        x, y = data["x_test"], data["y_test"]
        validation, test = _validation_split(len(x), fraction, 1)
        data.update(
            x_test_all=x,
            y_test_all=y,
            x_val=x[validation],
            y_val=y[validation],
            x_test=x[test],
            y_test=y[test],
            val_fraction=float(fraction),
            validation_splits=splits,
        )
        return data

    def prepare(self, data, config, run_dir, dataset, seed, verbose=1):
        from keras_ssl import run

        given_data = "x_test_all" not in data
        if given_data:
            data = self.split(data, config)
        # Check the detector's hyperparameters before anything trains.
        untrained = SoftmaxClassifier(
            self.encoder(data, config), data["num_classes"]
        )
        self._detector(untrained, config)
        if config["classifier_run"]:
            classifier = run.Run.load(config["classifier_run"])
            _check_classifier_run(classifier, dataset, seed, config)
        else:
            directory = os.path.join(run_dir, CLASSIFIER_DIR)
            if os.path.exists(os.path.join(directory, run.RUN_FILE)):
                classifier = run.Run.load(directory)
            else:
                interrupted = os.path.join(directory, run.ARGS_FILE)
                classifier = run.train(
                    "softmax",
                    directory,
                    dataset=dataset,
                    epochs=config["classifier_epochs"],
                    seed=seed,
                    config={
                        key: config[key] for key in (*SHARED_SETTINGS, "width")
                    },
                    resume=os.path.exists(interrupted),
                    verbose=verbose,
                    data=data if given_data else None,
                )
        path = os.path.join(classifier.run_dir, run.MODEL_FILE)
        return {**data, "classifier_path": path}

    # ------------------------------------------------------------------
    # The detector
    # ------------------------------------------------------------------
    def build_model(self, data, config, steps_per_epoch=None):
        if "classifier_path" not in data:
            raise ValueError(
                "the gram recipe builds its detector around a trained "
                "classifier: call prepare() first (keras_ssl.run.train does)"
            )
        # Loaded here, inside the caller's strategy scope, so that its
        # variables are mirrored like the detector's.
        classifier = keras.saving.load_model(
            data["classifier_path"], compile=False
        )
        model = self._detector(classifier, config)
        model.compile()
        model.calibration_inputs = data["x_val"]
        return model

    def _detector(self, classifier, config):
        arguments = {
            key: config[key]
            for key in init_parameters(self.method)
            if key in config
        }
        return self.method(classifier, **arguments)

    # ------------------------------------------------------------------
    # Evaluation
    # ------------------------------------------------------------------
    def evaluate(self, model, data, run_dir=None, initial_model=None):
        if "x_test_all" not in data:
            raise ValueError(
                "the gram recipe evaluates on split data: pass the data "
                "through split(data, config) first"
            )
        metrics = super().evaluate(model, data)
        classify = tf.function(model.classify)
        test = evaluation.predict_in_batches(classify, data["x_test_all"])
        outputs = {
            name: evaluation.predict_in_batches(classify, x)
            for name, x in data["ood"].items()
        }
        if data["validation_splits"]:
            metrics["validation_splits"] = self._split_metrics(
                model, data, test, outputs
            )
        if run_dir is not None:
            self._plots(model, data, test, outputs, run_dir)
        return metrics

    def _split_metrics(self, model, data, test, outputs):
        """OOD metrics of both scores, averaged over the official splits."""
        scale = np.asarray(model.expected_deviation) if model.normalize else 1
        raw_in = test["deviations"] * scale
        raw_out = {k: v["deviations"] * scale for k, v in outputs.items()}
        results = {
            score: {name: [] for name in outputs} for score in self.ood_scores
        }
        for i in range(1, data["validation_splits"] + 1):
            validation, rest = _validation_split(
                len(raw_in), data["val_fraction"], i
            )
            expected = 1.0
            if model.normalize:
                expected = raw_in[validation].mean(axis=0) + EXPECTED_EPSILON
                if not np.all(np.isfinite(expected)):
                    raise ValueError(
                        f"validation split {i} holds inputs predicted as a "
                        "class without bounds"
                    )
            scores_in = {
                "ood_score": (raw_in[rest] / expected).sum(axis=1),
                "msp_score": test["msp_score"][rest],
            }
            for name, out in outputs.items():
                scores_out = {
                    "ood_score": (raw_out[name] / expected).sum(axis=1),
                    "msp_score": out["msp_score"],
                }
                for score in self.ood_scores:
                    results[score][name].append(
                        evaluation.ood_metrics(
                            scores_in[score], scores_out[score]
                        )
                    )
        summary = {
            "splits": data["validation_splits"],
            "val_fraction": data["val_fraction"],
        }
        for statistic, reduce in (("mean", np.mean), ("std", np.std)):
            summary[statistic] = {
                score: {
                    name: {
                        field: float(reduce([r[field] for r in runs]))
                        for field in OOD_FIELDS
                    }
                    for name, runs in by_set.items()
                }
                for score, by_set in results.items()
            }
        return summary

    def _plots(self, model, data, test, outputs, run_dir):
        plots = os.path.join(run_dir, "plots")
        os.makedirs(plots, exist_ok=True)
        _, rest = _validation_split(
            len(data["x_test_all"]), data["val_fraction"], 1
        )
        evaluation.reliability_diagram(
            test["probs"][rest],
            data["y_test_all"][rest],
            path=os.path.join(plots, "reliability_diagram.png"),
            title=f"{self.name}: the classifier's reliability",
        )
        evaluation.ood_histograms(
            np.log10(1.0 + test["ood_score"][rest]),
            {k: np.log10(1.0 + v["ood_score"]) for k, v in outputs.items()},
            path=os.path.join(plots, "ood_histograms.png"),
            title=f"{self.name}: log10(1 + total deviation)",
        )
        evaluation.ood_histograms(
            test["msp_score"][rest],
            {k: v["msp_score"] for k, v in outputs.items()},
            path=os.path.join(plots, "msp_ood_histograms.png"),
            title=f"{self.name}: the classifier's -max softmax probability",
        )
        evaluation.layer_deviations(
            {
                "test": test["deviations"][rest],
                **{k: v["deviations"] for k, v in outputs.items()},
            },
            model.tap_names,
            path=os.path.join(plots, "tap_deviations.png"),
            title=f"{self.name}: normalised deviation per tap",
        )


def _validation_split(n, fraction, seed):
    """The official split `i`: `random.seed(i); random.sample(range(n),
    int(fraction * n))` validation indices, the rest sorted."""
    size = int(fraction * n)
    if size < 1 or size >= n:
        raise ValueError(
            f"val_fraction {fraction} of {n} test inputs leaves an empty "
            "validation or test set"
        )
    validation = random.Random(seed).sample(range(n), size)
    rest = sorted(set(range(n)) - set(validation))
    return np.asarray(validation), np.asarray(rest)


def _check_classifier_run(classifier, dataset, seed, config):
    """The classifier's run must share the detector's split and inputs."""
    if classifier.method != "softmax":
        raise ValueError(
            f"classifier_run {classifier.run_dir} is a {classifier.method!r} "
            "run; it must be a finished `keras-ssl train softmax` run"
        )
    expected = {"dataset": dataset, "seed": seed}
    found = {"dataset": classifier.dataset, "seed": classifier.record["seed"]}
    for key in SHARED_SETTINGS:
        expected[key] = list(np.atleast_1d(config[key]).tolist())
        found[key] = list(np.atleast_1d(classifier.config.get(key)).tolist())
    different = sorted(k for k in expected if expected[k] != found[k])
    if different:
        raise ValueError(
            f"classifier_run {classifier.run_dir} was trained with "
            + ", ".join(f"{k}={found[k]!r}" for k in different)
            + "; the detector's run has "
            + ", ".join(f"{k}={expected[k]!r}" for k in different)
            + ". Both must use the same training split and inputs (pass "
            "the classifier's --dataset, --seed and settings)"
        )
