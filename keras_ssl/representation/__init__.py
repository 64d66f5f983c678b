"""Representation learning from unlabeled images."""

from keras_ssl.representation.aet import AET
from keras_ssl.representation.moco import MoCo
from keras_ssl.representation.nat import NAT
from keras_ssl.representation.pcl import PCL

__all__ = ["AET", "MoCo", "NAT", "PCL"]
