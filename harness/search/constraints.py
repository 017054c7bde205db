"""Hard budgets known before training: `Constraints` (max FLOPs, params, latency, memory) checked
on the built model's counted and measured costs, and the parsers for bounds written as 5e6, 5M or
300k (`parse_count`), 2ms or 0.5s (`parse_duration`), 4G or 512M (`parse_bytes`).

An infeasible trial is never trained: the study records its costs and the reason, and hands the
violations to Optuna, so samplers that support constraints (tpe, nsga2, gp) learn to avoid that region; it goes to
Optuna through `Trial.set_constraint`, one value per bound.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from harness.errors import InvalidValueError
from harness.zoo.measure import Costs

_SUFFIXES = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12}
_COUNT = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([kmgt]?)\s*$", re.IGNORECASE)


def parse_count(value: object, what: str = "value") -> float:
    """A positive count from a number or a string such as "5e6", "5M", "300k", "1.5G"."""
    if isinstance(value, bool):
        raise InvalidValueError(f"{what} must be a positive number (e.g. 5e6 or 5M), not {value!r}")
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        match = _COUNT.match(str(value))
        if not match:
            raise InvalidValueError(f"{what} must be a positive number (e.g. 5e6 or 5M), not {value!r}")
        number = float(match.group(1)) * _SUFFIXES[match.group(2).lower()]
    if not math.isfinite(number) or number <= 0:
        raise InvalidValueError(f"{what} must be a positive number (e.g. 5e6 or 5M), not {value!r}")
    return number


_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*(us|ms|s)?\s*$", re.IGNORECASE)
_DURATION_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, None: 1.0}  # -> milliseconds; a bare number is ms
_BYTES = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([kmgt]?)(i?b)?\s*$", re.IGNORECASE)
_BINARY = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}  # 4G = 4 GiB, as memory is sold


def _positive(match: re.Match[str] | None, scale: dict, unit: str | None, value: object, what: str, example: str
              ) -> float:
    if match is None:
        raise InvalidValueError(f"{what} must be a positive {example}, not {value!r}")
    number = float(match.group(1)) * scale[unit]
    if not math.isfinite(number) or number <= 0:
        raise InvalidValueError(f"{what} must be a positive {example}, not {value!r}")
    return number


def parse_duration(value: object, what: str = "value") -> float:
    """Milliseconds from "2ms", "500us", "0.01s" or a bare number (milliseconds)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    match = _DURATION.match(str(value)) if isinstance(value, str) else None
    unit = match.group(2).lower() if match and match.group(2) else None
    return _positive(match, _DURATION_UNITS, unit, value, what, "duration (e.g. 2ms, 500us, 0.01s)")


def parse_bytes(value: object, what: str = "value") -> float:
    """Bytes from "4G", "512M", "1.5GiB", "300k" (binary multiples) or a bare number of bytes."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    match = _BYTES.match(str(value)) if isinstance(value, str) else None
    unit = match.group(2).lower() if match else None
    return _positive(match, _BINARY, unit, value, what, "size (e.g. 4G, 512M)")


# Each bound: its Costs field, the parser of its value, and how a broken one reads.
BOUNDS = {
    "max_flops": ("flops", parse_count, "FLOPs"),
    "max_params": ("params", parse_count, "params"),
    "max_latency": ("latency_ms", parse_duration, "latency"),
    "max_memory": ("memory", parse_bytes, "training memory"),
}


def _show(name: str, value: float) -> str:
    from harness.numbers import human

    if name == "max_latency":
        return f"{value:.3g} ms"
    if name == "max_memory":
        return f"{value / 2**20:.4g} MiB"
    return human(value)


@dataclass(frozen=True)
class Constraints:
    """Upper bounds on a network's costs; None: no bound. FLOPs and params are counted, latency and
    memory measured on the device before training (harness.train.speed)."""

    max_flops: float | None = None  # multiply-adds per image (fvcore)
    max_params: float | None = None
    max_latency: float | None = None  # milliseconds at batch 1
    max_memory: float | None = None  # bytes, peak of one training step

    def _set(self) -> list[str]:
        return [n for n in BOUNDS if getattr(self, n) is not None]

    @property
    def active(self) -> bool:
        """Whether any bound is set."""
        return bool(self._set())

    def named_violations(self, costs: Costs) -> dict[str, float]:
        """Relative excess per bound that is set and whose cost is known, (cost - bound) / bound:
        <= 0 where it is met (the form Optuna's constraints take), in BOUNDS order."""
        out = {}
        for name in self._set():
            cost = getattr(costs, BOUNDS[name][0])
            if cost is not None:
                out[name] = (float(cost) - getattr(self, name)) / getattr(self, name)
        return out

    def violations(self, costs: Costs) -> tuple[float, ...]:
        """The values of named_violations; (0.0,) when there is none."""
        return tuple(self.named_violations(costs).values()) or (0.0,)

    def reason(self, costs: Costs) -> str | None:
        """Why `costs` break the bounds (one line), or None when they meet them (or are not known yet)."""
        broken = []
        for name, excess in self.named_violations(costs).items():
            if excess > 0:
                field_name, _, words = BOUNDS[name]
                broken.append(f"{_show(name, float(getattr(costs, field_name)))} {words} > max "
                              f"{_show(name, getattr(self, name))}")
        return "; ".join(broken) or None

    def merged(self, other: Constraints) -> Constraints:
        """These bounds with `other`'s where it sets them (the command line over the space file)."""
        return Constraints(**{n: getattr(other, n) if getattr(other, n) is not None else getattr(self, n)
                              for n in BOUNDS})

    def as_dict(self) -> dict[str, float]:
        """The bounds that are set, for run.json and the study fingerprint."""
        return {n: getattr(self, n) for n in self._set()}
