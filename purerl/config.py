"""Validation shared by every `<Algo>Config` (static) and `<Algo>HParams` (traced).

A field's valid values sit next to it, as `typing.Annotated` metadata (`num_envs: PositiveInt = 4`,
`learning_rate: Positive = 2.5e-4`). Configs check every annotated field in `__post_init__`
(`check_fields`), hyperparameters in `validate_hparams` after the cast to the dtype they are traced
with, so bad input is rejected with a one-line `ValueError` naming the field before anything is traced.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import typing
from collections.abc import Sequence
from typing import Annotated, Any, NamedTuple

import numpy as np

# Static integers become int32 scalars inside the jitted programs (step counters, sizes, schedules).
INT32_MAX = 2**31 - 1


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

    def check(self, owner: str, name: str, value: Any) -> Any:
        """A static (config) number: finite and inside the interval."""
        ok = not isinstance(value, bool) and isinstance(value, int | float | np.integer | np.floating)
        if not (ok and math.isfinite(value) and self.contains(np.asarray(value))):
            raise ValueError(f"{owner}.{name} must be a finite number in {self.describe()}, got {value!r}")
        return value


class GateRange(Range):
    """A traced on/off switch: exactly 0 (off) or 1 (on). Code reads it with a select (`gate > 0.5`),
    so either position computes exactly what the switched code would; other values would be ambiguous."""

    __slots__ = ()

    def describe(self) -> str:
        return "{0, 1}"

    def contains(self, x: np.ndarray) -> bool:
        return bool(np.all((x == 0.0) | (x == 1.0)))


class IntRange(NamedTuple):
    """Valid integers `low <= value` (`< high` if given); `note` explains a special value."""

    low: int = 0
    high: int | None = None
    note: str = ""

    def check(self, owner: str, name: str, value: Any) -> Any:
        ok = not isinstance(value, bool) and isinstance(value, int | np.integer)
        if ok and value > INT32_MAX:  # would overflow once it enters a jitted program
            raise ValueError(f"{owner}.{name} must be at most 2**31 - 1 (int32), got {value:.3g}")
        if not (ok and value >= self.low and (self.high is None or value < self.high)):
            valid = (
                "a positive integer"
                if self.low == 1 and self.high is None
                else (
                    f"an integer >= {self.low}"
                    if self.high is None
                    else f"an integer in [{self.low}, {self.high})"
                )
            )
            raise ValueError(f"{owner}.{name} must be {valid}{self.note}, got {value!r}")
        return int(value)


class Choice(NamedTuple):
    """One of a fixed set of values."""

    choices: tuple[Any, ...]

    def check(self, owner: str, name: str, value: Any) -> Any:
        if value not in self.choices:
            raise ValueError(f"{owner}.{name} must be one of {self.choices}, got {value!r}")
        return value


class _Flag(NamedTuple):
    def check(self, owner: str, name: str, value: Any) -> Any:
        # A string such as "no" would silently count as True.
        if not isinstance(value, bool | np.bool_):
            raise ValueError(f"{owner}.{name} must be True or False, got {value!r}")
        return bool(value)


class _Sizes(NamedTuple):
    def check(self, owner: str, name: str, value: Any) -> Any:
        # tuple("64") would be ("6", "4"): name the actual mistake instead.
        sizes = () if isinstance(value, str) or not hasattr(value, "__iter__") else tuple(value)
        if not sizes or any(
            isinstance(h, bool) or not isinstance(h, int | np.integer) or h < 1 for h in sizes
        ):
            raise ValueError(
                f"{owner}.{name} must be a non-empty sequence of positive integers, got {value!r}"
            )
        return tuple(int(h) for h in sizes)  # stored as a tuple, so the config stays hashable


class _Activation(NamedTuple):
    def check(self, owner: str, name: str, value: Any) -> Any:
        from purerl.networks import ACTIVATIONS  # flax: only once a config is built

        return Choice(tuple(ACTIVATIONS)).check(owner, name, value)


POSITIVE = Range(0.0, math.inf, low_open=True)
NON_NEGATIVE = Range(0.0)
UNIT = Range(0.0, 1.0)
GATE = GateRange(0.0, 1.0)

# Annotated field types: the valid values stand next to each field of a config or hparams class.
PositiveInt = Annotated[int, IntRange(1)]
NonNegativeInt = Annotated[int, IntRange(0)]
AutoInt = Annotated[int, IntRange(0, note=" (0 = automatic)")]
Flag = Annotated[bool, _Flag()]
Sizes = Annotated[tuple[int, ...], _Sizes()]
Activation = Annotated[str, _Activation()]
Real = Annotated[float, Range()]
Positive = Annotated[float, POSITIVE]
NonNegative = Annotated[float, NON_NEGATIVE]
Unit = Annotated[float, UNIT]
Gate = Annotated[float, GATE]  # a traced switch: 0.0 off, 1.0 on (see `GateRange`)
UnitPositive = Annotated[float, Range(0.0, 1.0, low_open=True)]  # (0, 1], e.g. a Polyak coefficient
Torso = Annotated[str, Choice(("mlp", "minatar_cnn"))]


def one_of(*choices: Any) -> Any:
    """`Annotated[str, Choice(choices)]`, e.g. `loss: one_of("mse", "huber") = "mse"`."""
    return Annotated[type(choices[0]), Choice(choices)]


@functools.cache
def field_checks(cls: type) -> dict[str, tuple[Any, ...]]:
    """Field name -> the checks in its `Annotated` type (resolved once per class)."""
    hints = typing.get_type_hints(cls, include_extras=True)
    return {
        name: tuple(m for m in getattr(hint, "__metadata__", ()) if hasattr(m, "check"))
        for name, hint in hints.items()
        if name in field_names(cls)
    }


def check_fields(obj: Any) -> None:
    """Run every annotated check of a frozen dataclass instance, storing back normalised values."""
    owner = type(obj).__name__
    for name, checks in field_checks(type(obj)).items():
        value = getattr(obj, name)
        for check in checks:
            value = check.check(owner, name, value)
        object.__setattr__(obj, name, value)


def check_divides(obj: Any, numerator: str, denominator: str, numerator_value: int | None = None) -> None:
    """`denominator` must divide `numerator` (or the given value, described by `numerator`)."""
    num = getattr(obj, numerator) if numerator_value is None else numerator_value
    den = getattr(obj, denominator)
    if num % den != 0:
        raise ValueError(
            f"{type(obj).__name__}.{denominator}={den} must divide {numerator}={num} (remainder {num % den})"
        )


def store_sorted_pairs(obj: Any, name: str) -> tuple[tuple[str, Any], ...]:
    """Store field `name` of a frozen dataclass (a dict or `(name, value)` pairs, e.g. a factory's
    options) back as sorted pairs, so equal options compare and hash equal; returns the pairs."""
    value = getattr(obj, name)
    try:
        pairs = tuple(sorted(dict(value).items()))
    except (TypeError, ValueError):
        raise ValueError(
            f"{type(obj).__name__}.{name} must be a dict or (name, value) pairs, got {value!r}"
        ) from None
    object.__setattr__(obj, name, pairs)
    return pairs


def validate_hparams(hparams: Any) -> None:
    """Check every field (scalar or a stacked sweep array) against its annotated range, after the cast
    to float32, the dtype it is traced with: `1e39` (inf in float32) and `1e-50` (0) are rejected."""
    owner = type(hparams).__name__
    checks = field_checks(type(hparams))
    for name in hparams._fields:
        raw = getattr(hparams, name)
        try:
            value = np.asarray(raw, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                f"{owner}.{name} must be a number (or an array of numbers for a sweep), got {raw!r}"
            ) from None
        with np.errstate(over="ignore"):  # an overflow to inf is reported below, by name
            traced = value.astype(np.float32)
        if not np.all(np.isfinite(traced)):
            raise ValueError(f"{owner}.{name} must be finite in float32 (|x| < 3.4e38), got {value.tolist()}")
        for valid in (c for c in checks.get(name, ()) if isinstance(c, Range)):
            if not valid.contains(traced):
                cast = "" if np.array_equal(traced, value) else f" (float32: {traced.tolist()})"
                raise ValueError(f"{owner}.{name} must be in {valid.describe()}, got {value.tolist()}{cast}")


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
