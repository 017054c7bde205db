"""Argument types of the command line: one function per kind of value, each turning the text
into the value or raising argparse.ArgumentTypeError with the one line argparse prints."""

from __future__ import annotations

import argparse


def whole_number(text: str) -> int:
    """Any whole number."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None


def positive_int(text: str) -> int:
    """A whole number of at least 1."""
    value = whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _float(text: str, expected: str) -> float:
    """`text` as a float; ArgumentTypeError "must be <expected>, not ..." when it is not a number."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {expected}, not {text!r}") from None


def positive_float(text: str) -> float:
    """A number above 0."""
    value = _float(text, "a number")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def count(text: str) -> float:
    """A count with an optional suffix (5e6, 300k, 1.5M), as the space file's `constraints:` take."""
    from harness.errors import InvalidValueError
    from harness.search.constraints import parse_count

    try:
        return parse_count(text)
    except InvalidValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def fraction(text: str) -> float:
    """A number strictly between 0 and 1."""
    value = _float(text, "a number between 0 and 1")
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), not {value}")
    return value


def gib(text: str) -> float:
    """A non-negative number of GiB, returned in bytes."""
    value = _float(text, "a number of GiB")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, not {value}")
    return value * 2**30


def input_size(text: str) -> tuple[int, int]:
    """(height, width) in pixels from S or HxW (also H,W)."""
    parts = text.lower().replace(",", "x").split("x")
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be S or HxW in pixels, not {text!r}") from None
    if len(sizes) not in (1, 2) or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"must be S or HxW with positive sizes, not {text!r}")
    return (sizes[0], sizes[-1])


def duration(text: str) -> float:
    """Milliseconds from "2ms", "500us", "0.01s" (argparse type)."""
    from harness.search.constraints import parse_duration

    try:
        return parse_duration(text, "the bound")
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def memory_size(text: str) -> float:
    """Bytes from "4G", "512M" (binary multiples; argparse type)."""
    from harness.search.constraints import parse_bytes

    try:
        return parse_bytes(text, "the bound")
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def budget_seconds(text: str) -> float:
    """Seconds from "60m", "1h30m", "90s", "3600" (harness.budget.plan.parse_budget, loaded when called)."""
    from harness.budget.plan import parse_budget
    from harness.errors import HarnessError

    try:
        return parse_budget(text)
    except HarnessError as err:
        raise argparse.ArgumentTypeError(str(err).replace("budget ", "", 1)) from None
