"""The contract every keras_ssl method's tests call.

`check_method_contract` runs the `.keras` round trip, the config round
trip, 2 replicas = 1 device, resume = uninterrupted, and the export loaded
in a fresh process; `check_replica_equivalence` and `run_signatures` are
its parts, for tests that need one on its own.
"""

from keras_ssl.testing.fresh_load import run_signatures
from keras_ssl.testing.method_contract import CONTRACT_CHECKS
from keras_ssl.testing.method_contract import check_method_contract
from keras_ssl.testing.replica_check import check_replica_equivalence

__all__ = [
    "CONTRACT_CHECKS",
    "check_method_contract",
    "check_replica_equivalence",
    "run_signatures",
]
