"""Labeled / unlabeled splits, with optional class mismatch (DS3L)."""

import numpy as np

from keras_ssl.core._checks import check_integer
from keras_ssl.core._checks import check_number
from keras_ssl.core._checks import check_xy


def semi_supervised_split(
    x,
    y,
    labels_per_class,
    seed=0,
    labeled_classes=None,
    mismatch_ratio=0.0,
    num_unlabeled=None,
):
    """Splits a labeled set into a few labels and an unlabeled pool.

    Labeled part: `labels_per_class` random examples of every class in
    `labeled_classes` (default: all classes of `y`). Their labels are
    remapped to `0..k-1` in the order of `labeled_classes`.

    Unlabeled part, two cases:

    - `mismatch_ratio == 0` and `num_unlabeled is None` (standard SSL):
      every remaining example of the labeled classes.
    - otherwise (class mismatch, DS3L / Oliver et al. 2018): `num_unlabeled`
      examples (default: as many as the class sizes allow), of which
      `mismatch_ratio * num_unlabeled` (rounded, halves up) come from the
      "unseen" classes (the classes of `y` not in `labeled_classes`) and
      the rest from the remaining examples of the labeled ("seen")
      classes. As in the official DS3L code, each part is split as
      equally as possible over its classes (leftover examples go to
      randomly chosen classes), so every unseen class contributes the
      same amount.

    Examples never appear twice: the labeled and unlabeled parts are
    disjoint. Both parts are returned in random order. Everything depends
    only on `seed`.

    Args:
        x: array of inputs, first axis the examples.
        y: integer labels, shape `(len(x),)`.
        labels_per_class: number of labeled examples per labeled class.
        seed: random seed.
        labeled_classes: classes that get labels (the "seen" classes),
            default all classes of `y`, sorted.
        mismatch_ratio: fraction of the unlabeled examples drawn from the
            unseen classes, in `[0, 1]`. Needs `labeled_classes` to leave
            at least one class out when positive.
        num_unlabeled: number of unlabeled examples (default: all
            remaining ones when `mismatch_ratio == 0`, else the largest
            number the class sizes allow at this ratio).

    Returns:
        A dict with
        `"labeled"`: `(x_l, y_l)` with int32 labels in `0..k-1`;
        `"unlabeled"`: `x_u`;
        `"unlabeled_labels"`: int32 labels of `x_u` in the same `0..k-1`
        numbering, `-1` for unseen classes (for evaluation only, never for
        training);
        `"unlabeled_is_unseen"`: bool mask, True where `x_u` comes from an
        unseen class;
        `"classes"`: the original class values, position `j` is label `j`.

    Raises:
        ValueError: if `labels_per_class` is below 1 or above what a class
            holds, `mismatch_ratio` is outside `[0, 1]` (or positive with no
            unseen class), `labeled_classes` names a missing class, or
            `num_unlabeled` is more than the classes can provide.

    Example:

    ```python
    from keras_ssl.data import digits, semi_supervised_split

    (x_train, y_train), _ = digits()
    # DS3L on digits: 0-5 seen, half of 400 unlabeled images from 6-9.
    split = semi_supervised_split(
        x_train, y_train, labels_per_class=5,
        labeled_classes=[0, 1, 2, 3, 4, 5],
        mismatch_ratio=0.5, num_unlabeled=400,
    )
    x_l, y_l = split["labeled"]  # 30 images
    x_u = split["unlabeled"]  # 400 images, 200 of them from 6-9
    ```

    Reference:
        Guo et al., "Safe Deep Semi-Supervised Learning for Unseen-Class
        Unlabeled Data" (ICML 2020), official code `guolz-ml/DS3L`
        (`load_dataset.split_l_u`); Oliver et al., "Realistic Evaluation
        of Deep Semi-Supervised Learning Algorithms" (NeurIPS 2018).
    """
    x, y = check_xy(x, y)
    all_classes = np.unique(y).tolist()
    if labeled_classes is None:
        seen = list(all_classes)
    else:
        seen = [int(c) for c in labeled_classes]
        if not seen or len(set(seen)) != len(seen):
            raise ValueError(
                "labeled_classes must be a non-empty list without repeats; "
                f"got {labeled_classes!r}"
            )
        missing = sorted(set(seen) - set(all_classes))
        if missing:
            raise ValueError(
                f"labeled_classes {missing} do not occur in y; y has "
                f"classes {all_classes}"
            )
    unseen = [c for c in all_classes if c not in seen]
    mismatch_ratio = check_number(mismatch_ratio, "mismatch_ratio", "in [0, 1]")
    if mismatch_ratio > 0 and not unseen:
        raise ValueError(
            f"mismatch_ratio={mismatch_ratio} needs unseen classes, but "
            f"labeled_classes covers every class of y ({all_classes}); "
            "pass labeled_classes with fewer classes"
        )
    labels_per_class = check_integer(labels_per_class, 1, "labels_per_class")
    if num_unlabeled is not None:
        num_unlabeled = check_integer(num_unlabeled, 0, "num_unlabeled")

    rng = np.random.default_rng(seed)
    # Each class's rows in a random order: the first labels_per_class of a
    # seen class are labeled, later rows feed the unlabeled pool.
    rows = {c: rng.permutation(np.flatnonzero(y == c)) for c in all_classes}
    for c in seen:
        if len(rows[c]) < labels_per_class:
            raise ValueError(
                f"labels_per_class={labels_per_class} is larger than class "
                f"{c}, which has {len(rows[c])} examples"
            )
    labeled = np.concatenate([rows[c][:labels_per_class] for c in seen])
    seen_pool = {c: rows[c][labels_per_class:] for c in seen}
    unseen_pool = {c: rows[c] for c in unseen}

    if mismatch_ratio == 0 and num_unlabeled is None:
        unlabeled = np.concatenate(list(seen_pool.values()))
    else:
        if num_unlabeled is None:
            num_unlabeled = _largest_size(
                seen_pool, unseen_pool, mismatch_ratio
            )
        num_unseen = _num_unseen(num_unlabeled, mismatch_ratio)
        unlabeled = np.concatenate(
            [
                _draw_equally(seen_pool, num_unlabeled - num_unseen, rng),
                _draw_equally(unseen_pool, num_unseen, rng),
            ]
        )
    labeled = rng.permutation(labeled)
    unlabeled = rng.permutation(unlabeled).astype("int64")

    new_label = {c: i for i, c in enumerate(seen)}
    y_l = np.array([new_label[c] for c in y[labeled].tolist()], dtype="int32")
    y_u = np.array(
        [new_label.get(c, -1) for c in y[unlabeled].tolist()], dtype="int32"
    )
    return {
        "labeled": (x[labeled], y_l),
        "unlabeled": x[unlabeled],
        "unlabeled_labels": y_u,
        "unlabeled_is_unseen": y_u == -1,
        "classes": np.asarray(seen),
    }


def _num_unseen(total, mismatch_ratio):
    """`mismatch_ratio * total` rounded half up (not to even)."""
    return int(np.floor(mismatch_ratio * total + 0.5))


def _shares(total, num_classes):
    """Per-class counts of `total` split as equally as possible (sorted)."""
    base, extra = divmod(total, num_classes)
    return [base + 1] * extra + [base] * (num_classes - extra)


def _draw_equally(pool, total, rng):
    """Takes `total` rows from `pool`, as equally as possible per class."""
    if total == 0:
        return np.zeros((0,), dtype="int64")
    classes = list(pool)
    # The classes that get one extra row are chosen at random.
    shuffled = [classes[i] for i in rng.permutation(len(classes))]
    shares = _shares(total, len(classes))
    counts = dict(zip(shuffled, shares, strict=True))
    short = {c: len(pool[c]) for c in classes if len(pool[c]) < counts[c]}
    if short:
        raise ValueError(
            f"cannot draw {total} unlabeled examples equally from classes "
            f"{classes}: classes {short} (class: examples left) have fewer "
            f"than {max(counts.values())}; lower num_unlabeled"
        )
    return np.concatenate([pool[c][: counts[c]] for c in classes])


def _largest_size(seen_pool, unseen_pool, mismatch_ratio):
    """Largest `num_unlabeled` that `_draw_equally` can serve."""

    def fits(total):
        num_unseen = _num_unseen(total, mismatch_ratio)
        for pool, count in (
            (seen_pool, total - num_unseen),
            (unseen_pool, num_unseen),
        ):
            if count and (
                not pool
                or -(-count // len(pool)) > min(len(r) for r in pool.values())
            ):
                return False
        return True

    low, high = 0, sum(len(r) for r in seen_pool.values())
    high += sum(len(r) for r in unseen_pool.values())
    while low < high:  # fits() is monotone in total: binary search.
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(middle) else (low, middle - 1)
    return low
