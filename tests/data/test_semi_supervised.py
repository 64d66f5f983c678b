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


def _elements(dataset):
    return list(dataset.as_numpy_iterator())


def test_dataset_streams_and_epoch_length():
    x, y = _toy(per_class=(30, 30, 30))
    split = semi_supervised_split(x, y, labels_per_class=3)  # 9 / 81
    dataset, steps = semi_supervised_dataset(
        split, labeled_batch=4, unlabeled_batch=16, epochs=2
    )
    spec = dataset.element_spec
    assert spec["labeled"][0] == tf.TensorSpec((4, 2), tf.float32)
    assert spec["labeled"][1] == tf.TensorSpec((4,), tf.int32)
    assert spec["unlabeled"] == tf.TensorSpec((None, 2), tf.float32)
    assert steps == 6  # ceil(81 / 16): an epoch is one unlabeled pass
    batches = _elements(dataset)
    assert len(batches) == 2 * steps
    for epoch in range(2):
        part = batches[epoch * steps : (epoch + 1) * steps]
        unlabeled = np.concatenate([b["unlabeled"][:, 0] for b in part])
        np.testing.assert_array_equal(
            np.sort(unlabeled), np.sort(split["unlabeled"][:, 0])
        )
    # The two epochs come in different orders.
    first, second = (
        np.concatenate([b["unlabeled"][:, 0] for b in batches[i : i + steps]])
        for i in (0, steps)
    )
    assert not np.array_equal(first, second)
    # The labeled stream is one run of permutations of the 9 labels
    # across epochs: 48 positions = 5 full permutations and 3 more.
    labeled = np.concatenate([b["labeled"][0][:, 0] for b in batches])
    labels = np.concatenate([b["labeled"][1] for b in batches])
    np.testing.assert_array_equal(y[labeled.astype(int)], labels)
    for p in range(5):
        np.testing.assert_array_equal(
            np.sort(labeled[9 * p : 9 * (p + 1)]),
            np.sort(split["labeled"][0][:, 0]),
        )
    assert len(set(labeled[45:])) == 3


def test_dataset_drop_remainder_gives_full_unlabeled_batches():
    x, y = _toy(per_class=(30, 30, 30))
    split = semi_supervised_split(x, y, labels_per_class=3)  # 9 / 81
    options = {"labeled_batch": 4, "unlabeled_batch": 16, "epochs": 3}
    dataset, steps = semi_supervised_dataset(
        split, drop_remainder=True, **options
    )
    assert steps == 5  # 81 // 16: the last sample of each order is left out
    spec = dataset.element_spec
    assert spec["unlabeled"] == tf.TensorSpec((16, 2), tf.float32)
    batches = _elements(dataset)
    assert len(batches) == 3 * steps
    kept = _elements(
        semi_supervised_dataset(split, **options)[0]
    )  # the same orders, with the short batch
    pool = set(split["unlabeled"][:, 0])
    left_out = set()
    for epoch in range(3):
        part = batches[epoch * steps : (epoch + 1) * steps]
        unlabeled = np.concatenate([b["unlabeled"][:, 0] for b in part])
        assert len(set(unlabeled)) == 80 and set(unlabeled) <= pool
        full = np.concatenate(
            [b["unlabeled"][:, 0] for b in kept[epoch * 6 : (epoch + 1) * 6]]
        )
        np.testing.assert_array_equal(unlabeled, full[:80])
        left_out |= pool - set(unlabeled)
    assert len(left_out) > 1  # another sample left out in another epoch
    # Step s still reads positions s * labeled_batch of the labeled
    # stream: the first epoch's labeled batches are the same.
    for a, b in zip(batches[:steps], kept[:steps], strict=True):
        np.testing.assert_array_equal(a["labeled"][1], b["labeled"][1])


def test_dataset_resumes_at_an_epoch_with_the_same_batches():
    x, y = _toy(per_class=(30, 30, 30))
    split = semi_supervised_split(x, y, labels_per_class=3)

    def noisy(images, seed):
        return images + tf.random.stateless_normal(tf.shape(images), seed)

    options = dict(
        labeled_batch=4, unlabeled_batch=16, seed=5, augment=noisy, views=2
    )
    full, steps = semi_supervised_dataset(split, epochs=3, **options)
    resumed, _ = semi_supervised_dataset(
        split, initial_epoch=2, epochs=3, **options
    )
    full, resumed = _elements(full), _elements(resumed)
    assert len(resumed) == steps
    for a, b in zip(full[2 * steps :], resumed, strict=True):
        for view in range(2):
            np.testing.assert_array_equal(
                a["labeled"][0][view], b["labeled"][0][view]
            )
            np.testing.assert_array_equal(
                a["unlabeled"][view], b["unlabeled"][view]
            )
        np.testing.assert_array_equal(a["labeled"][1], b["labeled"][1])
    # Views differ from each other, and view 0 does not depend on the
    # number of views (a 1-view control sees the first view).
    first = full[0]
    assert not np.allclose(first["unlabeled"][0], first["unlabeled"][1])
    single, _ = semi_supervised_dataset(
        split, epochs=3, **{**options, "views": 1}
    )
    single = _elements(single)
    np.testing.assert_array_equal(
        single[4]["unlabeled"], full[4]["unlabeled"][0]
    )
    np.testing.assert_array_equal(
        single[4]["labeled"][0], full[4]["labeled"][0][0]
    )
    # Another seed gives other batches.
    other, _ = semi_supervised_dataset(
        split, epochs=1, **{**options, "seed": 6}
    )
    assert not np.array_equal(
        _elements(other)[0]["labeled"][1], full[0]["labeled"][1]
    )


def test_dataset_views_per_stream():
    x, y = _toy(per_class=(10, 10))
    split = semi_supervised_split(x, y, labels_per_class=2)
    dataset, _ = semi_supervised_dataset(
        split,
        labeled_batch=2,
        unlabeled_batch=4,
        augment=lambda images, seed: images + 1.0,
        views=3,
        labeled_views=1,
    )
    element = next(iter(dataset.as_numpy_iterator()))
    x_l, y_l = element["labeled"]
    assert isinstance(x_l, np.ndarray) and len(element["unlabeled"]) == 3
    # Every view went through `augment`; the labels stay with their rows.
    np.testing.assert_array_equal(y[(x_l[:, 0] - 1).astype(int)], y_l)
    rows = set(split["unlabeled"][:, 0])
    for view in element["unlabeled"]:
        assert set(view[:, 0] - 1) <= rows


def test_dataset_errors():
    x, y = _toy(per_class=(10, 10))
    split = semi_supervised_split(x, y, labels_per_class=2)
    with pytest.raises(ValueError, match="labeled_batch"):
        semi_supervised_dataset(split, 0, 4)
    with pytest.raises(ValueError, match="unlabeled_batch"):
        semi_supervised_dataset(split, 2, 0)
    with pytest.raises(ValueError, match="views"):
        semi_supervised_dataset(split, 2, 4, views=0)
    with pytest.raises(ValueError, match="epochs"):
        semi_supervised_dataset(split, 2, 4, initial_epoch=3, epochs=3)
    with pytest.raises(ValueError, match="drop_remainder must be True or"):
        semi_supervised_dataset(split, 2, 4, drop_remainder=1)
    with pytest.raises(ValueError, match=r"unlabeled_batch=32 .* has 16"):
        semi_supervised_dataset(split, 2, 32, drop_remainder=True)
    with pytest.raises(ValueError, match="keys"):
        semi_supervised_dataset({"labeled": split["labeled"]}, 2, 4)
    # A labeled stream with no samples of a class.
    x_l, y_l = split["labeled"]
    one_class = {"labeled": (x_l, np.zeros_like(y_l)), "unlabeled": x}
    with pytest.raises(ValueError, match=r"no labeled samples of .*\[1\]"):
        semi_supervised_dataset(one_class, 2, 4, num_classes=2)
    # Unlabeled inputs of another shape than the labeled ones.
    wide = {"labeled": split["labeled"], "unlabeled": np.zeros((5, 3))}
    with pytest.raises(ValueError, match=r"labeled shape \(2,\)"):
        semi_supervised_dataset(wide, 2, 4)
    shifted = {"labeled": (x_l, y_l + 1), "unlabeled": x}
    with pytest.raises(ValueError, match=r"class ids in \[0, 2\); got \[2\]"):
        semi_supervised_dataset(shifted, 2, 4, num_classes=2)
