"""Validation helpers shared by every `<Algo>Config` (static) and `<Algo>HParams` (traced).

Configs validate in `__post_init__`, hyperparameters in `validate_hparams` on the host, so bad input is
rejected with a `ValueError` naming the field before anything is traced or compiled.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np


def check_positive_int(obj: Any, *names: str) -> None:
    """Each named field of `obj` must be an int >= 1."""
    for name in names:
        value = getattr(obj, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{type(obj).__name__}.{name} must be a positive integer, got {value!r}")


def check_bool(obj: Any, *names: str) -> None:
    """Each named field of `obj` must be a bool (a string such as "no" would silently count as True)."""
    for name in names:
        value = getattr(obj, name)
        if not isinstance(value, bool | np.bool_):
            raise ValueError(f"{type(obj).__name__}.{name} must be True or False, got {value!r}")


def check_number(obj: Any, name: str, valid: Range | None = None) -> None:
    """The named field of `obj` must be a finite real number (inside `valid`, if given)."""
    value = getattr(obj, name)
    ok = not isinstance(value, bool) and isinstance(value, int | float | np.integer | np.floating)
    ok = ok and math.isfinite(value) and (valid is None or valid.contains(np.asarray(value)))
    if not ok:
        where = f" in {valid.describe()}" if valid is not None else ""
        raise ValueError(f"{type(obj).__name__}.{name} must be a finite number{where}, got {value!r}")


def check_choice(obj: Any, name: str, choices: tuple[Any, ...]) -> None:
    value = getattr(obj, name)
    if value not in choices:
        raise ValueError(f"{type(obj).__name__}.{name} must be one of {choices}, got {value!r}")


def check_divides(obj: Any, numerator: str, denominator: str, numerator_value: int | None = None) -> None:
    """`denominator` must divide `numerator` (or the given value, described by `numerator`)."""
    num = getattr(obj, numerator) if numerator_value is None else numerator_value
    den = getattr(obj, denominator)
    if num % den != 0:
        raise ValueError(
            f"{type(obj).__name__}.{denominator}={den} must divide {numerator}={num} (remainder {num % den})"
        )


class Range(NamedTuple):
    """Valid interval for a hyperparameter; `low_open` / `high_open` exclude the end points."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False

    def describe(self) -> str:
        left = "(" if self.low_open else "["
        right = ")" if self.high_open else "]"
        return f"{left}{self.low}, {self.high}{right}"

    def contains(self, x: np.ndarray) -> bool:
        above = x > self.low if self.low_open else x >= self.low
        below = x < self.high if self.high_open else x <= self.high
        return bool(np.all(above & below))


POSITIVE = Range(0.0, math.inf, low_open=True)
NON_NEGATIVE = Range(0.0)
UNIT = Range(0.0, 1.0)


def validate_hparams(hparams: NamedTuple, ranges: Mapping[str, Range]) -> None:
    """Check every field (scalar or a stacked sweep array) is finite and inside its range."""
    for name in hparams._fields:
        try:
            value = np.asarray(getattr(hparams, name), dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                f"{type(hparams).__name__}.{name} must be a number (or an array of numbers for a sweep), "
                f"got {getattr(hparams, name)!r}"
            ) from None
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{type(hparams).__name__}.{name} must be finite, got {value.tolist()}")
        valid = ranges.get(name)
        if valid is not None and not valid.contains(value):
            raise ValueError(
                f"{type(hparams).__name__}.{name} must be in {valid.describe()}, got {value.tolist()}"
            )


def field_names(cls: type) -> tuple[str, ...]:
    """Field names of a dataclass config or a NamedTuple hparams class."""
    if dataclasses.is_dataclass(cls):
        return tuple(f.name for f in dataclasses.fields(cls))
    return tuple(cls._fields)


def unknown_name_message(kind: str, name: str, valid: Sequence[str]) -> str:
    """Error text for an unknown name: closest matches first, then every valid name."""
    close = difflib.get_close_matches(name, valid, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"unknown {kind} {name!r}.{hint} Valid {kind}s: {', '.join(sorted(valid))}"
