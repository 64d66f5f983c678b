"""Datasets whose elements carry their row index."""

import numpy as np
import tensorflow as tf

from keras_ssl.core._checks import check_integer


def with_index(data, batch_size=None, shuffle=False, seed=0):
    """Pairs every example with its position in the original data.

    Methods that keep one piece of state per training image need to know
    which image a batch row is: NAT (noise-as-targets) keeps each image's
    assigned target, PCL each image's cluster. The index is attached
    before shuffling, so it stays with its row in any order.

    Elements are `(x_i, i)` for images and `((x_i, y_i), i)` for a pair
    `(x, y)`; `i` is an int64 scalar (a vector after batching).

    Args:
        data: a NumPy array of images, a tuple `(x, y)` of arrays, or an
            unbatched `tf.data.Dataset` (its elements are numbered in the
            order the dataset yields them, with `enumerate`; the dataset
            must be deterministic for the numbers to mean rows).
        batch_size: if given, batch (then prefetch) the result.
        shuffle: whether to shuffle (before batching) with a fixed `seed`
            and a new order every epoch.
        seed: shuffle seed.

    Returns:
        A `tf.data.Dataset` of `(element, index)` pairs.

    Raises:
        ValueError: if the arrays of a tuple differ in length or
            `batch_size < 1`.

    Example:

    ```python
    from keras_ssl.data import digits, with_index

    (x_train, _), _ = digits()
    dataset = with_index(x_train, batch_size=64, shuffle=True)
    for images, index in dataset.take(1):
        assert (images.numpy() == x_train[index.numpy()]).all()
    ```
    """
    if batch_size is not None:
        batch_size = check_integer(batch_size, 1, "batch_size")
    if isinstance(data, tf.data.Dataset):
        dataset = data.enumerate().map(
            lambda i, element: (element, i),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
        size = None
    else:
        if isinstance(data, list):
            data = tuple(data)
        lengths = [len(a) for a in tf.nest.flatten(data)]
        if len(set(lengths)) != 1:
            raise ValueError(
                f"data arrays must all have the same length; got {lengths}"
            )
        size = lengths[0]
        index = np.arange(size, dtype="int64")
        dataset = tf.data.Dataset.from_tensor_slices((data, index))
    if shuffle:
        if size is None:
            size = int(dataset.cardinality())
            if size < 0:
                raise ValueError(
                    "shuffle=True needs a finite dataset of known size; "
                    "shuffle it yourself after with_index"
                )
        dataset = dataset.shuffle(
            size, seed=seed, reshuffle_each_iteration=True
        )
    if batch_size is not None:
        dataset = dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    return dataset
