import numpy as np

from keras_ssl.core import replica_rows


def test_replica_rows_without_a_strategy_are_the_whole_batch():
    offset, total = replica_rows(5)
    assert (int(offset), int(total)) == (0, 5)
    offset, total = replica_rows(np.int64(3))
    assert (int(offset), int(total)) == (0, 3)
