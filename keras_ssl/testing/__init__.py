"""The contract every keras_ssl method's tests call.

`check_method_contract` runs the `.keras` round trip, the config round
trip, 2 replicas = 1 device, resume = uninterrupted, and the export loaded
in a fresh process, and that no weight read can race the step's update
(`unordered_weight_reads`); `check_replica_equivalence`, `run_signatures`
and `unordered_weight_reads` are its parts, for tests that need one on
its own.
"""

from keras_ssl.testing.fresh_load import run_signatures
from keras_ssl.testing.method_contract import CONTRACT_CHECKS
from keras_ssl.testing.method_contract import check_method_contract
from keras_ssl.testing.replica_check import check_replica_equivalence
from keras_ssl.testing.update_ordering import unordered_weight_reads

__all__ = [
    "CONTRACT_CHECKS",
    "check_method_contract",
    "check_replica_equivalence",
    "run_signatures",
    "unordered_weight_reads",
]
