"""Value checks: each `Check` takes (what, value) and raises InvalidValueError("<what> must be ...").
ArchSpec and TrainConfig validate their fields with them; the search-space loader reuses them,
adding the file and key to the message."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from harness.errors import InvalidValueError, SpecError

Check = Callable[[str, object], None]


def check_int(low: int) -> Check:
    """Check: an integer >= low."""

    def check(what: str, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidValueError(f"{what} must be an integer, not {value!r}")
        if value < low:
            raise InvalidValueError(f"{what} must be >= {low}, not {value}")

    return check


def check_kernel(what: str, value: object) -> None:
    """Check: an odd positive kernel size."""
    check_int(1)(what, value)
    check_odd(what, value, InvalidValueError)


def check_odd(what: str, value: Any, error: type[Exception] = SpecError) -> None:
    """Check: an odd number (kernel sizes), raising `error`."""
    if value % 2 == 0:
        raise error(
            f"{what} must be odd (1, 3, 5, ...), not {value}: an even kernel cannot keep the "
            "feature map centred with symmetric padding"
        )


def check_float(low: float, high: float, *, high_open: bool = True, low_open: bool = False) -> Check:
    """Check: a number in the interval from low to high (open or closed at either end)."""
    lo, hi = "(" if low_open else "[", ")" if high_open else "]"

    def check(what: str, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidValueError(f"{what} must be a number, not {value!r}")
        below = value <= low if low_open else value < low
        above = value >= high if high_open else value > high
        if below or above or math.isnan(value):
            raise InvalidValueError(f"{what} must be in {lo}{low}, {high}{hi}, not {value}")

    return check


def check_choice(options: tuple[str, ...]) -> Check:
    """Check: one of the given names."""

    def check(what: str, value: object) -> None:
        if value not in options:
            raise InvalidValueError(f"{what} {value!r} is not valid; valid: {', '.join(options)}")

    return check


def check_optional(check: Check) -> Check:
    """Check: None, or what `check` accepts."""

    def optional(what: str, value: object) -> None:
        if value is not None:
            check(what, value)

    return optional


def check_name(what: str, value: object) -> None:
    """Check: a string (a registry name; the registry itself is checked by harness.zoo.model)."""
    if not isinstance(value, str):
        raise InvalidValueError(f"{what} must be a name, not {value!r}")


def check_branches(what: str, value: object) -> None:
    """Check: six inception branch widths, all positive integers or all fractions in (0, 1]."""
    if not isinstance(value, (list, tuple)) or len(value) != 6:
        raise InvalidValueError(
            f"{what} must list 6 widths (1x1, kxk reduce, kxk, wide reduce, wide, pool projection), "
            f"not {value!r}"
        )
    if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        if min(value) < 1:
            raise InvalidValueError(f"{what} must all be >= 1, not {list(value)}")
        return
    for v in value:
        check_float(0.0, 1.0, low_open=True, high_open=False)(f"{what} (as fractions of the width)", v)


def check_widths(what: str, value: object) -> None:
    """Check: a list of positive integers (may be empty)."""
    if not isinstance(value, (list, tuple)):
        raise InvalidValueError(f"{what} must be a list of widths, not {value!r}")
    for v in value:
        check_int(1)(what, v)
