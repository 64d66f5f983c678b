"""In-distribution / out-of-distribution split by class."""

import numpy as np

from keras_ssl.core._checks import check_xy


def held_out_classes(x, y, in_classes):
    """Splits a labeled set into kept classes and held-out classes.

    The "held-out classes" out-of-distribution protocol: a model is
    trained on `in_classes` only, and the images of every other class are
    the out-of-distribution set (for example digits 0-4 in, 5-9 out).

    Args:
        x: array of inputs, first axis the examples.
        y: integer labels, shape `(len(x),)`.
        in_classes: the classes to keep. Their labels are remapped to
            `0..len(in_classes) - 1` in the order given.

    Returns:
        `((x_in, y_in), x_out)`: the in-distribution inputs with int32
        labels remapped to `0..k-1`, and the inputs of all other classes.
        Rows keep their original order.

    Raises:
        ValueError: if `x` and `y` differ in length, `in_classes` is empty,
            repeats a class or names a class absent from `y`.

    Example:

    ```python
    from keras_ssl.data import digits, held_out_classes

    _, (x_test, y_test) = digits()
    (x_in, y_in), x_out = held_out_classes(x_test, y_test, [0, 1, 2, 3, 4])
    ```
    """
    x, y = check_xy(x, y)
    in_classes = [int(c) for c in in_classes]
    if not in_classes:
        raise ValueError("in_classes must name at least one class; got []")
    if len(set(in_classes)) != len(in_classes):
        raise ValueError(f"in_classes must not repeat; got {in_classes}")
    missing = sorted(set(in_classes) - set(np.unique(y).tolist()))
    if missing:
        raise ValueError(
            f"in_classes {missing} do not occur in y; y has classes "
            f"{np.unique(y).tolist()}"
        )
    is_in = np.isin(y, in_classes)
    position = {c: i for i, c in enumerate(in_classes)}
    y_in = np.array([position[int(c)] for c in y[is_in]], dtype="int32")
    return (x[is_in], y_in), x[~is_in]
