"""Uncertainty and out-of-distribution methods."""

from keras_ssl.uncertainty.belief_matching import BeliefMatching
from keras_ssl.uncertainty.duq import DUQ
from keras_ssl.uncertainty.softmax_classifier import SoftmaxClassifier

__all__ = ["BeliefMatching", "DUQ", "SoftmaxClassifier"]
