"""Validation of a labeled + unlabeled split before anything trains."""

import numpy as np

from keras_ssl.core._checks import check_integer


def check_semi_supervised_split(split, num_classes=None):
    """Checks a `{"labeled": (x_l, y_l), "unlabeled": x_u}` split.

    The one check of the semi-supervised data contract, run by
    `semi_supervised_dataset` and by the semi-supervised recipes before
    a model is built, so that bad data stop with a clear message before
    any training step (or any file of a run) is written.

    Args:
        split: a dict with `"labeled": (x_l, y_l)` and `"unlabeled": x_u`,
            as `semi_supervised_split` returns (other keys are ignored).
        num_classes: if given, the labels must be class ids in
            `[0, num_classes)` and every class must have at least one
            labeled sample.

    Returns:
        `(x_l, y_l, x_u)` as NumPy arrays, `y_l` as int32.

    Raises:
        ValueError: if a key is missing, a part is empty, `x_l` and `y_l`
            differ in length, the unlabeled inputs have another shape than
            the labeled ones, or (with `num_classes`) a label is out of
            range or a class has no labeled sample.

    Example:

    ```python
    import numpy as np
    from keras_ssl.data import check_semi_supervised_split

    split = {
        "labeled": (np.zeros((4, 8, 8, 1)), np.array([0, 1, 2, 2])),
        "unlabeled": np.zeros((10, 8, 8, 1)),
    }
    try:
        check_semi_supervised_split(split, num_classes=4)
    except ValueError as error:
        print(error)  # ... no labeled samples of class(es) [3] ...
    ```
    """
    if not isinstance(split, dict) or not {"labeled", "unlabeled"} <= set(
        split
    ):
        keys = sorted(split) if isinstance(split, dict) else type(split)
        raise ValueError(
            'split must be a dict with the keys "labeled" and "unlabeled"; '
            f"got {keys}"
        )
    labeled = split["labeled"]
    if not isinstance(labeled, tuple | list) or len(labeled) != 2:
        raise ValueError(
            'split["labeled"] must be a pair (x, y); got '
            f"{type(labeled).__name__}"
        )
    x_l, y_l = np.asarray(labeled[0]), np.asarray(labeled[1])
    x_u = np.asarray(split["unlabeled"])
    if len(x_l) == 0 or y_l.ndim != 1 or len(x_l) != len(y_l):
        raise ValueError(
            'split["labeled"] must be (x, y) with a 1-D y of the same '
            f"non-zero length as x; got x of shape {x_l.shape} and y of "
            f"shape {y_l.shape}"
        )
    if not np.issubdtype(y_l.dtype, np.integer):
        raise ValueError(
            f'split["labeled"] labels must be integer class ids; got dtype '
            f"{y_l.dtype}"
        )
    if x_u.ndim == 0 or len(x_u) == 0:
        raise ValueError('split["unlabeled"] must hold at least one input')
    if x_u.shape[1:] != x_l.shape[1:]:
        raise ValueError(
            'split["unlabeled"] must hold inputs of the labeled shape '
            f"{x_l.shape[1:]}; got {x_u.shape[1:]}"
        )
    if num_classes is not None:
        num_classes = check_integer(num_classes, 2, "num_classes")
        outside = sorted(set(np.unique(y_l).tolist()) - set(range(num_classes)))
        if outside:
            raise ValueError(
                f'split["labeled"] labels must be class ids in [0, '
                f"{num_classes}); got {outside}"
            )
        missing = sorted(set(range(num_classes)) - set(y_l.tolist()))
        if missing:
            raise ValueError(
                f'split["labeled"] has no labeled samples of class(es) '
                f"{missing}; every class in 0..{num_classes - 1} needs at "
                "least one label"
            )
    return x_l, y_l.astype("int32"), x_u
