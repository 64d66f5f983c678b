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
        - `digits`: scikit-learn's digits; `in_classes` (default 0-4) are
          in distribution. OOD sets are the test images of the other
          classes (`digits_5_9` for the default split) and uniform noise
          of the same shape (`uniform_noise`). `image_size` (8, 16 or 32)
          and `channels` (1 or 3) set the model inputs; exports take raw
          8x8 digits.
        - `two_moons`: `make_moons` (1,500 points, noise 0.1), 200 fresh
          test points; the OOD set `far` holds 2,000 uniform points in
          [-4, 5] x [-4, 4] at distance >= 1 from every training point.

    Metrics (`run.json`): `accuracy`, `ece`, `mce`, `nll`, `brier` on the
    in-distribution test set; `ood[set]` with the fields of
    `keras_ssl.evaluation.ood_metrics` for the method's `ood_score`
    (larger = more OOD); `ood_by_score[score][set]` for every score in
    `ood_scores` (outputs of `classify`, each larger = more OOD), when a
    method has more than one; and `mean_certainty` on the test set and
    on each OOD set, when `classify` returns a `certainty`. Plots: a
    reliability diagram and OOD-score histograms; for 2-D data the
    certainty map over the plane.
    """

    datasets = ("digits", "two_moons")
    family_settings = {
        "in_classes": IN_CLASSES,
        "image_size": 16,
        "channels": 1,
    }
    # The `classify` outputs evaluated as OOD scores; the first is `ood`.
    ood_scores = ("ood_score",)

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
        channels = config.get("channels", 1)
        in_classes = _check_in_classes(config.get("in_classes", IN_CLASSES))
        (x, y), (x_test, y_test) = ssl_data.digits(
            image_size=size, channels=channels, seed=seed
        )
        (x_in, y_in), _ = ssl_data.held_out_classes(x, y, in_classes)
        (x_test_in, y_test_in), x_test_out = ssl_data.held_out_classes(
            x_test, y_test, in_classes
        )
        noise = ssl_data.uniform_noise(len(x_test_in), x.shape[1:], seed=seed)
        out_classes = [c for c in range(10) if c not in in_classes]
        return ssl_data.image_data(
            (x_in, y_in),
            (x_test_in, y_test_in),
            num_classes=len(in_classes),
            ood={
                _held_out_name(out_classes): x_test_out,
                "uniform_noise": noise,
            },
            preprocessing=ssl_data.digits_preprocessing(
                image_size=size, channels=channels
            ),
            raw_input_shape=(8, 8, 1),
        )

    def tfds_data(
        self,
        dataset,
        ood_datasets,
        seed=0,
        image_size=None,
        channels=None,
        data_dir=None,
    ):
        """A TensorFlow Datasets image set and its OOD sets, as `load_data`.

        For `keras_ssl.run.train(..., data=...)` (the examples' paper
        datasets). In distribution: the `train` and `test` splits of
        `dataset`; out of distribution: the `test` split of each of
        `ood_datasets` (named as given) and uniform noise of the test
        set's size. Read with `keras_ssl.data.tfds_split` and
        `keras_ssl.data.load_tfds` (nothing is downloaded: an unprepared
        set raises its `ValueError`). `num_classes` is the largest
        training label + 1.

        Args:
            dataset: the in-distribution TFDS name (e.g. `"cifar10"`).
            ood_datasets: TFDS names of the OOD sets (e.g.
                `("svhn_cropped",)`).
            seed: the seed of the noise.
            image_size, channels, data_dir: passed to `load_tfds` for
                every set, so all have one shape.
        """
        options = dict(
            image_size=image_size, channels=channels, data_dir=data_dir
        )
        data = ssl_data.tfds_split(dataset, **options)
        ood = {
            name: ssl_data.load_tfds(name, "test", **options)[0]
            for name in ood_datasets
        }
        ood["uniform_noise"] = ssl_data.uniform_noise(
            len(data["x_test"]), data["input_shape"], seed=seed
        )
        return {**data, "ood": ood}

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
        outputs = {
            name: evaluation.predict_in_batches(classify, x)
            for name, x in data["ood"].items()
        }
        by_score = {
            score: {
                name: evaluation.ood_metrics(test[score], out[score])
                for name, out in outputs.items()
            }
            for score in self.ood_scores
        }
        metrics["ood"] = by_score[self.ood_scores[0]]
        if len(self.ood_scores) > 1:
            metrics["ood_by_score"] = by_score
        if "certainty" in test:
            metrics["mean_certainty"] = {
                "test": float(test["certainty"].mean()),
                **{
                    name: float(out["certainty"].mean())
                    for name, out in outputs.items()
                },
            }
        scores_out = {
            name: out[self.ood_scores[0]] for name, out in outputs.items()
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
                test[self.ood_scores[0]],
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


def _check_in_classes(value):
    classes = tuple(value) if isinstance(value, tuple | list) else (value,)
    if (
        len(classes) < 2
        or len(set(classes)) != len(classes)
        or not all(isinstance(c, int) and 0 <= c <= 9 for c in classes)
        or len(classes) == 10
    ):
        raise ValueError(
            "in_classes (--set in_classes=0,1,2,3,4) must be 2 to 9 distinct "
            f"digit classes in 0..9; got {value!r}"
        )
    return classes


def _held_out_name(classes):
    """`digits_5_9` for a range of held-out classes, else each listed."""
    if list(classes) == list(range(classes[0], classes[-1] + 1)):
        return f"digits_{classes[0]}_{classes[-1]}"
    return "digits_" + "_".join(str(c) for c in classes)
