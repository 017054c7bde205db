"""The one set of number formats every table, line and page uses: `human` counts (12.3M),
`percent` fractions (87.5%), `plain` parameter values (3 rather than 3.0), '-' for none."""

from __future__ import annotations

import numbers
from typing import Any

MISSING = "-"


def is_missing(value: Any) -> bool:
    """None, NaN or pandas' NA."""
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN and pd.NA are the values not equal to themselves
    except TypeError:  # pd.NA != pd.NA is NA, whose truth is ambiguous
        return True

def human(n: float | int | None) -> str:
    """12345678 -> '12.3M' (3 significant digits, k/M/G); '-' for none."""
    if is_missing(n):
        return MISSING
    assert n is not None
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.3g}{unit}"
    return f"{n:.3g}"

def percent(value: Any, digits: int = 1) -> str:
    """A fraction as a percentage: 0.8751 -> '87.5%'; '-' for none."""
    return MISSING if is_missing(value) else f"{100 * float(value):.{digits}f}%"

def plain(value: Any, digits: int = 4) -> str:
    """A parameter value as it reads best: 3 rather than 3.0, 0.0003 with `digits` significant
    digits, text and booleans as they are; '-' for none."""
    if isinstance(value, (bool, str)) or type(value).__name__ == "bool_":
        return str(value)
    if is_missing(value):
        return MISSING
    if isinstance(value, numbers.Integral):  # numpy's integer types register here too
        return str(int(value))
    if isinstance(value, numbers.Real):
        v = float(value)
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else f"{v:.{digits}g}"
    return str(value)


def plural(n: Any, noun: str) -> str:
    """'1 seed', '3 seeds'; '? seeds' when n is unknown."""
    if n is None:
        return f"? {noun}s"
    return f"{n} {noun}" + ("" if n == 1 else "s")

__all__ = ["MISSING", "human", "is_missing", "percent", "plain", "plural"]
