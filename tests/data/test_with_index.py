import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.data import with_index


def _epoch(dataset):
    elements, indices = [], []
    for element, index in dataset.as_numpy_iterator():
        elements.append(element)
        indices.append(index)
    return elements, np.concatenate(indices)


def test_array_index_is_the_row_under_shuffling():
    x = np.random.default_rng(0).normal(size=(50, 3, 3, 1)).astype("float32")
    dataset = with_index(x, batch_size=8, shuffle=True, seed=0)
    assert dataset.element_spec[1].dtype == tf.int64
    images, first = _epoch(dataset)
    _, second = _epoch(dataset)
    # Every index once per epoch, a new order each epoch.
    np.testing.assert_array_equal(np.sort(first), np.arange(50))
    assert not np.array_equal(first, np.arange(50))
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(np.concatenate(images), x[first])


def test_pairs_carry_labels_with_their_rows():
    x = np.arange(30, dtype="float32").reshape(10, 3)
    y = np.arange(10, dtype="int32") * 7
    dataset = with_index((x, y), shuffle=True, seed=1)
    seen = []
    for (xi, yi), i in dataset.as_numpy_iterator():
        np.testing.assert_array_equal(xi, x[i])
        assert yi == y[i]
        seen.append(i)
    assert sorted(seen) == list(range(10))


def test_dataset_input_is_enumerated():
    x = np.arange(12, dtype="float32").reshape(6, 2)
    source = tf.data.Dataset.from_tensor_slices(x)
    dataset = with_index(source, batch_size=4, shuffle=True, seed=0)
    assert dataset.element_spec[1] == tf.TensorSpec((None,), tf.int64)
    images, index = _epoch(dataset)
    np.testing.assert_array_equal(np.sort(index), np.arange(6))
    np.testing.assert_array_equal(np.concatenate(images), x[index])


def test_unbatched_unshuffled_elements():
    x = np.arange(4, dtype="float32")
    elements = list(with_index(x).as_numpy_iterator())
    assert [(float(a), int(b)) for a, b in elements] == [
        (0.0, 0),
        (1.0, 1),
        (2.0, 2),
        (3.0, 3),
    ]


def test_errors():
    with pytest.raises(ValueError, match="same length"):
        with_index((np.zeros(3), np.zeros(4)))
    with pytest.raises(ValueError, match="batch_size"):
        with_index(np.zeros(3), batch_size=0)
