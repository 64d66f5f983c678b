"""Representation learning from unlabeled images."""

from keras_ssl.representation.aet import AET
from keras_ssl.representation.moco import MoCo
from keras_ssl.representation.nat import NAT
from keras_ssl.representation.pcl import PCL
from keras_ssl.representation.rotation_prediction import RotationPrediction
from keras_ssl.representation.shortcut_lens import ShortcutLens

__all__ = ["AET", "MoCo", "NAT", "PCL", "RotationPrediction", "ShortcutLens"]
