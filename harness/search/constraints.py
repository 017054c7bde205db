"""Hard budgets known before training: `Constraints` (max FLOPs, max params) checked on the built
model's measured costs, and `parse_count` for sizes written as 5e6, 5M or 300k.

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


@dataclass(frozen=True)
class Constraints:
    """Upper bounds on a network's costs; None: no bound."""

    max_flops: float | None = None  # multiply-adds per image (fvcore)
    max_params: float | None = None

    @property
    def active(self) -> bool:
        """Whether any bound is set."""
        return self.max_flops is not None or self.max_params is not None

    def violations(self, costs: Costs) -> tuple[float, ...]:
        """Relative excess per bound, (cost - bound) / bound: <= 0 where it is met. One value per
        bound, max_flops first; (0.0,) when there is none (the form Optuna's constraints take)."""
        out = []
        if self.max_flops is not None:
            out.append((costs.flops - self.max_flops) / self.max_flops)
        if self.max_params is not None:
            out.append((costs.params - self.max_params) / self.max_params)
        return tuple(out) or (0.0,)

    def named_violations(self, costs: Costs) -> dict[str, float]:
        """{"max_flops": excess, "max_params": excess} for the bounds that are set (see violations)."""
        names = [n for n in ("max_flops", "max_params") if getattr(self, n) is not None]
        return dict(zip(names, self.violations(costs), strict=False))

    def reason(self, costs: Costs) -> str | None:
        """Why `costs` break the bounds (one line), or None when they meet them."""
        from harness.numbers import human

        broken = []
        if self.max_flops is not None and costs.flops > self.max_flops:
            broken.append(f"{human(costs.flops)} FLOPs > max {human(self.max_flops)}")
        if self.max_params is not None and costs.params > self.max_params:
            broken.append(f"{human(costs.params)} params > max {human(self.max_params)}")
        return "; ".join(broken) or None

    def merged(self, other: Constraints) -> Constraints:
        """These bounds with `other`'s where it sets them (the command line over the space file)."""
        return Constraints(
            max_flops=other.max_flops if other.max_flops is not None else self.max_flops,
            max_params=other.max_params if other.max_params is not None else self.max_params,
        )

    def as_dict(self) -> dict[str, float]:
        """The bounds that are set, for run.json and the study fingerprint."""
        return {k: v for k, v in (("max_flops", self.max_flops), ("max_params", self.max_params)) if v is not None}
