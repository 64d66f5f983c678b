"""Layers that keras_ssl methods share."""

from keras_ssl.layers.real_nvp_flow import RealNVPFlow
from keras_ssl.layers.sobel import Sobel

__all__ = ["RealNVPFlow", "Sobel"]
