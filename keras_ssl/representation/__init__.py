"""Representation learning from unlabeled images."""

from keras_ssl.representation.nat import NAT

__all__ = ["NAT"]
