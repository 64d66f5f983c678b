import numpy as np
import tensorflow as tf

from keras_ssl import augment
from keras_ssl import data as ssl_data
from keras_ssl import evaluation
from keras_ssl.recipes.representation_recipe import RepresentationRecipe
from keras_ssl.representation.rotation_prediction import RotationPrediction


class RotNetRecipe(RepresentationRecipe):
    """`keras-ssl train rotnet`: rotation prediction, the Lens control.

    Datasets:
        - `shortcut_digits` (the Lens note's fixture,
          `keras_ssl.data.shortcut_digits`): 1,000 training and 797 test
          digits at 16x16, a bright 3x2 block drawn at rows 1-3 and
          columns 1-2 of every image before it is rotated, so the
          rotation can be read off a corner. Models take the marked
          16x16 images (no raw-digits preprocessing).
        - `digits`: the family's digits (1,257 / 540 at 16x16, exports
          take raw 8x8 digits).

    Every batch of `--batch-size` images becomes its `num_rotations`
    rotated copies in `tf.data` (`keras_ssl.augment.rotations`), so a
    step sees 4x as many images. Settings of the note's experiment: the
    wide small CNN (32-64-128, 128-d features), Adam 1e-3, 30 epochs; the
    batch (64 images, 256 copies) is ours (the note gives none; the
    third-party Lens reimplementation uses 128). No other augmentation:
    the shortcut stays exact.

    Metrics (`run.json`), besides the family's probes on the test
    images (marked images for `shortcut_digits`) and their random-init
    baseline: `linear_probe_5_accuracy` (5 labels per class, "lin@5"),
    `rotation_accuracy` (F's rotation accuracy on the rotated test
    images) and `clean_rotation_accuracy` (on the rotated *clean* test
    images: whether F learned orientation from the digits or from the
    marker).
    """

    name = "rotnet"
    method = RotationPrediction
    datasets = ("shortcut_digits", "digits")
    settings = {
        "optimizer": "adam",
        "learning_rate": 1e-3,
        "image_size": 16,
        "width": "wide",
    }
    epochs = 30
    batch_size = 64

    def load_data(self, dataset, config, seed):
        self.check_dataset(dataset)
        if dataset == "digits":
            data = super().load_data(dataset, config, seed)
            return {**data, "x_clean_test": data["x_test"], "marker": None}
        size = config.get("image_size", 16)
        (x, y), (x_test, y_test) = ssl_data.shortcut_digits(
            image_size=size, seed=seed
        )
        _, (x_clean_test, _) = ssl_data.shortcut_digits(
            image_size=size, seed=seed, marker=None
        )
        return ssl_data.image_data(
            (x, y),
            (x_test, y_test),
            x_clean_test=x_clean_test,
            marker=ssl_data.SHORTCUT_MARKER,
        )

    def fit_inputs(self, data):
        return (data["x_train"],)

    def stream_inputs(self, source):
        return source.map(lambda *element: element[0])

    def augment(self, batch, seed, config):
        return augment.rotations(batch[0], config["num_rotations"])

    def evaluate(self, model, data, run_dir=None, initial_model=None):
        metrics = super().evaluate(model, data, run_dir, initial_model)
        metrics["linear_probe_5_accuracy"] = few_shot_probe(model, data)
        if initial_model is not None:
            metrics["random_init_linear_probe_5_accuracy"] = few_shot_probe(
                initial_model, data
            )
        predict = tf.function(model.predict_rotation)
        for name, key in (("", "x_test"), ("clean_", "x_clean_test")):
            copies, rotation = augment.rotations(data[key], model.num_rotations)
            predicted = evaluation.predict_in_batches(predict, copies)
            metrics[f"{name}rotation_accuracy"] = float(
                np.mean(predicted["rotation"] == rotation.numpy())
            )
        return metrics


def few_shot_probe(model, data, labels_per_class=5):
    """Linear-probe accuracy with `labels_per_class` training labels."""
    train = evaluation.encoder_features(model, data["x_train"])
    test = evaluation.encoder_features(model, data["x_test"])
    return evaluation.linear_probe(
        train,
        data["y_train"],
        test,
        data["y_test"],
        labels_per_class=labels_per_class,
    )
