"""The zipped labeled + unlabeled stream that semi-supervised fit() eats."""

import tensorflow as tf

from keras_ssl.core._checks import check_integer


def semi_supervised_dataset(
    split, labeled_batch, unlabeled_batch, seed=0, map_fn=None
):
    """Zips a labeled and an unlabeled stream, each with its own batch size.

    Elements are dicts `{"labeled": (x, y), "unlabeled": x_u}`, the input
    every semi-supervised method of keras_ssl takes in `train_step`.

    - The labeled stream is shuffled, repeated forever and batched with
      `labeled_batch` (full batches only, so a few labels can fill a
      larger batch by cycling through them).
    - The unlabeled stream is shuffled (a new order every epoch) and
      batched with `unlabeled_batch`; it sets the epoch length:
      `ceil(num_unlabeled / unlabeled_batch)` steps, the last unlabeled
      batch possibly smaller.

    Args:
        split: a dict with `"labeled": (x_l, y_l)` and `"unlabeled": x_u`,
            as returned by `semi_supervised_split` (other keys are
            ignored).
        labeled_batch: labeled examples per step (`>= 1`).
        unlabeled_batch: unlabeled examples per step (`>= 1`).
        seed: shuffle seed (the two streams use `seed` and `seed + 1`).
        map_fn: optional function applied to every zipped batch (the dict),
            for example to make augmented views; run with
            `tf.data.AUTOTUNE`.

    Returns:
        A finite, prefetched `tf.data.Dataset` of dicts.

    Raises:
        ValueError: if `split` lacks a key, a part is empty, or a batch
            size is below 1.

    Example:

    ```python
    from keras_ssl.data import (
        digits, semi_supervised_dataset, semi_supervised_split,
    )

    (x_train, y_train), _ = digits()
    split = semi_supervised_split(x_train, y_train, labels_per_class=10)
    dataset = semi_supervised_dataset(
        split, labeled_batch=32, unlabeled_batch=64
    )
    batch = next(iter(dataset))  # what a semi-supervised method's fit gets
    batch["labeled"][0].shape, batch["unlabeled"].shape
    # (TensorShape([32, 8, 8, 1]), TensorShape([64, 8, 8, 1]))
    ```
    """
    labeled_batch = check_integer(labeled_batch, 1, "labeled_batch")
    unlabeled_batch = check_integer(unlabeled_batch, 1, "unlabeled_batch")
    for key in ("labeled", "unlabeled"):
        if key not in split:
            raise ValueError(
                f'split must have the keys "labeled" and "unlabeled"; '
                f"got {sorted(split)}"
            )
    x_l, y_l = split["labeled"]
    x_u = split["unlabeled"]
    if len(x_l) == 0 or len(x_l) != len(y_l):
        raise ValueError(
            'split["labeled"] must be (x, y) of the same non-zero length; '
            f"got {len(x_l)} and {len(y_l)}"
        )
    if len(x_u) == 0:
        raise ValueError('split["unlabeled"] must not be empty')

    labeled = (
        tf.data.Dataset.from_tensor_slices((x_l, y_l))
        .shuffle(len(x_l), seed=seed, reshuffle_each_iteration=True)
        .repeat()
        .batch(labeled_batch, drop_remainder=True)
    )
    unlabeled = (
        tf.data.Dataset.from_tensor_slices(x_u)
        .shuffle(len(x_u), seed=seed + 1, reshuffle_each_iteration=True)
        .batch(unlabeled_batch)
    )
    dataset = tf.data.Dataset.zip({"labeled": labeled, "unlabeled": unlabeled})
    if map_fn is not None:
        dataset = dataset.map(map_fn, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)
