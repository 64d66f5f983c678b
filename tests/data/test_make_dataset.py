import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.data import make_dataset


def _rows(dataset):
    return np.concatenate([x for x, _ in dataset.as_numpy_iterator()])


def test_every_example_once_per_epoch_in_a_new_order():
    x = np.arange(23, dtype="float32")
    y = (x * 2).astype("int32")
    dataset = make_dataset((x, y), batch_size=5, seed=0)
    assert dataset.element_spec == (
        tf.TensorSpec((None,), tf.float32),
        tf.TensorSpec((None,), tf.int32),
    )
    batches = list(dataset.as_numpy_iterator())
    assert [len(b[0]) for b in batches] == [5, 5, 5, 5, 3]
    for xb, yb in batches:
        np.testing.assert_array_equal(yb, (xb * 2).astype("int32"))
    first = np.concatenate([b[0] for b in batches])
    second = _rows(dataset)
    np.testing.assert_array_equal(np.sort(first), x)
    np.testing.assert_array_equal(np.sort(second), x)
    assert not np.array_equal(first, second)
    # The same seed gives the same sequence of epochs.
    again = make_dataset((x, y), batch_size=5, seed=0)
    np.testing.assert_array_equal(_rows(again), first)
    np.testing.assert_array_equal(_rows(again), second)
    other = make_dataset((x, y), batch_size=5, seed=1)
    assert not np.array_equal(_rows(other), first)


def test_no_shuffle_keeps_order_and_drop_remainder_gives_static_shapes():
    x = np.arange(10, dtype="float32").reshape(10, 1)
    dataset = make_dataset(x, batch_size=4, shuffle=False, drop_remainder=True)
    assert dataset.element_spec.shape == (4, 1)
    batches = list(dataset.as_numpy_iterator())
    assert len(batches) == 2
    np.testing.assert_array_equal(np.concatenate(batches)[:, 0], np.arange(8))


def test_dict_inputs_map_fn_and_repeat():
    inputs = {"a": np.arange(6, dtype="float32"), "b": np.ones(6, "int32")}
    dataset = make_dataset(
        inputs,
        batch_size=4,
        map_fn=lambda batch: {"a": batch["a"] * 10.0, "b": batch["b"]},
        repeat=True,
    )
    assert dataset.cardinality() == tf.data.INFINITE_CARDINALITY
    values = np.concatenate([b["a"] for b in dataset.take(3)])
    assert len(values) == 12
    # Two full passes: every value twice, all scaled by map_fn.
    np.testing.assert_array_equal(
        np.sort(values), np.repeat(np.arange(6) * 10.0, 2)
    )


def test_tuple_map_fn_gets_unpacked_batch():
    x, y = np.zeros((8, 2), "float32"), np.arange(8, dtype="int32")
    dataset = make_dataset(
        (x, y), batch_size=8, shuffle=False, map_fn=lambda a, b: (a + 1, b)
    )
    xb, yb = next(iter(dataset))
    np.testing.assert_array_equal(xb.numpy(), np.ones((8, 2)))
    np.testing.assert_array_equal(yb.numpy(), y)


@pytest.mark.parametrize("batch_size", [0, -1, 2.5])
def test_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        make_dataset(np.zeros(4), batch_size=batch_size)


def test_different_lengths():
    with pytest.raises(ValueError, match="inputs arrays must all have"):
        make_dataset((np.zeros(4), np.zeros(5)), batch_size=2)
