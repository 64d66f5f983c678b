"""Representation learning from unlabeled images."""

from keras_ssl.representation.moco import MoCo
from keras_ssl.representation.nat import NAT
from keras_ssl.representation.pcl import PCL

__all__ = ["MoCo", "NAT", "PCL"]
