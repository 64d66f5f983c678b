import os

import numpy as np

from keras_ssl import backbones
from keras_ssl import data as ssl_data
from keras_ssl import evaluation
from keras_ssl.recipes.recipe import Recipe


class RepresentationRecipe(Recipe):
    """Data and evaluation shared by the representation learners.

    Training data are the digits training images with their sample index,
    `(x, index)`, as NAT and PCL need; labels are used only by the probes.

    Metrics (`run.json`), all on frozen encoder features of the held-out
    digits test split:
        - `linear_probe_accuracy`: logistic regression on standardised
          features, trained on every training label;
        - `knn_accuracy`: weighted cosine kNN (k = 5);
        - `random_init_linear_probe_accuracy`, `random_init_knn_accuracy`:
          the same two for the identical encoder at its random
          initialisation, the baseline a learned representation must beat.
    The features are what the method's `call` returns: for a method with
    a `feature_layer` (probing an intermediate block, see
    `keras_ssl.evaluation.feature_extractor`) that layer's output, for
    the trained and the random-init model alike, and then the same four
    probes of the encoder's final features are added as
    `final_linear_probe_accuracy`, `final_knn_accuracy`,
    `random_init_final_linear_probe_accuracy` and
    `random_init_final_knn_accuracy`.
    Plot: a PCA map of the test embeddings coloured by label.
    """

    datasets = ("digits",)
    reports_random_init = True

    def load_data(self, dataset, config, seed):
        self.check_dataset(dataset)
        size = config.get("image_size", 16)
        (x, y), (x_test, y_test) = ssl_data.digits(image_size=size, seed=seed)
        return ssl_data.image_data(
            (x, y),
            (x_test, y_test),
            preprocessing=ssl_data.digits_preprocessing(image_size=size),
            raw_input_shape=(8, 8, 1),
        )

    def model_inputs(self, data, config):
        return {
            "encoder": backbones.small_cnn(
                data["input_shape"], preset=config.get("width", "narrow")
            )
        }

    def stream_inputs(self, source):
        # (x, index): the index is the position in the source's own order,
        # fixed before any shuffling.
        def with_index(index, element):
            x = element[0] if isinstance(element, tuple) else element
            return x, index

        return source.enumerate().map(with_index)

    def fit_inputs(self, data):
        return data["x_train"], np.arange(len(data["x_train"]), dtype="int64")

    def evaluate(self, model, data, run_dir=None, initial_model=None):
        metrics, features = evaluation.probe_metrics(model, data)
        if initial_model is not None:
            baseline, _ = evaluation.probe_metrics(initial_model, data)
            metrics.update({f"random_init_{k}": v for k, v in baseline.items()})
        layer = getattr(model, "feature_layer", None)
        if layer:
            for prefix, probed in (
                ("", model),
                ("random_init_", initial_model),
            ):
                if probed is not None:
                    final, _ = evaluation.probe_metrics(probed.encoder, data)
                    metrics.update(
                        {f"{prefix}final_{k}": v for k, v in final.items()}
                    )
        if run_dir is not None:
            plots = os.path.join(run_dir, "plots")
            os.makedirs(plots, exist_ok=True)
            evaluation.embedding_map(
                features,
                data["y_test"],
                path=os.path.join(plots, "embedding_map.png"),
                title=f"{self.name}: test embeddings"
                + (f" at {layer}" if layer else "")
                + " (PCA)",
            )
        return metrics
