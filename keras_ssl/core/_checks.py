"""Argument checks shared by the methods (private)."""

import math
import numbers


def check_integer(value, minimum, name):
    """`int(value)` if it is an integer >= `minimum`; else a ValueError."""
    if (
        not isinstance(value, numbers.Integral)
        or isinstance(value, bool)
        or value < minimum
    ):
        raise ValueError(
            f"{name} must be an integer >= {minimum}; got {value!r}"
        )
    return int(value)


def check_number(value, name, rule):
    """`float(value)` if it satisfies `rule`; else a ValueError naming it."""
    valid = (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and {
            "> 0": lambda v: v > 0,
            ">= 0": lambda v: v >= 0,
            "in (0, 1)": lambda v: 0 < v < 1,
        }[rule](value)
    )
    if not valid:
        raise ValueError(f"{name} must be a number {rule}; got {value!r}")
    return float(value)
