"""Layers that keras_ssl methods share."""

from keras_ssl.layers.real_nvp_flow import RealNVPFlow
from keras_ssl.layers.sobel import Sobel
from keras_ssl.layers.unet_lens import unet_lens

__all__ = ["RealNVPFlow", "Sobel", "unet_lens"]
