"""Uncertainty and out-of-distribution methods."""

from keras_ssl.uncertainty.belief_matching import BeliefMatching
from keras_ssl.uncertainty.certainty_floor_callback import (
    CertaintyFloorCallback,
)
from keras_ssl.uncertainty.duq import DUQ
from keras_ssl.uncertainty.gram_detector import GramDetector
from keras_ssl.uncertainty.sde_net import SDENet
from keras_ssl.uncertainty.softmax_classifier import SoftmaxClassifier

__all__ = [
    "BeliefMatching",
    "CertaintyFloorCallback",
    "DUQ",
    "GramDetector",
    "SDENet",
    "SoftmaxClassifier",
]
