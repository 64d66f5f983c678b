"""Module-level RotNet and ShortcutLens builders for the contract tests
(importable by the harness's worker process)."""

import keras
import numpy as np

from keras_ssl.augment import rotations
from keras_ssl.backbones import small_cnn
from keras_ssl.data import add_shortcut_marker
from keras_ssl.layers import unet_lens
from keras_ssl.representation import RotationPrediction
from keras_ssl.representation import ShortcutLens


def batch():
    """4 marked 8x8 images in their 4 rotations: 16 copies, 16 labels."""
    x = np.random.default_rng(0).random((4, 8, 8, 1)).astype("float32")
    copies, labels = rotations(add_shortcut_marker(x, (1, 3, 1, 2)))
    return copies.numpy(), labels.numpy()


def _encoder():
    return small_cnn((8, 8, 1), preset="narrow", synchronized_batch_norm=True)


def build_rotnet():
    model = RotationPrediction(_encoder())
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    return model


def build_lens():
    # The replica, resume and export checks need a lens that is not the
    # identity: a large lens rate moves it within the first step.
    model = ShortcutLens(
        _encoder(),
        lens=unet_lens((8, 8, 1), widths=(4, 8)),
        reconstruction_weight=1.0,
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        lens_optimizer=keras.optimizers.SGD(0.5),
    )
    return model
