"""Argument checks shared by keras_ssl (private).

One module for the checks of the methods, the backbones and the data
functions. Every check raises a `ValueError` that names the argument, says
what was expected and shows what was given (for example
`"width must be an integer >= 1; got 2.5"`), and returns the value in a
canonical type (`int`, `float`, `tuple`). NumPy scalars count as numbers;
bools do not. The array inputs of the evaluation functions (probability
matrices, labels, features) are validated in
`keras_ssl.evaluation._validation`.
"""

import math
import numbers

import keras
import numpy as np

_RULES = {
    "> 0": lambda v: v > 0,
    ">= 0": lambda v: v >= 0,
    "in (0, 1)": lambda v: 0 < v < 1,
    "in [0, 1)": lambda v: 0 <= v < 1,
    "in [0, 1]": lambda v: 0 <= v <= 1,
}


def is_integer(value, minimum):
    """Whether `value` is an integer >= `minimum` (bools do not count)."""
    return (
        isinstance(value, numbers.Integral)
        and not isinstance(value, bool)
        and value >= minimum
    )


def check_integer(value, minimum, name):
    """`int(value)` if it is an integer >= `minimum`; else a ValueError."""
    if not is_integer(value, minimum):
        raise ValueError(
            f"{name} must be an integer >= {minimum}; got {value!r}"
        )
    return int(value)


def check_integers(values, minimum, name):
    """A tuple of ints if `values` is a non-empty sequence of integers.

    Every entry must be an integer >= `minimum`; otherwise a ValueError
    names the argument (for example `widths`, `hidden` or `shape`).
    """
    try:
        entries = tuple(values)
    except TypeError:
        entries = ()
    if (
        isinstance(values, str)
        or not entries
        or not all(is_integer(value, minimum) for value in entries)
    ):
        raise ValueError(
            f"{name} must be a non-empty tuple of integers >= {minimum}; "
            f"got {values!r}"
        )
    return tuple(int(value) for value in entries)


def check_number(value, name, rule):
    """`float(value)` if it satisfies `rule`; else a ValueError naming it.

    `rule` is one of `"> 0"`, `">= 0"`, `"in (0, 1)"`, `"in [0, 1)"` and
    `"in [0, 1]"`. The number must also be finite.
    """
    valid = (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and _RULES[rule](value)
    )
    if not valid:
        raise ValueError(f"{name} must be a number {rule}; got {value!r}")
    return float(value)


def check_xy(x, y):
    """Returns `x`, `y` as arrays; `y` must be 1-D and as long as `x`."""
    x = np.asarray(x)
    y = np.asarray(y)
    if y.ndim != 1 or len(x) != len(y):
        raise ValueError(
            "y must be a 1-D array as long as x; got x with "
            f"{len(x)} rows and y of shape {y.shape}"
        )
    return x, y


def check_image_shape(input_shape, min_size=1, allow_none=True):
    """Checks an image shape `(height, width, channels)`.

    Args:
        input_shape: the shape to check.
        min_size: the smallest height and width the network supports.
        allow_none: whether height and width may be `None` (any size).

    Returns:
        The shape as a tuple.

    Raises:
        ValueError: if the shape is not `(height, width, channels)` with
            integers >= 1, or a side is smaller than `min_size`.
    """
    expected = "(height, width, channels)"
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
        raise ValueError(f"input_shape must be {expected}; got {input_shape!r}")
    *spatial, channels = input_shape
    for size in spatial:
        if size is None and allow_none:
            continue
        if not is_integer(size, 1):
            raise ValueError(
                f"input_shape must be {expected} with integers >= 1"
                f"{' or None sides' if allow_none else ''}; got {input_shape!r}"
            )
        if size < min_size:
            raise ValueError(
                f"input_shape height and width must be at least {min_size} "
                f"for this network; got {input_shape!r}"
            )
    if not is_integer(channels, 1):
        raise ValueError(
            "input_shape must end with an integer >= 1 of channels; "
            f"got {input_shape!r}"
        )
    return tuple(None if size is None else int(size) for size in input_shape)


def check_activation(activation, name, allow_none=False):
    """`activation` if Keras knows it (or it is an allowed `None`)."""
    if activation is None and allow_none:
        return None
    if activation is None:
        raise ValueError(f"{name} must be an activation name; got None")
    try:
        keras.activations.get(activation)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"{name} must be a Keras activation (e.g. 'relu'); "
            f"got {activation!r}"
        ) from error
    return activation


def check_sample_index(index, num_samples, unique=False):
    """`index` as a 1-D integer array of sample indices in `[0, n)`.

    For the methods that keep per-sample state and train on `(x, index)`
    (NAT, PCL): checks the `y` that `fit` receives before any step runs.
    With `unique=True` an index may appear only once.
    """
    index = np.asarray(index)
    if index.ndim != 1 or not np.issubdtype(index.dtype, np.integer):
        raise ValueError(
            "y must be a 1-D integer array of sample indices; got dtype "
            f"{index.dtype} and shape {index.shape}"
        )
    if len(index) and (index.min() < 0 or index.max() >= num_samples):
        raise ValueError(
            f"y (sample indices) must lie in [0, num_samples={num_samples})"
            f"; got values in [{index.min()}, {index.max()}]"
        )
    if unique and len(np.unique(index)) != len(index):
        raise ValueError("y (sample indices) must not repeat")
    return index


def assert_sample_index(index, num_samples):
    """In-graph check of a batch's sample indices; returns them as int32.

    The graph counterpart of `check_sample_index` for `tf.data` batches:
    a `tf.errors.InvalidArgumentError` names the bound an index breaks.
    """
    import tensorflow as tf

    index = tf.cast(tf.reshape(index, (-1,)), "int32")
    checks = [
        tf.debugging.assert_less(
            index, num_samples, message=f"sample index must be < {num_samples}"
        ),
        tf.debugging.assert_non_negative(
            index, message="sample index must be >= 0"
        ),
    ]
    with tf.control_dependencies(checks):
        return tf.identity(index)


def check_class_ids(y, num_classes, name="y"):
    """`y` as int64 class ids in `[0, num_classes)`, or a clear ValueError.

    Accepts shape `(n,)` or `(n, 1)`, integer values of any numeric dtype
    (`2.0` is class 2; `2.5` is an error, never truncated). A `(n,
    num_classes)` array is refused with a pointer to `argmax`, since a
    one-hot label would otherwise fail deep inside the loss.
    """
    labels = np.asarray(y)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim == 2 and labels.shape[1] == num_classes:
        raise ValueError(
            f"{name} must be integer class ids of shape (n,); got shape "
            f"{labels.shape}, which looks one-hot: pass {name}.argmax(-1)"
        )
    if labels.ndim != 1:
        raise ValueError(
            f"{name} must be integer class ids of shape (n,); got shape "
            f"{labels.shape}"
        )
    if not (
        np.issubdtype(labels.dtype, np.integer)
        or np.issubdtype(labels.dtype, np.floating)
        or labels.dtype == bool
    ):
        raise ValueError(
            f"{name} must be integer class ids; got dtype {labels.dtype}"
        )
    ids = labels.astype("int64")
    bad = (ids != labels) | (ids < 0) | (ids >= num_classes)
    if np.any(bad):
        raise ValueError(
            f"{name} must be integer class ids in [0, num_classes="
            f"{num_classes}); got {labels[bad][:5].tolist()}"
        )
    return ids
