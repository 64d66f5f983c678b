"""The zipped labeled + unlabeled stream that semi-supervised fit() eats."""

import math

import tensorflow as tf

from keras_ssl.core._checks import check_integer
from keras_ssl.data.check_semi_supervised_split import (
    check_semi_supervised_split,
)

_LABELED, _UNLABELED, _AUGMENT = 0, 1, 2


def semi_supervised_dataset(
    split,
    labeled_batch,
    unlabeled_batch,
    seed=0,
    augment=None,
    views=1,
    labeled_views=None,
    initial_epoch=0,
    epochs=1,
    num_classes=None,
    drop_remainder=False,
):
    """Zips a labeled and an unlabeled stream, each with its own batch size.

    Elements are dicts `{"labeled": (x, y), "unlabeled": x_u}`, the input
    every semi-supervised method of keras_ssl takes in `train_step`.

    - **Epochs.** An epoch is one pass over the unlabeled data:
      `steps_per_epoch = ceil(num_unlabeled / unlabeled_batch)` steps, the
      last unlabeled batch possibly smaller; with `drop_remainder=True`,
      `num_unlabeled // unlabeled_batch` full batches, the rest of that
      epoch's order left out (as PyTorch's `drop_last`; a different rest
      each epoch). The dataset holds epochs
      `initial_epoch .. epochs - 1` back to back; give `fit` the same
      `epochs`, `initial_epoch` and `steps_per_epoch`.
    - **Labeled stream.** One endless stream of random permutations of the
      labeled set (permutation `p` shuffled with a key of `(seed, p)`),
      cut into full batches of `labeled_batch`, so a few labels can fill a
      larger batch by cycling through them. Step `s` of the whole run
      always reads positions `s * labeled_batch ...` of that stream.
    - **Unlabeled stream.** Epoch `e` is the unlabeled set in an order
      shuffled with a key of `(seed, e)`.
    - **Views.** Each stream carries `views` (labeled: `labeled_views`)
      copies of its inputs, view `v` made by `augment(x, seed_v)` with a
      stateless seed of `(seed, global step, stream, v)`. One view is a
      tensor, several are a tuple of tensors. View 0 does not depend on
      the number of views, so a 1-view control sees exactly the first
      view of a 2-view method.

    Everything is stateless: the batches of epoch `e` depend only on
    `seed` and `e`, so a run resumed at epoch `e` (build the dataset with
    `initial_epoch=e`) sees exactly the batches, orders and augmentations
    of an uninterrupted run.

    Args:
        split: a dict with `"labeled": (x_l, y_l)` and `"unlabeled": x_u`,
            as returned by `semi_supervised_split` (other keys are
            ignored).
        labeled_batch: labeled examples per step (`>= 1`).
        unlabeled_batch: unlabeled examples per step (`>= 1`).
        seed: the run seed (orders and augmentations).
        augment: optional `augment(x, seed) -> x`, called on one batch of
            one stream for each view, with a shape-`(2,)` stateless seed
            (use `keras_ssl.augment`). `None`: every view is the input.
        views: copies of each unlabeled input per step (`>= 1`).
        labeled_views: copies of each labeled input (default: `views`).
        initial_epoch: first epoch in the dataset (a resumed run's).
        epochs: one past the last epoch, as `fit(epochs=)`.
        num_classes: if given, every class in `[0, num_classes)` must have
            labeled samples (`check_semi_supervised_split`).
        drop_remainder: if True, every unlabeled batch is full: an epoch
            leaves out the last `num_unlabeled % unlabeled_batch` samples
            of its order (default False: a smaller last batch).

    Returns:
        `(dataset, steps_per_epoch)`: a finite, prefetched
        `tf.data.Dataset` of `(epochs - initial_epoch) * steps_per_epoch`
        dicts, and the steps per epoch.

    Raises:
        ValueError: for a bad split (see `check_semi_supervised_split`), a
            batch size or view count below 1, `epochs <= initial_epoch`,
            a non-bool `drop_remainder`, or fewer unlabeled samples than
            `unlabeled_batch` with `drop_remainder=True`.

    Example:

    ```python
    from keras_ssl import augment
    from keras_ssl.data import (
        digits, semi_supervised_dataset, semi_supervised_split,
    )

    (x_train, y_train), _ = digits()
    split = semi_supervised_split(x_train, y_train, labels_per_class=5)
    dataset, steps = semi_supervised_dataset(
        split, labeled_batch=50, unlabeled_batch=128, views=2,
        augment=lambda x, seed: augment.random_shift(x, 1, seed),
        epochs=3,
    )
    batch = next(iter(dataset))  # what a semi-supervised method's fit gets
    (x_1, x_2), y = batch["labeled"]  # two shifted views of 50 labels
    u_1, u_2 = batch["unlabeled"]  # two views of 128 unlabeled images
    steps  # ceil(1207 / 128) = 10
    ```
    """
    x_l, y_l, x_u = check_semi_supervised_split(split, num_classes)
    labeled_batch = check_integer(labeled_batch, 1, "labeled_batch")
    unlabeled_batch = check_integer(unlabeled_batch, 1, "unlabeled_batch")
    views = check_integer(views, 1, "views")
    labeled_views = check_integer(
        views if labeled_views is None else labeled_views, 1, "labeled_views"
    )
    initial_epoch = check_integer(initial_epoch, 0, "initial_epoch")
    epochs = check_integer(epochs, initial_epoch + 1, "epochs")
    if augment is not None and not callable(augment):
        raise ValueError(f"augment must be callable or None; got {augment!r}")

    if not isinstance(drop_remainder, bool):
        raise ValueError(
            f"drop_remainder must be True or False; got {drop_remainder!r}"
        )
    n_l, n_u = len(x_l), len(x_u)
    if drop_remainder and n_u < unlabeled_batch:
        raise ValueError(
            f"drop_remainder=True needs at least unlabeled_batch="
            f"{unlabeled_batch} unlabeled samples; the split has {n_u}"
        )
    if drop_remainder:
        steps = n_u // unlabeled_batch
    else:
        steps = math.ceil(n_u / unlabeled_batch)
    per_epoch = steps * labeled_batch  # labeled positions per epoch
    root = tf.constant([int(seed), 0], tf.int64)
    labeled_root = _fold(root, _LABELED)
    unlabeled_root = _fold(root, _UNLABELED)
    augment_root = _fold(root, _AUGMENT)
    x_l, y_l, x_u = tf.constant(x_l), tf.constant(y_l), tf.constant(x_u)

    def labeled_permutation(p):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(n_l, dtype=tf.int64), _fold(labeled_root, p)
        )
        return tf.data.Dataset.from_tensor_slices(order)

    def epoch_indices(epoch):
        start = epoch * per_epoch
        first = start // n_l
        last = (start + per_epoch - 1) // n_l
        labeled = (
            tf.data.Dataset.range(first, last + 1)
            .flat_map(labeled_permutation)
            .skip(start - first * n_l)
            .take(per_epoch)
            .batch(labeled_batch, drop_remainder=True)
        )
        unlabeled = tf.data.Dataset.from_tensor_slices(
            tf.random.experimental.stateless_shuffle(
                tf.range(n_u, dtype=tf.int64), _fold(unlabeled_root, epoch)
            )
        ).batch(unlabeled_batch, drop_remainder=drop_remainder)
        return (
            tf.data.Dataset.zip(labeled, unlabeled)
            .enumerate()
            .map(lambda step, ids: (epoch * steps + step, ids[0], ids[1]))
        )

    def make_views(x, key, stream, count):
        if augment is None:
            copies = [x] * count
        else:
            stream_key = _fold(key, stream)
            copies = [augment(x, _fold(stream_key, v)) for v in range(count)]
        return copies[0] if count == 1 else tuple(copies)

    def gather(step, labeled_ids, unlabeled_ids):
        key = _fold(augment_root, step)
        x = tf.gather(x_l, labeled_ids)
        u = tf.gather(x_u, unlabeled_ids)
        return {
            "labeled": (
                make_views(x, key, _LABELED, labeled_views),
                tf.gather(y_l, labeled_ids),
            ),
            "unlabeled": make_views(u, key, _UNLABELED, views),
        }

    dataset = (
        tf.data.Dataset.range(initial_epoch, epochs)
        .flat_map(epoch_indices)
        .map(gather, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
    return dataset, steps


def _fold(key, data):
    """A new stateless seed from `key` and an integer (`stateless_fold_in`)."""
    return tf.random.experimental.stateless_fold_in(key, data)
