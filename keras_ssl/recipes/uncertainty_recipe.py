import os

import tensorflow as tf

from keras_ssl import backbones
from keras_ssl import data as ssl_data
from keras_ssl import evaluation
from keras_ssl.recipes.recipe import Recipe

IN_CLASSES = (0, 1, 2, 3, 4)


class UncertaintyRecipe(Recipe):
    """Data and evaluation shared by the uncertainty / OOD methods.

    Datasets:
        - `digits`: scikit-learn's digits, classes 0-4 in distribution;
          OOD sets are the test images of classes 5-9 (`digits_5_9`) and
          uniform noise of the same shape (`uniform_noise`).
        - `two_moons`: `make_moons` (1,500 points, noise 0.1), 200 fresh
          test points; the OOD set `far` holds 2,000 uniform points in
          [-4, 5] x [-4, 4] at distance >= 1 from every training point.

    Metrics (`run.json`): `accuracy`, `ece`, `mce`, `nll`, `brier` on the
    in-distribution test set, and `ood[set]` with the fields of
    `keras_ssl.evaluation.ood_metrics` (score = the method's `ood_score`,
    larger = more OOD). Plots: a reliability diagram and OOD-score
    histograms; for 2-D data the certainty map over the plane.
    """

    datasets = ("digits", "two_moons")

    def load_data(self, dataset, config, seed):
        self.check_dataset(dataset)
        if dataset == "two_moons":
            (x, y), (x_test, y_test) = ssl_data.two_moons(seed=seed)
            return {
                "kind": "tabular",
                "x_train": x,
                "y_train": y,
                "x_test": x_test,
                "y_test": y_test,
                "num_classes": 2,
                "input_shape": x.shape[1:],
                "ood": {"far": ssl_data.far_points(x, seed=seed)},
            }
        size = config.get("image_size", 16)
        (x, y), (x_test, y_test) = ssl_data.digits(image_size=size, seed=seed)
        (x_in, y_in), _ = ssl_data.held_out_classes(x, y, IN_CLASSES)
        (x_test_in, y_test_in), x_test_out = ssl_data.held_out_classes(
            x_test, y_test, IN_CLASSES
        )
        noise = ssl_data.uniform_noise(len(x_test_in), x.shape[1:], seed=seed)
        return {
            "kind": "image",
            "x_train": x_in,
            "y_train": y_in,
            "x_test": x_test_in,
            "y_test": y_test_in,
            "num_classes": len(IN_CLASSES),
            "input_shape": x.shape[1:],
            "ood": {"digits_5_9": x_test_out, "uniform_noise": noise},
            "preprocessing": ssl_data.digits_preprocessing(image_size=size),
            "raw_input_shape": (8, 8, 1),
        }

    def encoder(self, data, config):
        """The backbone for `data`: an MLP for 2-D data, else a small CNN."""
        if data["kind"] == "tabular":
            return backbones.mlp(data["input_shape"], hidden=(20, 20, 20))
        return backbones.small_cnn(
            data["input_shape"], preset=config.get("width", "wide")
        )

    def model_inputs(self, data, config):
        return {
            "encoder": self.encoder(data, config),
            "num_classes": data["num_classes"],
        }

    def fit_inputs(self, data):
        return data["x_train"], data["y_train"]

    def evaluate(self, model, data, run_dir=None, initial_model=None):
        classify = tf.function(model.classify)
        test = evaluation.predict_in_batches(classify, data["x_test"])
        metrics = evaluation.calibration_metrics(test["probs"], data["y_test"])
        scores_out = {
            name: evaluation.predict_in_batches(classify, x)["ood_score"]
            for name, x in data["ood"].items()
        }
        metrics["ood"] = {
            name: evaluation.ood_metrics(test["ood_score"], scores)
            for name, scores in scores_out.items()
        }
        if run_dir is not None:
            plots = os.path.join(run_dir, "plots")
            os.makedirs(plots, exist_ok=True)
            evaluation.reliability_diagram(
                test["probs"],
                data["y_test"],
                path=os.path.join(plots, "reliability_diagram.png"),
                title=f"{self.name}: reliability",
            )
            evaluation.ood_histograms(
                test["ood_score"],
                scores_out,
                path=os.path.join(plots, "ood_histograms.png"),
                title=f"{self.name}: OOD scores",
            )
            if data["kind"] == "tabular" and data["input_shape"] == (2,):
                evaluation.certainty_map(
                    lambda points: evaluation.predict_in_batches(
                        classify, points
                    )["certainty"],
                    data["x_train"],
                    data["y_train"],
                    path=os.path.join(plots, "certainty_map.png"),
                    title=f"{self.name}: certainty",
                )
        return metrics
