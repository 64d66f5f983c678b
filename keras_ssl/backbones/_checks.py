"""Argument checks shared by the backbone builders (private)."""

import numbers

import keras


def is_positive_int(value):
    """Whether `value` is an integer >= 1 (NumPy ints count, bools do not)."""
    return (
        isinstance(value, numbers.Integral)
        and not isinstance(value, bool)
        and value >= 1
    )


def is_positive_number(value):
    """Whether `value` is a real number > 0 (bools do not count)."""
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and value > 0
    )


def check_rate(value, name):
    """Raises `ValueError` unless `value` is a number in [0, 1)."""
    if (
        not isinstance(value, numbers.Real)
        or isinstance(value, bool)
        or not 0 <= value < 1
    ):
        raise ValueError(f"{name} must be in [0, 1); got {value!r}")
    return float(value)


def check_positive_int(value, name):
    """Raises `ValueError` unless `value` is an integer >= 1."""
    if not is_positive_int(value):
        raise ValueError(f"{name} must be a positive int; got {value!r}")
    return int(value)


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
            positive ints, or a side is smaller than `min_size`.
    """
    expected = "(height, width, channels)"
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
        raise ValueError(f"input_shape must be {expected}; got {input_shape!r}")
    *spatial, channels = input_shape
    for size in spatial:
        if size is None and allow_none:
            continue
        if not is_positive_int(size):
            raise ValueError(
                f"input_shape must be {expected} with positive ints"
                f"{' or None sides' if allow_none else ''}; got {input_shape!r}"
            )
        if size < min_size:
            raise ValueError(
                f"input_shape height and width must be at least {min_size} "
                f"for this network; got {input_shape!r}"
            )
    if not is_positive_int(channels):
        raise ValueError(
            f"input_shape must end with a positive int of channels; "
            f"got {input_shape!r}"
        )
    return tuple(None if size is None else int(size) for size in input_shape)


def check_activation(activation, name, allow_none=False):
    """Raises `ValueError` unless Keras knows `activation`."""
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
