import numpy as np
import pytest
import tensorflow as tf

from keras_ssl.data import digits
from keras_ssl.data import semi_supervised_dataset
from keras_ssl.data import semi_supervised_split


def _toy(per_class=(30, 30, 30, 30, 30), dim=2):
    """Rows whose first value is their row number (to track them)."""
    y = np.concatenate([[c] * n for c, n in enumerate(per_class)])
    x = np.repeat(np.arange(len(y), dtype="float32")[:, None], dim, axis=1)
    return x, y


def test_standard_split_counts_disjoint_and_labels():
    x, y = _toy()
    split = semi_supervised_split(x, y, labels_per_class=4, seed=0)
    x_l, y_l = split["labeled"]
    x_u = split["unlabeled"]
    assert np.bincount(y_l).tolist() == [4] * 5 and y_l.dtype == np.int32
    np.testing.assert_array_equal(y[x_l[:, 0].astype(int)], y_l)
    assert len(x_u) == 150 - 20
    rows = np.concatenate([x_l[:, 0], x_u[:, 0]]).astype(int)
    np.testing.assert_array_equal(np.sort(rows), np.arange(150))
    np.testing.assert_array_equal(
        split["unlabeled_labels"], y[x_u[:, 0].astype(int)]
    )
    assert not split["unlabeled_is_unseen"].any()


def test_split_is_deterministic_and_seed_dependent():
    x, y = _toy()
    a = semi_supervised_split(x, y, 3, seed=1)
    b = semi_supervised_split(x, y, 3, seed=1)
    c = semi_supervised_split(x, y, 3, seed=2)
    np.testing.assert_array_equal(a["labeled"][0], b["labeled"][0])
    np.testing.assert_array_equal(a["unlabeled"], b["unlabeled"])
    assert set(a["labeled"][0][:, 0]) != set(c["labeled"][0][:, 0])


@pytest.mark.parametrize("ratio", [0.0, 0.25, 0.5, 0.75, 1.0])
def test_ds3l_mismatch_on_digits(ratio):
    (x, y), _ = digits()
    split = semi_supervised_split(
        x,
        y,
        labels_per_class=5,
        labeled_classes=[0, 1, 2, 3, 4, 5],
        mismatch_ratio=ratio,
        num_unlabeled=400,
        seed=0,
    )
    x_l, y_l = split["labeled"]
    assert np.bincount(y_l).tolist() == [5] * 6
    unseen = split["unlabeled_is_unseen"]
    assert len(split["unlabeled"]) == 400
    assert unseen.sum() == round(400 * ratio)
    labels = split["unlabeled_labels"]
    assert np.all((labels == -1) == unseen)
    # Seen part split equally over 0-5, unseen part over 6-9 (DS3L code).
    seen_counts = np.bincount(labels[~unseen], minlength=6)
    if (~unseen).any():
        assert seen_counts.max() - seen_counts.min() <= 1
    # Recover the true class of each unseen image by matching pixels.
    lookup = {img.tobytes(): label for img, label in zip(x, y, strict=True)}
    true = np.array([lookup[img.tobytes()] for img in split["unlabeled"]])
    assert np.all(true[unseen] >= 6) and np.all(true[~unseen] <= 5)
    if unseen.any():
        unseen_counts = np.bincount(true[unseen] - 6, minlength=4)
        assert unseen_counts.max() - unseen_counts.min() <= 1
    # No labeled image is also unlabeled.
    labeled_keys = {img.tobytes() for img in x_l}
    assert not labeled_keys & {img.tobytes() for img in split["unlabeled"]}


def test_labeled_classes_are_remapped_in_given_order():
    x, y = _toy()
    split = semi_supervised_split(x, y, 2, labeled_classes=[3, 1])
    x_l, y_l = split["labeled"]
    np.testing.assert_array_equal(
        np.where(y_l == 0, 3, 1), y[x_l[:, 0].astype(int)]
    )
    np.testing.assert_array_equal(split["classes"], [3, 1])
    # Standard split: unlabeled data only from the labeled classes.
    u_classes = y[split["unlabeled"][:, 0].astype(int)]
    assert set(u_classes) == {1, 3} and len(u_classes) == 56


def test_default_size_is_the_largest_balanced_draw():
    x, y = _toy(per_class=(30, 30, 12, 8))
    split = semi_supervised_split(
        x, y, 5, labeled_classes=[0, 1], mismatch_ratio=0.5
    )
    # 25 seen rows per class -> at most 50 seen; unseen classes give 8 each
    # -> at most 16 unseen; at ratio 0.5 that is 32 in all.
    assert len(split["unlabeled"]) == 32
    assert split["unlabeled_is_unseen"].sum() == 16


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"labels_per_class": 31}, "larger than class"),
        ({"labels_per_class": 0}, "labels_per_class"),
        ({"labels_per_class": 2, "mismatch_ratio": 1.5}, "mismatch_ratio"),
        ({"labels_per_class": 2, "mismatch_ratio": -0.1}, "mismatch_ratio"),
        ({"labels_per_class": 2, "mismatch_ratio": 0.5}, "unseen classes"),
        ({"labels_per_class": 2, "labeled_classes": [9]}, "do not occur"),
        (
            {
                "labels_per_class": 2,
                "labeled_classes": [0, 1],
                "mismatch_ratio": 0.5,
                "num_unlabeled": 1000,
            },
            "num_unlabeled",
        ),
    ],
)
def test_split_errors(kwargs, match):
    x, y = _toy()
    with pytest.raises(ValueError, match=match):
        semi_supervised_split(x, y, **kwargs)


def test_dataset_streams_and_epoch_length():
    x, y = _toy(per_class=(30, 30, 30))
    split = semi_supervised_split(x, y, labels_per_class=3)  # 9 / 81
    dataset = semi_supervised_dataset(
        split, labeled_batch=4, unlabeled_batch=16
    )
    spec = dataset.element_spec
    assert spec["labeled"][0] == tf.TensorSpec((4, 2), tf.float32)
    assert spec["labeled"][1] == tf.TensorSpec((4,), tf.int32)
    assert spec["unlabeled"] == tf.TensorSpec((None, 2), tf.float32)
    assert int(dataset.cardinality()) == 6  # ceil(81 / 16)
    batches = list(dataset.as_numpy_iterator())
    assert len(batches) == 6
    unlabeled = np.concatenate([b["unlabeled"][:, 0] for b in batches])
    np.testing.assert_array_equal(
        np.sort(unlabeled), np.sort(split["unlabeled"][:, 0])
    )
    labeled = np.concatenate([b["labeled"][0][:, 0] for b in batches])
    labels = np.concatenate([b["labeled"][1] for b in batches])
    # 24 labeled rows cycle through all 9 labels, labels stay with rows.
    assert set(labeled) == set(split["labeled"][0][:, 0])
    np.testing.assert_array_equal(y[labeled.astype(int)], labels)
    # A new epoch reshuffles the unlabeled stream.
    again = np.concatenate([b["unlabeled"][:, 0] for b in dataset])
    assert not np.array_equal(again, unlabeled)


def test_dataset_map_fn_and_errors():
    x, y = _toy(per_class=(10, 10))
    split = semi_supervised_split(x, y, labels_per_class=2)
    dataset = semi_supervised_dataset(
        split,
        labeled_batch=2,
        unlabeled_batch=4,
        map_fn=lambda batch: {
            "labeled": batch["labeled"],
            "unlabeled": (batch["unlabeled"], batch["unlabeled"] + 1.0),
        },
    )
    element = next(iter(dataset))
    np.testing.assert_array_equal(
        element["unlabeled"][1].numpy(), element["unlabeled"][0].numpy() + 1
    )
    with pytest.raises(ValueError, match="labeled_batch"):
        semi_supervised_dataset(split, 0, 4)
    with pytest.raises(ValueError, match="unlabeled_batch"):
        semi_supervised_dataset(split, 2, 0)
    with pytest.raises(ValueError, match="keys"):
        semi_supervised_dataset({"labeled": split["labeled"]}, 2, 4)
