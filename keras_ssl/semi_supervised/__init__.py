"""Semi-supervised classifiers: a few labels plus many unlabeled inputs.

Every method trains with `fit` on `{"labeled": (x, y), "unlabeled": x_u}`
batches from `keras_ssl.data.semi_supervised_dataset`, and subclasses
`SemiSupervisedClassifier`, which holds the classifier head, the
supervised loss, the replica-consistent dropout and the `classify`
endpoint they share. `Supervised` is the labels-only control.
`negative_sampling_loss` is NS3L's term, for any method to add.
`FlowGMM`, a normalizing flow rather than a head on an encoder, is a
`Method` of its own on the same data contract.
"""

from keras_ssl.semi_supervised.ds3l import DS3L
from keras_ssl.semi_supervised.flow_gmm import FlowGMM
from keras_ssl.semi_supervised.negative_sampling import negative_sampling_loss
from keras_ssl.semi_supervised.ns3l import NS3L
from keras_ssl.semi_supervised.semi_supervised_classifier import (
    SemiSupervisedClassifier,
)
from keras_ssl.semi_supervised.stability_me import StabilityME
from keras_ssl.semi_supervised.supervised import Supervised

__all__ = [
    "DS3L",
    "FlowGMM",
    "NS3L",
    "SemiSupervisedClassifier",
    "StabilityME",
    "Supervised",
    "negative_sampling_loss",
]
