"""Parameter types: Param and its kinds (Fixed, Choice, IntRange, FloatRange, Pattern, Variants).

A parameter knows the values it can take, how to ask a trial (TrialLike, the part of optuna.Trial
sampling uses) for one, how to decode what a trial recorded, and which part of a value one slot
(section, field) of the spec takes. Nothing here knows about conditions or files.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

from harness.errors import InvalidValueError

Slot = tuple[str, str]  # (section, field): ("stem", "kind"), ("s2", "block"), ("head", "pool"), ...


def same(a: Any, b: Any) -> bool:
    """Equal values of the same kind: 1 and 1.0 are the same value to a spec, True and 1 are not."""
    return a == b and isinstance(a, bool) == isinstance(b, bool) and isinstance(a, str) == isinstance(b, str)


class TrialLike(Protocol):
    """The part of optuna.Trial that sampling uses."""

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...
    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int: ...
    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None,
                      log: bool = False) -> float: ...


@dataclass(frozen=True)
class Param:
    """One parameter of the space. Subclasses: Fixed, Choice, IntRange, FloatRange, Pattern, Variants.

    A parameter's *value* is what the trial is asked for, decoded (a tuple for a Pattern, a
    variant name for Variants); `pick` gives the part of it one slot of the spec takes.
    """

    @property
    def searched(self) -> bool:
        """Whether the sampler picks it (False for fixed values)."""
        return True

    def values(self) -> list[Any] | None:
        """Every value it can take, or None when it is continuous."""
        raise NotImplementedError

    def suggest(self, trial: TrialLike, name: str) -> Any:
        """Ask `trial` for a value."""
        raise NotImplementedError

    def decode(self, raw: Any) -> Any:
        """The value from what a trial recorded (trial.params, a trials.csv cell)."""
        return raw

    def pick(self, value: Any, slot: Slot) -> Any:
        """The part of `value` that `slot` (section, field) of the spec takes."""
        return value

    def example(self) -> Any:
        """Some value it can take."""
        values = self.values()
        return values[0] if values else None


@dataclass(frozen=True)
class Fixed(Param):
    """A value that does not vary."""

    value: Any

    @property
    def searched(self) -> bool:
        return False

    def values(self) -> list[Any]:
        return [self.value]

    def suggest(self, trial: TrialLike, name: str) -> Any:
        return self.value

    def __str__(self) -> str:
        return repr(self.value)


@dataclass(frozen=True)
class Choice(Param):
    """One of a list of values."""

    options: tuple[Any, ...]

    def values(self) -> list[Any]:
        return list(self.options)

    def suggest(self, trial: TrialLike, name: str) -> Any:
        return trial.suggest_categorical(name, list(self.options))

    def decode(self, raw: Any) -> Any:
        # A trials.csv column with gaps reads 4 as 4.0: give back the choice itself.
        for option in self.options:
            if option == raw and isinstance(option, bool) == isinstance(raw, bool):
                return option
        raise InvalidValueError(f"{raw!r} is not one of the choices {list(self.options)}")

    def __str__(self) -> str:
        return "choice of " + ", ".join(repr(v) for v in self.options)


@dataclass(frozen=True)
class IntRange(Param):
    """An integer from low to high inclusive, in steps of `step` or log-uniformly."""

    low: int
    high: int
    step: int = 1
    log: bool = False

    def values(self) -> list[int]:
        return list(range(self.low, self.high + 1, self.step))

    def suggest(self, trial: TrialLike, name: str) -> int:
        return trial.suggest_int(name, self.low, self.high, step=self.step, log=self.log)

    def decode(self, raw: Any) -> int:
        if isinstance(raw, float) and raw.is_integer():
            raw = int(raw)
        if isinstance(raw, bool) or not isinstance(raw, int) or not self.low <= raw <= self.high:
            raise InvalidValueError(f"{raw!r} is not an integer in {self.low}..{self.high}")
        return raw

    def __str__(self) -> str:
        return f"integer {self.low}..{self.high}" + (" (log)" if self.log else f" step {self.step}")


@dataclass(frozen=True)
class FloatRange(Param):
    """A float from low to high, uniform, log-uniform, or on a grid of `step`."""

    low: float
    high: float
    step: float | None = None
    log: bool = False

    def values(self) -> list[float] | None:
        if self.step is None:
            return None
        n = int(round((self.high - self.low) / self.step)) + 1
        return [self.low + i * self.step for i in range(n)]

    def suggest(self, trial: TrialLike, name: str) -> float:
        return trial.suggest_float(name, self.low, self.high, step=self.step, log=self.log)

    def decode(self, raw: Any) -> float:
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise InvalidValueError(f"{raw!r} is not a number in {self.low}..{self.high}")
        return float(raw)

    def example(self) -> float:
        return self.low

    def __str__(self) -> str:
        kind = " (log)" if self.log else (f" step {self.step}" if self.step else "")
        return f"float {self.low}..{self.high}{kind}"


def _label(values: Iterable[Any]) -> str:
    return "-".join(str(v) for v in values)


@dataclass(frozen=True)
class Pattern(Param):
    """One of several whole per-stage lists (a stage key given as {patterns: [[...], ...]}): one
    categorical parameter whose choices, as the trial records them, are labels like "2-2-4"."""

    options: tuple[tuple[Any, ...], ...]

    @property
    def labels(self) -> list[str]:
        return [_label(p) for p in self.options]

    def values(self) -> list[tuple[Any, ...]]:
        return list(self.options)

    def suggest(self, trial: TrialLike, name: str) -> tuple[Any, ...]:
        return self.decode(trial.suggest_categorical(name, self.labels))

    def decode(self, raw: Any) -> tuple[Any, ...]:
        if isinstance(raw, (list, tuple)) and tuple(raw) in self.options:
            return tuple(raw)
        if raw in self.labels:
            return self.options[self.labels.index(raw)]
        # A one-stage pattern's label ("2") comes back from trials.csv as a number (2, or 2.0).
        for option in self.options:
            if len(option) == 1 and same(option[0], raw):
                return option
        raise InvalidValueError(f"{raw!r} is not one of the patterns {self.labels}")

    def pick(self, value: Any, slot: Slot) -> Any:
        return value[int(slot[0][1:]) - 1]

    def __str__(self) -> str:
        return "pattern of " + ", ".join(self.labels)


@dataclass(frozen=True)
class Variants(Param):
    """One of several named stems (stem: {variants: {name: {kind: ..., kernel_size: ...}}}): the
    value is the variant's name; each variant fixes the same stem fields (defaults filled in)."""

    table: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...]  # (name, ((field, value), ...))

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.table]

    @property
    def fields(self) -> list[str]:
        return [f for f, _ in self.table[0][1]]

    def values(self) -> list[str]:
        return self.names

    def suggest(self, trial: TrialLike, name: str) -> str:
        return trial.suggest_categorical(name, self.names)

    def decode(self, raw: Any) -> str:
        if raw not in self.names:
            raise InvalidValueError(f"{raw!r} is not one of the variants {self.names}")
        return raw

    def pick(self, value: Any, slot: Slot) -> Any:
        return self._lookup[value][slot[1]]

    @cached_property
    def _lookup(self) -> dict[str, dict[str, Any]]:
        return {name: dict(settings) for name, settings in self.table}

    def __str__(self) -> str:
        return f"variant of {', '.join(self.names)} (each sets {', '.join(self.fields)})"
