"""A shuffled, batched, prefetched `tf.data` pipeline from NumPy arrays."""

import tensorflow as tf

from keras_ssl.core._checks import check_integer


def make_dataset(
    inputs,
    batch_size,
    shuffle=True,
    seed=0,
    map_fn=None,
    drop_remainder=False,
    repeat=False,
):
    """Builds the standard input pipeline for `model.fit`.

    `from_tensor_slices` -> `shuffle` (whole data set as buffer, fixed
    `seed`, a new order every epoch) -> `repeat` -> `batch` -> `map` ->
    `prefetch`. `map_fn` runs on whole batches, which suits Keras
    preprocessing and augmentation layers; it is called with the batch
    unpacked as `tf.data` does (a tuple `(x, y)` gives `map_fn(x, y)`, a
    dict gives `map_fn(batch)`).

    Args:
        inputs: a NumPy array, a tuple or list of arrays (for example
            `(x, y)`), or a dict of arrays. All arrays need the same
            length.
        batch_size: number of examples per batch (`>= 1`).
        shuffle: whether to shuffle; the order depends only on `seed` and
            changes from epoch to epoch (`reshuffle_each_iteration=True`).
        seed: shuffle seed.
        map_fn: optional function applied to every batch, run in parallel
            with `tf.data.AUTOTUNE`.
        drop_remainder: whether to drop the last, smaller batch (gives
            static batch shapes).
        repeat: whether to repeat forever (then `fit` needs
            `steps_per_epoch`).

    Returns:
        A batched, prefetched `tf.data.Dataset`.

    Raises:
        ValueError: if `batch_size < 1`, `inputs` is empty or its arrays
            differ in length.

    Example:

    ```python
    import keras_ssl
    from keras_ssl.data import digits, make_dataset

    (x_train, y_train), _ = digits()
    train = make_dataset((x_train, y_train), batch_size=64)
    encoder = keras_ssl.backbones.small_cnn((8, 8, 1), preset="narrow")
    model = keras_ssl.uncertainty.SoftmaxClassifier(encoder, num_classes=10)
    model.compile(optimizer="adam")
    model.fit(train, epochs=1)
    ```
    """
    batch_size = check_integer(batch_size, 1, "batch_size")
    if isinstance(inputs, list):
        inputs = tuple(inputs)
    arrays = tf.nest.flatten(inputs)
    if not arrays:
        raise ValueError("inputs must hold at least one array; got none")
    lengths = [len(a) for a in arrays]
    if len(set(lengths)) != 1:
        raise ValueError(
            "inputs arrays must all have the same length; "
            f"got lengths {lengths}"
        )
    if lengths[0] == 0:
        raise ValueError("inputs arrays must not be empty; got length 0")
    dataset = tf.data.Dataset.from_tensor_slices(inputs)
    if shuffle:
        dataset = dataset.shuffle(
            lengths[0], seed=seed, reshuffle_each_iteration=True
        )
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    if map_fn is not None:
        dataset = dataset.map(map_fn, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)
