"""Stateless augmentations for `tf.data` pipelines."""

from keras_ssl.augment.color_permutations import color_permutations
from keras_ssl.augment.random_affine import random_affine
from keras_ssl.augment.random_color_jitter import random_color_jitter
from keras_ssl.augment.random_erasing import random_erasing
from keras_ssl.augment.random_flip import random_flip
from keras_ssl.augment.random_gaussian_blur import random_gaussian_blur
from keras_ssl.augment.random_grayscale import random_grayscale
from keras_ssl.augment.random_noise import random_noise
from keras_ssl.augment.random_projective import homography
from keras_ssl.augment.random_projective import projective_target_statistics
from keras_ssl.augment.random_projective import random_projective
from keras_ssl.augment.random_resized_crop import random_resized_crop
from keras_ssl.augment.random_shift import random_shift
from keras_ssl.augment.rotations import rotations

__all__ = [
    "homography",
    "projective_target_statistics",
    "random_affine",
    "color_permutations",
    "random_color_jitter",
    "random_erasing",
    "random_flip",
    "random_gaussian_blur",
    "random_grayscale",
    "random_noise",
    "random_projective",
    "random_resized_crop",
    "random_shift",
    "rotations",
]
