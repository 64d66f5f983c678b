"""Supervised learning with self-supervision: classifiers that learn from
labels and from transformations of their inputs."""

from keras_ssl.supervised.sla import SLA

__all__ = ["SLA"]
