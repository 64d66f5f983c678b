import hashlib
import json
import os

import keras
import numpy as np
import tensorflow as tf

from keras_ssl import data as ssl_data
from keras_ssl import evaluation
from keras_ssl.generative.autoencoder import Autoencoder
from keras_ssl.recipes.recipe import Recipe
from keras_ssl.recipes.recipe import make_optimizer
from keras_ssl.uncertainty.softmax_classifier import SoftmaxClassifier

# The autoencoder control, inside the run directory.
CONTROL_DIR = "autoencoder"
# The digits split of the method note's experiment: 1,500 training and
# 297 test images.
TEST_SIZE = 297
# The classifier whose hidden layer is the feature space of
# `fd_features` (the note's "mini-FID": a 128-d hidden layer of a digits
# MLP classifier; its training settings are ours).
FEATURE_CLASSIFIER = {
    "hidden": 128,
    "epochs": 50,
    "batch_size": 64,
    "learning_rate": 1e-3,
    "seed": 0,
}
# Samples and reconstructions drawn in the plots.
PLOT_IMAGES = 100


class GenerativeRecipe(Recipe):
    """Data and evaluation shared by the generative autoencoders.

    Data (`digits`): scikit-learn's digits at 8x8, scaled to `[-1, 1]`
    (the range of the tanh decoders), split 1,500 / 297 (stratified, by
    the run seed) as in the method note's experiment. Exports take raw
    digits (`0..16`) and map them to `[-1, 1]` in the graph; the
    `sample` endpoint takes codes and returns images in `[-1, 1]`. To
    train on other images (`keras_ssl.run.train(..., data=...)`), give a
    dict with `x_train`, `x_test` in `[-1, 1]` and `input_shape`
    (`y_train`, `y_test` optional), as `tfds_data` builds.

    Networks (`network`): `"mlp"` (default; `Autoencoder.mlp_networks`
    with `hidden`, leaky ReLU, the note's digits nets) or `"conv"` (the
    official DCGAN-like nets for 28, 32 or 64 pixels,
    `Autoencoder.conv_networks` with `dim` and `use_batch_norm`), and a
    `latent_dim`-d code.

    Metrics (`run.json`), from `keras_ssl.evaluation.generative_metrics`
    with the training set as reference and as many samples as training
    images: `reconstruction_mse` (test set), `fd_pixels` and
    `fd_features` of `N(0, I)` samples, `ex_post_fd_pixels` and
    `ex_post_fd_features` of samples from the Gaussian fitted to the
    training codes, `latent_mean_norm` (`||mean E(x)||`) and
    `latent_covariance_error` (`||Cov E(x) - I||_F`) of the training
    codes, and `prior_latent_reconstruction` (`MSE(z, E(D(z)))`). The
    noise floor of the distances, the test set against the training set,
    is `fd_pixels_floor` and `fd_features_floor`. The features are the
    128-d hidden layer of a small digits classifier
    (`FEATURE_CLASSIFIER`; `feature_classifier_accuracy` is its test
    accuracy), trained once per training set and cached in
    `$KERAS_SSL_CACHE` (default `~/.keras/keras_ssl`) under a hash of the
    training images, labels and settings, so every run on the same split
    measures with the same instrument; without labels there is no
    `fd_features`.

    The same figures for the control, prefixed `autoencoder_`: a plain
    `keras_ssl.generative.Autoencoder` with the same networks, initial
    weights (those the method shares, from `initial.weights.h5`),
    optimizer, epochs and batches, trained once, by the first evaluation,
    and kept in `RUN_DIR/autoencoder/` (`autoencoder_train_seconds` is its
    training time). `fd_pixels_vs_autoencoder`, `fd_features_vs_autoencoder`
    and `reconstruction_mse_vs_autoencoder` are the method's figure over
    the control's. Plots: `samples.png` (training images beside samples
    of the method and of the control, from the same codes) and
    `reconstructions.png` (test images beside both reconstructions).
    """

    datasets = ("digits",)
    family_settings = {
        "network": "mlp",
        "latent_dim": 8,
        "hidden": (256, 256),
        "dim": 64,
        "use_batch_norm": False,
    }
    control = Autoencoder

    # ------------------------------------------------------------------
    # Data
    # ------------------------------------------------------------------
    def load_data(self, dataset, config, seed):
        self.check_dataset(dataset)
        (x, y), (x_test, y_test) = ssl_data.digits(
            test_size=TEST_SIZE, seed=seed
        )
        return ssl_data.image_data(
            (to_signed(x), y),
            (to_signed(x_test), y_test),
            seed=seed,
            preprocessing=signed_digits_preprocessing(),
            raw_input_shape=(8, 8, 1),
        )

    def tfds_data(
        self, dataset, image_size=None, channels=None, data_dir=None, **kw
    ):
        """A TensorFlow Datasets image set in this recipe's data format.

        The `train` and `test` splits through `keras_ssl.data.tfds_split`
        (nothing is downloaded), scaled to `[-1, 1]`; `kw` goes to
        `tfds_split` too (e.g. `max_examples`).
        """
        data = ssl_data.tfds_split(
            dataset,
            image_size=image_size,
            channels=channels,
            data_dir=data_dir,
            **kw,
        )
        data["x_train"] = to_signed(data["x_train"])
        data["x_test"] = to_signed(data["x_test"])
        return data

    def fit_inputs(self, data):
        return (data["x_train"],)

    # ------------------------------------------------------------------
    # Model
    # ------------------------------------------------------------------
    def model_inputs(self, data, config):
        shape = tuple(data["input_shape"])
        if config["network"] == "mlp":
            return Autoencoder.mlp_networks(
                shape, config["latent_dim"], hidden=config["hidden"]
            )
        if config["network"] == "conv":
            return Autoencoder.conv_networks(
                shape,
                config["latent_dim"],
                dim=config["dim"],
                use_batch_norm=config["use_batch_norm"],
            )
        raise ValueError(
            f"--set network must be 'mlp' or 'conv'; got {config['network']!r}"
        )

    def compile_arguments(self, config, steps_per_epoch=None):
        return {"optimizer": make_optimizer(config, steps_per_epoch)}

    # ------------------------------------------------------------------
    # Evaluation
    # ------------------------------------------------------------------
    def evaluate(self, model, data, run_dir=None, initial_model=None):
        x_train, x_test = data["x_train"], data["x_test"]
        seed = data.get("seed", 0)
        features, accuracy = self.feature_model(data)
        metrics = evaluation.generative_metrics(
            model, x_train, x_test, features, seed=seed
        )
        metrics["fd_pixels_floor"] = evaluation.frechet_distance(
            x_test, x_train
        )
        if features is not None:
            metrics["fd_features_floor"] = evaluation.frechet_distance(
                x_test, x_train, features
            )
            metrics["feature_classifier_accuracy"] = accuracy
        if run_dir is None:
            return metrics
        models = {self.name: model}
        control = self.autoencoder_control(data, run_dir)
        if control is not None:
            control_model, seconds = control
            models["autoencoder"] = control_model
            control_metrics = evaluation.generative_metrics(
                control_model, x_train, x_test, features, seed=seed
            )
            for key, value in control_metrics.items():
                metrics[f"autoencoder_{key}"] = value
            for key in ("fd_pixels", "fd_features", "reconstruction_mse"):
                if key in metrics:
                    metrics[f"{key}_vs_autoencoder"] = (
                        metrics[key] / control_metrics[key]
                    )
            metrics["autoencoder_train_seconds"] = seconds
        self.plots(models, data, run_dir)
        return metrics

    def plots(self, models, data, run_dir):
        """`samples.png` and `reconstructions.png` of every model."""
        plots = os.path.join(run_dir, "plots")
        os.makedirs(plots, exist_ok=True)
        samples = {"training images": data["x_train"][:PLOT_IMAGES]}
        rebuilt = {"test images": data["x_test"][:PLOT_IMAGES]}
        for name, model in models.items():
            samples[f"{name} samples"] = model.sample(PLOT_IMAGES, seed=0)[
                "images"
            ]
            rebuilt[f"{name} reconstructions"] = np.asarray(
                model.reconstruct(data["x_test"][:PLOT_IMAGES])["images"]
            )
        evaluation.image_grids(
            samples,
            path=os.path.join(plots, "samples.png"),
            title=f"{self.name}: samples, z ~ N(0, I)",
        )
        evaluation.image_grids(
            rebuilt,
            path=os.path.join(plots, "reconstructions.png"),
            title=f"{self.name}: reconstructions of test images",
        )

    def feature_model(self, data):
        """`(features, accuracy)`: the hidden layer of the digits
        classifier of `fd_features` and its test accuracy, trained once per
        training set and cached; `(None, None)` without labels."""
        if data.get("y_train") is None:
            return None, None
        x, y = data["x_train"], np.asarray(data["y_train"])
        key = hashlib.sha1()
        for part in (x, y):
            key.update(np.ascontiguousarray(part).tobytes())
            key.update(str(part.shape).encode())
        key.update(json.dumps(FEATURE_CLASSIFIER, sort_keys=True).encode())
        folder = cache_dir()
        path = os.path.join(
            folder, f"feature_classifier_{key.hexdigest()[:16]}.keras"
        )
        if os.path.exists(path):
            classifier = keras.saving.load_model(path)
        else:
            classifier = _train_feature_classifier(x, y)
            os.makedirs(folder, exist_ok=True)
            partial = f"{path[: -len('.keras')]}.{os.getpid()}.partial.keras"
            classifier.save(partial)
            os.replace(partial, path)  # atomic: parallel runs may race
        accuracy = None
        if data.get("y_test") is not None:
            probs = evaluation.predict_in_batches(
                tf.function(classifier.classify), data["x_test"]
            )["probs"]
            accuracy = float(np.mean(probs.argmax(1) == data["y_test"]))
        return classifier.encoder, accuracy

    def autoencoder_control(self, data, run_dir):
        """`(model, train_seconds)` of the run's autoencoder control,
        trained on first use and kept in `RUN_DIR/autoencoder/` (None
        without the run's `args.json`)."""
        from keras_ssl import run as ssl_run

        def prepare(args):
            config, seed = args["config"], args["seed"]
            dataset, steps = self.train_dataset(
                data, args["global_batch"], seed, 0, args["epochs"], config
            )
            keras.utils.set_random_seed(seed)
            control = self.build_model(data, config, steps, method=self.control)
            sample = self.sample_inputs(data)
            control(sample)
            initial = os.path.join(run_dir, ssl_run.INITIAL_WEIGHTS)
            if os.path.exists(initial):  # the method's initial weights
                method = self.build_model(data, config, steps)
                method(sample)
                method.load_weights(initial)
                for part in ("encoder", "latent_head", "decoder"):
                    getattr(control, part).set_weights(
                        getattr(method, part).get_weights()
                    )
            return control, dataset, steps

        cached = self.cached_control(run_dir, CONTROL_DIR, prepare)
        if cached is None:
            return None
        control, record = cached
        return control, record["train_seconds"]


def to_signed(images):
    """Images in `[0, 1]` mapped to `[-1, 1]`, float32."""
    return (2.0 * np.asarray(images, dtype="float32") - 1.0).astype("float32")


def signed_digits_preprocessing():
    """Raw 8x8 digits (`0..16`) to the recipe's `[-1, 1]` images, in the
    graph: `keras_ssl.data.digits_preprocessing()`, then `2 x - 1`."""
    inputs = keras.Input((8, 8, 1), name="raw_digits")
    x = ssl_data.digits_preprocessing()(inputs)
    x = keras.layers.Rescaling(2.0, offset=-1.0, name="signed")(x)
    return keras.Model(inputs, x, name="signed_digits_preprocessing")


def cache_dir():
    """Where trained evaluation models are cached: `$KERAS_SSL_CACHE`, or
    `keras_ssl` under `$KERAS_HOME` (default `~/.keras`)."""
    if os.environ.get("KERAS_SSL_CACHE"):
        return os.environ["KERAS_SSL_CACHE"]
    home = os.environ.get("KERAS_HOME") or os.path.join(
        os.path.expanduser("~"), ".keras"
    )
    return os.path.join(home, "keras_ssl")


def _train_feature_classifier(x, y):
    """The digits MLP of `FEATURE_CLASSIFIER`: Flatten -> Dense(128) ->
    ReLU (the features) -> Dense(classes), Adam, fixed seed."""
    settings = FEATURE_CLASSIFIER
    keras.utils.set_random_seed(settings["seed"])
    inputs = keras.Input(x.shape[1:], name="images")
    flat = keras.layers.Flatten(name="flatten")(inputs)
    hidden = keras.layers.Dense(
        settings["hidden"], activation="relu", name="hidden"
    )(flat)
    encoder = keras.Model(inputs, hidden, name="features")
    classifier = SoftmaxClassifier(encoder, num_classes=int(y.max()) + 1)
    classifier.compile(
        optimizer=keras.optimizers.Adam(settings["learning_rate"])
    )
    classifier.fit(
        x,
        y,
        batch_size=settings["batch_size"],
        epochs=settings["epochs"],
        verbose=0,
    )
    return classifier
