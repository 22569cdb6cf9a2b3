"""The one vocabulary for checking values: preset options, flags, loss hyperparameters, counts and k.

A :class:`Rule` says in words what it allows (``allowed``), tests a value (``accepts``) and converts
an accepted one (``convert``). :meth:`Rule.check` raises a one-line ``ValueError``
``"<name> must be <allowed>, got <value>"``, so every message of the project reads the same way,
whoever checks. TensorFlow-free.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable


@dataclasses.dataclass(frozen=True)
class Rule:
    """What a value may be: ``allowed`` in words, ``accepts`` the test, ``convert`` the accepted value's form."""

    allowed: str
    accepts: Callable[[object], bool]
    convert: Callable[[object], object] = lambda v: v

    def check(self, name: str, value: object) -> object:
        """``convert(value)``; ValueError ``"<name> must be <allowed>, got <value>"`` unless accepted."""
        if not self.accepts(value):
            raise ValueError(f"{name} must be {self.allowed}, got {value!r}")
        return self.convert(value)


def is_int(v: object) -> bool:
    """An integer, not a bool (numpy integers too)."""
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def is_number(v: object) -> bool:
    """A finite real number, not a bool."""
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def _interval(low, high, low_open: bool, high_open: bool, fmt: Callable[[object], str]) -> str:
    if low is not None and high is None:
        return f"> {fmt(low)}" if low_open else f">= {fmt(low)}"
    if low is None and high is not None:
        return f"< {fmt(high)}" if high_open else f"<= {fmt(high)}"
    if low is None:
        return ""
    return f"in {'(' if low_open else '['}{fmt(low)}, {fmt(high)}{')' if high_open else ']'}"


def _within(v, low, high, low_open: bool, high_open: bool) -> bool:
    if low is not None and (v < low or (low_open and v == low)):
        return False
    return not (high is not None and (v > high or (high_open and v == high)))


def integer(low: int | None = None, high: int | None = None) -> Rule:
    """An integer in ``[low, high]`` (either end may be open-ended: None)."""
    words = " ".join(filter(None, ["an integer", _interval(low, high, False, False, str)]))
    return Rule(words, lambda v: is_int(v) and _within(v, low, high, False, False), int)


def number(low: float | None = None, high: float | None = None, *, low_open: bool = False,
           high_open: bool = False) -> Rule:
    """A finite number in the interval (``low_open``/``high_open``: that end excluded)."""
    words = " ".join(filter(None, ["a number", _interval(low, high, low_open, high_open, lambda x: f"{x:g}")]))
    return Rule(words, lambda v: is_number(v) and _within(v, low, high, low_open, high_open), float)


def choice(*choices: str) -> Rule:
    """One of ``choices`` (strings)."""
    return Rule("one of " + ", ".join(repr(c) for c in choices), lambda v: isinstance(v, str) and v in choices)


def integers(low: int, length: int | None = None) -> Rule:
    """A list of integers ``>= low``: exactly ``length`` of them, or at least one."""
    count = f"{length}" if length else "one or more"
    return Rule(f"a list of {count} integers >= {low}",
                lambda v: (isinstance(v, (list, tuple)) and len(v) == (length or len(v)) > 0
                           and all(is_int(i) and i >= low for i in v)),
                lambda v: tuple(int(i) for i in v))


def or_none(rule: Rule, meaning: str) -> Rule:
    """``rule``, or None (which means ``meaning``)."""
    return Rule(f"{rule.allowed}, or null ({meaning})", lambda v: v is None or rule.accepts(v),
                lambda v: None if v is None else rule.convert(v))


def count(name: str, value: object, minimum: int = 1) -> int:
    """An integer count ``>= minimum`` (a count of 0 never means "all": callers pass None for that)."""
    return integer(minimum).check(name, value)


def leaves(name: str, k: object, n: int | None) -> int:
    """A number of leaves ``k`` in ``[1, n]`` (``n`` None: no upper bound)."""
    return integer(1, n).check(name, k)
