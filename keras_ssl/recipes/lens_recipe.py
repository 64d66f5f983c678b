import os

import numpy as np
import tensorflow as tf

from keras_ssl import augment
from keras_ssl import backbones
from keras_ssl import evaluation
from keras_ssl.layers.unet_lens import unet_lens
from keras_ssl.recipes.recipe import make_optimizer
from keras_ssl.recipes.rotnet_recipe import RotNetRecipe
from keras_ssl.representation.shortcut_lens import ShortcutLens


class LensRecipe(RotNetRecipe):
    """`keras-ssl train lens`: RotNet with automatic shortcut removal.

    The `rotnet` recipe's data, network and optimiser (the Lens note's
    digits experiment: wide small CNN, Adam 1e-3, 30 epochs), plus the
    lens: `keras_ssl.layers.unet_lens` with `lens_widths` (16-32-64, a
    3-level mini U-Net as in the note; the widths are ours), trained with
    its own Adam at `lens_learning_rate` (1e-3, the note). `ShortcutLens`
    defaults: least-likely adversarial loss, reconstruction weight 100,
    F trained on lensed and unlensed images, concatenated features.

    Metrics, besides the `rotnet` ones (the probes read
    `concat[F(L(x)), F(x)]`; the rotation accuracies are F's on unlensed
    images): `lensed_rotation_accuracy` and
    `lensed_clean_rotation_accuracy` (F on the lensed test copies),
    `lens_mean_change` (mean |x - L(x)| per pixel over the rotated test
    copies) and, on `shortcut_digits`, `lens_marker_change` (on the
    marker's pixels, which move with the rotation),
    `lens_background_change` (on the other pixels) and their ratio
    `lens_marker_change_ratio`. Plot `plots/lens.png`: x, L(x) and
    |x - L(x)| for the four rotations of two test images.
    """

    name = "lens"
    method = ShortcutLens
    settings = {
        **RotNetRecipe.settings,
        "lens_learning_rate": 1e-3,
        "lens_widths": (16, 32, 64),
    }
    setting_rules = {"lens_learning_rate": "> 0"}

    def model_inputs(self, data, config):
        shape = tuple(data["input_shape"])
        return {
            "encoder": backbones.small_cnn(shape, preset=config["width"]),
            "lens": unet_lens(shape, widths=config["lens_widths"]),
        }

    def compile_arguments(self, config, steps_per_epoch=None):
        lens = {**config, "learning_rate": config["lens_learning_rate"]}
        return {
            "optimizer": make_optimizer(config, steps_per_epoch),
            "lens_optimizer": make_optimizer(lens, steps_per_epoch),
        }

    def evaluate(self, model, data, run_dir=None, initial_model=None):
        metrics = super().evaluate(model, data, run_dir, initial_model)
        metrics.update(lens_metrics(model, data, run_dir, self.name))
        return metrics


def lens_metrics(model, data, run_dir=None, name="lens"):
    """What the lens changes on the rotated test images (see the recipe)."""
    lens = tf.function(model.lensed_images)
    predict = tf.function(model.predict_rotation)
    metrics = {}
    for prefix, key in (("", "x_test"), ("clean_", "x_clean_test")):
        copies, rotation = augment.rotations(data[key], model.num_rotations)
        lensed = evaluation.predict_in_batches(lens, copies)["lensed"]
        predicted = evaluation.predict_in_batches(predict, lensed)
        metrics[f"lensed_{prefix}rotation_accuracy"] = float(
            np.mean(predicted["rotation"] == rotation.numpy())
        )
        if key == "x_test":
            x, x_lensed = copies.numpy(), lensed
    change = np.abs(x - x_lensed).mean(axis=-1)
    metrics["lens_mean_change"] = float(change.mean())
    if data.get("marker") is not None:
        top, bottom, left, right = data["marker"]
        mask = np.zeros((1, *x.shape[1:3], 1), "float32")
        mask[:, top:bottom, left:right] = 1.0
        # The marker turns with the image: copy j holds mask rotation j.
        rotated, _ = augment.rotations(mask, model.num_rotations)
        copies_per_image = rotated.shape[0]
        mask = np.tile(
            rotated.numpy()[..., 0] > 0.5, (len(x) // copies_per_image, 1, 1)
        )
        marker, background = change[mask].mean(), change[~mask].mean()
        metrics["lens_marker_change"] = float(marker)
        metrics["lens_background_change"] = float(background)
        metrics["lens_marker_change_ratio"] = float(
            marker / max(background, 1e-12)
        )
    if run_dir is not None:
        plots = os.path.join(run_dir, "plots")
        os.makedirs(plots, exist_ok=True)
        evaluation.lens_plot(
            x[:8],
            x_lensed[:8],
            path=os.path.join(plots, "lens.png"),
            title=f"{name}: x, L(x), |x - L(x)| (test images, 4 rotations)",
            count=8,
        )
    return metrics
