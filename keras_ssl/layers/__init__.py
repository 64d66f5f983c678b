"""Layers that keras_ssl methods share."""

from keras_ssl.layers.sobel import Sobel

__all__ = ["Sobel"]
