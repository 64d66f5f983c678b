"""Stateless augmentations for `tf.data` pipelines."""

from keras_ssl.augment.random_noise import random_noise
from keras_ssl.augment.random_shift import random_shift

__all__ = ["random_noise", "random_shift"]
