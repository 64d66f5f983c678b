"""What every keras_ssl method shares: the base model, its endpoint
specs and the replica helpers."""

from keras_ssl.core.distribution import all_gather
from keras_ssl.core.distribution import num_replicas
from keras_ssl.core.distribution import replica_mean
from keras_ssl.core.distribution import replica_reduce
from keras_ssl.core.distribution import replica_rows
from keras_ssl.core.distribution import replica_sum
from keras_ssl.core.endpoint import Endpoint
from keras_ssl.core.method import Method
from keras_ssl.core.method import NonFiniteLossError
from keras_ssl.core.ramp_up import gaussian_ramp_up
from keras_ssl.core.weight_decay import coupled_weight_decay

__all__ = [
    "Endpoint",
    "Method",
    "NonFiniteLossError",
    "all_gather",
    "coupled_weight_decay",
    "gaussian_ramp_up",
    "num_replicas",
    "replica_mean",
    "replica_reduce",
    "replica_rows",
    "replica_sum",
]
