"""Module-level AET builders for the contract's replica check (importable
by the harness's worker process), and the fixed batches."""

import keras
import numpy as np
import tensorflow as tf

from keras_ssl.backbones import small_cnn
from keras_ssl.representation import AET
from keras_ssl.representation.aet import transformation_pairs


def images(count=16, seed=0):
    return (
        np.random.default_rng(seed).random((count, 8, 8, 1)).astype("float32")
    )


def batch(transform="affine"):
    """One `((x, t(x)), target)` batch of 16 made by the sampler."""
    (x, warped), target = transformation_pairs(
        images(), tf.constant([0, 1]), transform, fill_value=0.0
    )
    return (np.asarray(x), np.asarray(warped)), np.asarray(target)


def build_aet():
    # Synchronized BatchNorm: each encoder call normalises its half of the
    # pair over the global batch, so 2 replicas equal 1 device.
    encoder = small_cnn((8, 8, 1), preset="narrow")
    model = AET(encoder, feature_layer="block2_pool")
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    return model
