"""Uncertainty and out-of-distribution methods."""

from keras_ssl.uncertainty.softmax_classifier import SoftmaxClassifier

__all__ = ["SoftmaxClassifier"]
