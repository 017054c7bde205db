"""SearchSpace: a YAML file -> named parameters (fixed, choices, ranges) -> ArchSpec + TrainConfig.

The only code that calls `trial.suggest_*`. File format (documented in search_spaces/README.md):

    name: kernel_size            # optional; the study name defaults to the file's stem
    dataset: default             # optional; --dataset overrides
    stem:   {kind: conv, width: 16, kernel_size: 3, stride: 1}
    stages:
      count: 3
      width: {each: [16, 32, 64]}                      # one parameter per stage
      kernel_size: {choices: [3, 5, 7, 9], per_stage: true}   # searched separately per stage
      dilation: [1, 2]                                 # a list: choices shared by all stages
      depth: {patterns: [[1, 1, 1], [1, 1, 2]]}        # one choice among whole per-stage lists
    head:   {pool: avg, dropout: 0.0, hidden: {value: [64]}}  # a list-valued key is only fixed
    norm: batch
    activation: relu
    drop_path: 0.0
    train:  {epochs: 4, lr: {low: 1.0e-3, high: 1.0e-2, log: true}}
    search: {trials: 12}

A parameter is a fixed value, a list of choices, or a mapping: {value: V}, {choices: [...]},
{low: L, high: H, step: S, log: true|false} (integers when L, H and S are integers). In `stages`,
a parameter is shared by all stages unless it says `per_stage: true` or is given as
{each: [p1, p2, ...]}, one parameter per stage, or as {patterns: [[v1, v2, ...], ...]}, one
parameter whose choices are whole per-stage lists. `stem: {variants: {name: {kind: ..., ...}}}`
chooses among named stems. Searched parameters are named by where they sit: `stem.width`,
`kernel_size` (shared by the stages), `s2.kernel_size` (stage 2), `norm`, `head.dropout`,
`train.lr`, `stem` (a variant).

Conditional parameters (define-by-run): a value the network would not read is not asked of the
trial, and the spec gets the field's default there instead, so the same network always has the
same spec (and `spec_id`), and the count of architectures counts networks, not unused values:
  - a family option (expansion, groups, group_width, branches, wide_kernel) applies to a stage
    whose block family reads it (`harness.zoo.blocks.BLOCKS.get(name).options`); expansion not where
    a bottleneck's group_width is given (groups x group_width is the inner width then);
  - `downsample` applies to a stage with stride > 1 (no downsampling layer otherwise), and
    `compression` where, in addition, downsample is `transition`;
  - stem width, kernel_size and stride apply unless stem.kind is `none`;
  - `drop_path` applies when some stage has a block with an identity path (family.residual).
Controlling parameters (stem kind, block, stride, downsample, group_width) are asked first, then
the parameters whose use depends on them.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import math
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import yaml

from harness.errors import HarnessError, InvalidValueError, SpaceError, SpecError
from harness.search.constraints import Constraints, parse_count
from harness.train.loop import TRAIN_CHECKS, TrainConfig
from harness.zoo.model import FAMILY_OPTIONS, families_using, resolve_spec
from harness.zoo.spec import (
    HEAD_CHECKS,
    NET_CHECKS,
    STAGE_CHECKS,
    STEM_CHECKS,
    ArchSpec,
    Check,
    HeadSpec,
    StageSpec,
    StemSpec,
    check_choice,
    check_int,
)

OBJECTIVES = ("accuracy", "accuracy,flops", "accuracy,params")
TOP_KEYS = ("name", "description", "dataset", "constraints", "stem", "stages", "head", "norm", "activation",
            "drop_path", "train", "search")
SEARCH_CHECKS: dict[str, Check] = {"trials": check_int(1), "objectives": check_choice(OBJECTIVES)}
# Keys whose value is itself a list: a plain list would read as choices, so they are only fixed.
LIST_VALUED = frozenset({"branches", "hidden"})
_PARAM_KEYS = ("value", "choices", "low", "high", "step", "log")
_SCALARS = (str, int, float, bool, type(None))  # null: an optional key's "family default"
# A grid larger than this is not checked value by value (the bounds are).
_MAX_CHECKED_RANGE = 10_000
# architecture_count enumerates the joint values of the controlling parameters (block, stride,
# downsample, stem kind, group_width) of each group of linked stages; past this many
# combinations it gives an upper bound instead (see SearchSpace.architecture_count).
_MAX_ENUMERATED = 1_000_000

Slot = tuple[str, str]  # (section, field): ("stem", "kind"), ("s2", "block"), ("head", "pool"), ...
_MISSING = object()


class TrialLike(Protocol):
    """The part of optuna.Trial that sampling uses."""

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...
    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int: ...
    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None,
                      log: bool = False) -> float: ...


# ------------------------------------------------------------------------ parameters
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
            if len(option) == 1 and _same(option[0], raw):
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


# ------------------------------------------------------------------------ conditions
# The fields whose values decide which other fields apply ("controllers").
_CONTROLLERS = frozenset({"stem.kind", "stage.block", "stage.stride", "stage.downsample",
                          "stage.group_width"})


def _is_stage(section: str) -> bool:
    return section[0] == "s" and section[1:].isdigit()


def _kind(slot: Slot) -> str:
    """"stage.block" for ("s2", "block"), "stem.kind" for ("stem", "kind"), ..."""
    return f"stage.{slot[1]}" if _is_stage(slot[0]) else f"{slot[0]}.{slot[1]}"


def _rule(slot: Slot) -> str | None:
    """Which condition decides whether `slot` applies; None when it always does."""
    section, name = slot
    if section == "stem":
        return None if name == "kind" else "stem"
    if section == "net":
        return "drop_path" if name == "drop_path" else None
    if _is_stage(section):
        if name in ("downsample", "compression", "expansion"):
            return name
        if name in FAMILY_OPTIONS:
            return "option"
    return None


# Order in which slots are decided: a slot's condition reads only slots of lower levels.
_LEVELS = {None: 0, "stem": 1, "downsample": 1, "drop_path": 1, "compression": 2, "option": 2,
           "expansion": 3}


def _default(slot: Slot) -> Any:
    section, name = slot
    if _is_stage(section):
        return getattr(StageSpec(), name)
    cls = {"stem": StemSpec, "head": HeadSpec, "net": ArchSpec, "train": TrainConfig}[section]
    return getattr(cls(), name)


def _families() -> dict[str, tuple[frozenset[str], bool]]:
    """block name -> (the options it reads, whether it has an identity path)."""
    from harness.zoo.blocks import BLOCKS

    return {name: (frozenset(BLOCKS.get(name).options), BLOCKS.get(name).residual)
            for name in BLOCKS.names()}


def _condition_text(slot: Slot) -> str:
    rule = _rule(slot)
    if rule in ("option", "expansion"):
        text = f"for {', '.join(families_using(slot[1]))} blocks"
        return text + (" (not with group_width)" if rule == "expansion" else "")
    if rule == "compression":
        return "where downsample is transition (stride > 1)"
    if rule == "downsample":
        return "where stride > 1"
    if rule == "stem":
        return "unless stem.kind is none"
    if rule == "drop_path":
        residual = [name for name, (_, res) in _families().items() if res]
        return f"with {', '.join(residual)} blocks"
    return ""


@dataclass(frozen=True)
class _Step:
    """One slot to decide, in order: its parameter, the condition it is under, its default."""

    name: str
    slot: Slot
    rule: str | None
    default: Any


# ------------------------------------------------------------------------ the space
@dataclass(frozen=True)
class SearchSpace:
    """A loaded, validated space: named parameters, and where each one goes in spec and config."""

    name: str
    params: dict[str, Param]  # every parameter, fixed ones too, in file order
    stage_count: int
    # (section, field) -> parameter name; stage fields use ("s1", "kernel_size"), ...
    slots: dict[Slot, str]
    description: str = ""
    dataset: str | None = None
    trials: int | None = None
    objectives: str | None = None
    constraints: Constraints = field(default_factory=Constraints)  # hard budgets (constraints: section)
    train_images: int | None = None  # train.images: every trial trains on a subset of this many images
    path: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def searched(self) -> dict[str, Param]:
        """The parameters the sampler picks (not the fixed ones); a conditional one is only asked
        of a trial where it applies (see `conditional`)."""
        return {n: p for n, p in self.params.items() if p.searched}

    @cached_property
    def conditional(self) -> dict[str, str]:
        """Parameter name -> when it applies, for the parameters that do not always apply, e.g.
        {"expansion": "expansion of bottleneck, convnext, dense, inverted_residual blocks"}."""
        out = {}
        for name, slots in self._slots_of.items():
            if name.startswith("train.") or isinstance(self.params[name], Variants):
                continue
            texts = {_condition_text(s) for s in slots}
            if texts != {""}:
                out[name] = "; ".join(sorted(t for t in texts if t))
        return out

    # ---------------------------------------------------------------- sampling
    def suggest(self, trial: TrialLike) -> tuple[ArchSpec, TrainConfig]:
        """Ask `trial` for every searched parameter that applies (controlling parameters first),
        then assemble spec and training config."""

        def value_of(name: str) -> Any:
            return self.params[name].suggest(trial, name)

        return self._assemble(value_of)

    def build(self, values: dict[str, Any]) -> tuple[ArchSpec, TrainConfig]:
        """Spec and training config from the searched parameters' values (fixed ones filled in);
        values of parameters that do not apply may be left out (or be NaN, as in trials.csv)."""
        missing: list[str] = []

        def value_of(name: str) -> Any:
            param = self.params[name]
            raw = values.get(name, _MISSING)
            if raw is _MISSING or raw is None or (isinstance(raw, float) and math.isnan(raw)):
                if None in (param.values() or ()):
                    return None  # a null choice is an empty cell in trials.csv
                missing.append(name)
                return param.example()
            try:
                return param.decode(raw)
            except InvalidValueError as err:
                raise SpaceError(str(err), self.path, name) from None

        spec, config = self._assemble(value_of)
        if missing:
            raise SpaceError(f"no value for searched parameter(s) {', '.join(missing)}", self.path)
        return spec, config

    def sample(self, seed: int = 0) -> tuple[ArchSpec, TrainConfig, dict[str, Any]]:
        """One random architecture (uniform over each parameter), with the parameter values drawn."""
        import optuna

        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "new study created" line
        try:
            study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        finally:
            optuna.logging.set_verbosity(verbosity)
        trial = study.ask()
        spec, config = self.suggest(trial)
        return spec, config, dict(trial.params)

    def _assemble(self, value_of: Callable[[str], Any]) -> tuple[ArchSpec, TrainConfig]:
        got, _ = self._walk(value_of, self._plan)

        def section(prefix: str, cls: type) -> dict[str, Any]:
            return {f.name: got[(prefix, f.name)] for f in dataclasses.fields(cls)
                    if (prefix, f.name) in got}

        spec = ArchSpec(
            stem=StemSpec(**section("stem", StemSpec)),
            stages=tuple(StageSpec(**section(f"s{i}", StageSpec))
                         for i in range(1, self.stage_count + 1)),
            head=HeadSpec(**section("head", HeadSpec)),
            **section("net", ArchSpec),
        )
        return resolve_spec(spec), TrainConfig(**section("train", TrainConfig))

    # ---------------------------------------------------------------- conditions
    @cached_property
    def _slots_of(self) -> dict[str, list[Slot]]:
        out: dict[str, list[Slot]] = {name: [] for name in self.params}
        for slot, name in self.slots.items():
            out[name].append(slot)
        return out

    @cached_property
    def _plan(self) -> list[_Step]:
        """Every slot, in the order it is decided: by level, then parameters in file order."""
        order = {name: i for i, name in enumerate(self.params)}
        steps = [_Step(name, slot, _rule(slot), _default(slot)) for slot, name in self.slots.items()]
        return sorted(steps, key=lambda s: (_LEVELS[s.rule], order[s.name]))

    @cached_property
    def _family_table(self) -> dict[str, tuple[frozenset[str], bool]]:
        return _families()

    def _applies(self, step: _Step, got: dict[Slot, Any]) -> bool:
        rule = step.rule
        if rule is None:
            return True
        section = step.slot[0]
        if rule == "stem":
            return got[("stem", "kind")] != "none"
        if rule == "drop_path":
            return any(self._family_table[got[(f"s{i}", "block")]][1]
                       for i in range(1, self.stage_count + 1))
        if rule == "downsample":
            return got[(section, "stride")] > 1
        if rule == "compression":
            return got[(section, "stride")] > 1 and got[(section, "downsample")] == "transition"
        if step.slot[1] not in self._family_table[got[(section, "block")]][0]:
            return False
        return rule != "expansion" or got.get((section, "group_width")) is None

    def _walk(self, value_of: Callable[[str], Any], plan: list[_Step]
              ) -> tuple[dict[Slot, Any], dict[str, list[Slot]]]:
        """Decide each slot of `plan` in order: the parameter's value (asked of `value_of` once,
        when a first slot of it applies) or the field's default. Returns the slot values and,
        per parameter used, the slots it went to."""
        got: dict[Slot, Any] = {}
        used: dict[str, list[Slot]] = {}
        chosen: dict[str, Any] = {}
        for step in plan:
            if self._applies(step, got):
                param = self.params[step.name]
                if step.name not in chosen:
                    chosen[step.name] = param.value if isinstance(param, Fixed) else value_of(step.name)
                used.setdefault(step.name, []).append(step.slot)
                got[step.slot] = param.pick(chosen[step.name], step.slot)
            else:
                got[step.slot] = step.default
        return got, used

    # ---------------------------------------------------------------- counting
    def architecture_count(self) -> int | None:
        """Number of distinct architectures (distinct specs; training parameters excluded); None
        when infinite. Exact, conditional parameters included: the joint values of the
        controlling parameters (block, stride, downsample, stem kind, group_width) of each group
        of stages that parameters link are enumerated, and the values of the parameters that
        apply there multiplied. Where a group has more than 1e6 such combinations, the product
        of all its parameters' counts is used instead, an upper bound (`count_is_exact` is then
        False, and `describe` says so)."""
        return self._count[0]

    @property
    def count_is_exact(self) -> bool:
        """False when architecture_count is an upper bound (see there)."""
        return self._count[1]

    @cached_property
    def _count(self) -> tuple[int | None, bool]:
        slots_of = self._slots_of
        arch = [n for n in self.params if not n.startswith("train.")]
        controllers = [n for n in arch if any(_kind(s) in _CONTROLLERS for s in slots_of[n])]
        dependent = [n for n in arch if self.params[n].searched and n not in controllers
                     and any(_rule(s) is not None for s in slots_of[n])]
        total, exact = 1, True
        for name in arch:
            if self.params[name].searched and name not in controllers and name not in dependent:
                values = self.params[name].values()
                if values is None:
                    return None, True
                total *= len(values)

        # drop_path applies when any stage's block has an identity path: rather than enumerate
        # every stage's block jointly, count the networks without such a block apart (below).
        drop = [n for n in dependent if any(_rule(s) == "drop_path" for s in slots_of[n])]
        dependent = [n for n in dependent if n not in drop]

        # Group the units (stem, s1, s2, ...) that searched parameters link (a shared stage
        # parameter links its stages); groups are counted apart and multiplied.
        parent: dict[str, str] = {}

        def root(unit: str) -> str:
            while parent.setdefault(unit, unit) != unit:
                unit = parent[unit]
            return unit

        for name in [n for n in controllers if self.params[n].searched] + dependent:
            first, *rest = sorted({s[0] for s in slots_of[name]})
            root(first)
            for unit in rest:
                parent[root(unit)] = root(first)
        groups: dict[str, set[str]] = {}
        for unit in list(parent):
            groups.setdefault(root(unit), set()).add(unit)

        def count(allowed: frozenset[str] | None) -> tuple[int | None, bool]:
            n, exact = 1, True
            for units in groups.values():
                c, group_exact = self._count_group(units, controllers, dependent, allowed)
                if c is None:
                    return None, True
                n, exact = n * c, exact and group_exact
            return n, exact

        every, exact = count(None)
        if every is None:
            return None, True
        if drop:
            values = self.params[drop[0]].values()
            plain_blocks = frozenset(b for b, (_, residual) in self._family_table.items() if not residual)
            # Stages in no group have a fixed block: one with an identity path rules "none" out.
            fixed = [self.params[self.slots[(f"s{i}", "block")]] for i in range(1, self.stage_count + 1)
                     if f"s{i}" not in parent]
            if any(isinstance(p, Fixed) and p.value not in plain_blocks for p in fixed):
                without: int | None = 0
            else:
                without, _ = count(plain_blocks)
            if values is None:
                return (None, True) if every != without else (total * every, exact)
            if not exact or without is None:
                return total * every * len(values), False
            every += (len(values) - 1) * (every - without)
        return total * every, exact

    def _count_group(self, units: set[str], controllers: list[str], dependent: list[str],
                     allowed: frozenset[str] | None = None) -> tuple[int | None, bool]:
        """Distinct settings of the slots of `units`, counting only networks whose blocks there
        are all in `allowed` (when given)."""
        slots_of = self._slots_of
        ctrl = [n for n in controllers if any(s[0] in units for s in slots_of[n])]
        deps = [n for n in dependent if any(s[0] in units for s in slots_of[n])]
        searched = [n for n in ctrl if self.params[n].searched]
        sizes = [len(self.params[n].values() or ()) for n in searched]
        if math.prod(sizes) > _MAX_ENUMERATED:
            bound = math.prod(sizes)
            for name in deps:
                values = self.params[name].values()
                if values is None:
                    return None, True
                bound *= len(values)
            return bound, False
        names = set(ctrl) | set(deps)
        plan = [step for step in self._plan if step.name in names and step.slot[0] in units]
        key_slots = [s for n in ctrl for s in slots_of[n] if s[0] in units]
        block_slots = [s for s in key_slots if s[1] == "block"]
        projections: dict[tuple[str, tuple[Slot, ...]], int | None] = {}
        seen: set[tuple[Any, ...]] = set()
        count = 0
        examples = {n: self.params[n].example() for n in names}
        for combo in itertools.product(*(self.params[n].values() for n in searched)):
            chosen = {**examples, **dict(zip(searched, combo, strict=True))}
            got, used = self._walk(chosen.__getitem__, plan)
            if allowed is not None and any(got[s] not in allowed for s in block_slots):
                continue
            key = tuple(got[s] for s in key_slots)
            if key in seen:
                continue
            seen.add(key)
            product = 1
            for name in deps:
                if name not in used:
                    continue
                blocks = tuple(got.get((s[0], "block")) for s in used[name])
                at = (name, tuple(used[name]), blocks)
                if at not in projections:
                    projections[at] = self._distinct(name, at[1], blocks)
                n = projections[at]
                if n is None:
                    return None, True
                product *= n
            count += product
        return count, True

    def _distinct(self, name: str, slots: tuple[Slot, ...], blocks: tuple[str | None, ...]) -> int | None:
        """How many different values `slots` (of stages with `blocks`) get from the parameter's
        values, once resolve_spec has put the family default in place of null."""
        from harness.zoo.blocks import BLOCKS

        param = self.params[name]
        values = param.values()
        if values is None:
            return None

        def resolved(value: Any, slot: Slot, block: str | None) -> Any:
            value = param.pick(value, slot)
            if value is None and block is not None:
                return BLOCKS.get(block).defaults.get(slot[1])
            return value

        return len({tuple(resolved(v, s, b) for s, b in zip(slots, blocks, strict=True)) for v in values})

    # ---------------------------------------------------------------- text
    def describe(self) -> str:
        """The parameters as text: one line each, searched ones first; a conditional one says
        where it applies (e.g. the block families that read it)."""
        lines = []
        searched = self.searched
        width = max((len(n) for n in searched), default=0)
        shown = {n: str(p) for n, p in searched.items()}
        column = min(max((len(s) for s in shown.values()), default=0), 45)
        for name, text in shown.items():
            when = self.conditional.get(name)
            line = f"  {name:<{width}}  {text}"
            if when:
                line = f"{line:<{width + column + 4}}  only {when}"
            lines.append(line.rstrip())
        fixed = [f"{n}={p}" for n, p in self.params.items() if not p.searched]
        if fixed:
            lines.append(textwrap.fill("fixed: " + ", ".join(fixed), width=100,
                                       initial_indent="  ", subsequent_indent="    "))
        if not self.count_is_exact:
            lines.append("  (too many block/stride/downsample combinations to enumerate: the count "
                         "of architectures is an upper bound)")
        return "\n".join(lines)


# ------------------------------------------------------------------------ loading
def load_space(path: str | Path) -> SearchSpace:
    """Read and validate a search-space YAML file; any problem raises SpaceError naming file and key."""
    path = Path(path)
    if not path.exists():
        raise SpaceError("no such file", str(path))
    if path.is_dir():
        raise SpaceError("is a folder, not a search-space file", str(path))
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise SpaceError(f"not valid YAML{where}: {problem}", str(path)) from None
    except UnicodeDecodeError:
        raise SpaceError("not a text file", str(path)) from None
    return space_from_dict(data, path=str(path), default_name=path.stem)


def space_from_dict(data: Any, *, path: str | None = None, default_name: str = "space") -> SearchSpace:
    """Validate a parsed search-space mapping (as from YAML) and build the SearchSpace."""
    p = _Parser(path)
    if data is None:
        raise SpaceError("the file is empty", path)
    data = p.mapping(data, "", TOP_KEYS)
    params: dict[str, Param] = {}
    slots: dict[Slot, str] = {}

    def add(name: str, slot: Slot, param: Param) -> None:
        params.setdefault(name, param)
        slots[slot] = name

    stem = p.mapping(data.get("stem", {}), "stem", ("variants", *STEM_CHECKS))
    variant_fields: list[str] = []
    if "variants" in stem:
        variants = p.variants(stem["variants"], "stem", stem, STEM_CHECKS, StemSpec(),
                              "{resnet: {kind: imagenet, kernel_size: 3}, "
                              "patchify: {kind: patchify, kernel_size: 2, stride: 2}}")
        variant_fields = variants.fields
        for key in variant_fields:
            add("stem", ("stem", key), variants)
    for key, check in STEM_CHECKS.items():
        if key not in variant_fields:
            add(f"stem.{key}", ("stem", key), p.param(stem.get(key, getattr(StemSpec(), key)),
                                                       f"stem.{key}", check))
    head = p.mapping(data.get("head", {}), "head", HEAD_CHECKS)
    for key, check in HEAD_CHECKS.items():
        add(f"head.{key}", ("head", key), p.param(head.get(key, getattr(HeadSpec(), key)),
                                                   f"head.{key}", check, listed=key in LIST_VALUED))
    for key, check in _net_checks().items():
        add(key, ("net", key), p.param(data.get(key, getattr(ArchSpec(), key)), key, check))

    stages_raw = data.get("stages")
    if stages_raw is None:
        raise SpaceError("missing; give at least `count` and the stage parameters", path, "stages")
    stage_checks = _stage_checks()
    stages = p.mapping(stages_raw, "stages", ("count", "variants", *stage_checks))
    count = p.stage_count(stages)
    variant_fields = []
    if "variants" in stages:
        variants = p.variants(stages["variants"], "stages", stages, stage_checks, StageSpec(),
                              "{resnet: {block: bottleneck, downsample: conv}, "
                              "convnext: {block: convnext, downsample: patch}}")
        variant_fields = variants.fields
        for key in variant_fields:
            for i in range(1, count + 1):
                add("stages", (f"s{i}", key), variants)
    for key, check in stage_checks.items():
        if key in variant_fields:
            continue
        raw = stages.get(key, getattr(StageSpec(), key))
        for i, (name, param) in enumerate(p.stage_param(raw, key, check, count, listed=key in LIST_VALUED),
                                          start=1):
            add(name, (f"s{i}", key), param)
    p.check_stem(params, slots)
    p.check_options(stages, params, slots, count)

    train = p.mapping(data.get("train", {}), "train", (*TRAIN_CHECKS, "images"))
    # train.images is a data fidelity, one value for the whole study (every trial must train on
    # the same images to compare), so it is a fixed whole number, never searched.
    train_images = train.get("images")
    if train_images is not None:
        if isinstance(train_images, dict | list):
            raise SpaceError("a subset size for the whole study (every trial trains on the same images), "
                             "so one whole number, not searched", path, "train.images")
        p.check(check_int(2), train_images, "train.images")
    for key, check in TRAIN_CHECKS.items():
        default = getattr(TrainConfig(), key)
        add(f"train.{key}", ("train", key), p.param(train.get(key, default), f"train.{key}", check))

    raw_constraints = p.mapping(data.get("constraints") or {}, "constraints", ("max_flops", "max_params"))
    bounds: dict[str, float] = {}
    for key, value in raw_constraints.items():
        try:
            bounds[key] = parse_count(value, "the bound")
        except InvalidValueError as err:
            raise SpaceError(str(err), path, f"constraints.{key}") from None
    search = p.mapping(data.get("search", {}), "search", SEARCH_CHECKS)
    for key, check in SEARCH_CHECKS.items():
        if key in search:
            p.check(check, search[key], f"search.{key}")

    name = data.get("name", default_name)
    description = data.get("description", "")
    dataset = data.get("dataset")
    for key, value in (("name", name), ("description", description)):
        if not isinstance(value, str):
            raise SpaceError(f"must be a string, not {value!r}", path, key)
    if dataset is not None:
        from harness.data import parse_dataset

        if not isinstance(dataset, str):
            raise SpaceError(f"must be a dataset name (NAME or NAME:PATH), not {dataset!r}", path, "dataset")
        try:
            parse_dataset(dataset)
        except HarnessError as err:
            raise SpaceError(str(err), path, "dataset") from None
    return SearchSpace(
        name=name, params=params, stage_count=count, slots=slots, description=description,
        dataset=dataset, trials=search.get("trials"), objectives=search.get("objectives"),
        constraints=Constraints(**bounds), train_images=train_images,
        path=path, raw=data,
    )


def _net_checks() -> dict[str, Check]:
    from harness.zoo.layers import ACTIVATIONS, NORMS

    return {"norm": check_choice(tuple(NORMS.names())),
            "activation": check_choice(tuple(ACTIVATIONS.names())),
            "drop_path": NET_CHECKS["drop_path"]}


def _stage_checks() -> dict[str, Check]:
    from harness.zoo.blocks import BLOCKS

    return {**STAGE_CHECKS, "block": check_choice(tuple(BLOCKS.names()))}


def _possible(params: dict[str, Param], slots: dict[Slot, str], slot: Slot) -> list[Any]:
    """The values `slot` can get (before conditions), in order, without repeats."""
    param = params[slots[slot]]
    values = param.values()
    if values is None:
        return []
    out: list[Any] = []
    for value in values[:_MAX_CHECKED_RANGE]:
        v = param.pick(value, slot)
        if v not in out:
            out.append(v)
    return out


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same kind: 1 and 1.0 are the same value to a spec, True and 1 are not."""
    return a == b and isinstance(a, bool) == isinstance(b, bool) and isinstance(a, str) == isinstance(b, str)


class _Parser:
    """Turns raw YAML values into Params, raising SpaceError(file, key) on the first problem."""

    def __init__(self, path: str | None) -> None:
        self.path = path

    def error(self, key: str, message: str) -> SpaceError:
        return SpaceError(message, self.path, key or None)

    def check(self, check: Check, value: Any, key: str) -> None:
        try:
            check("value", value)
        except InvalidValueError as err:
            raise self.error(key, str(err)) from None

    def mapping(self, raw: Any, key: str, valid: Iterable[str]) -> dict[str, Any]:
        valid = list(valid)
        if not isinstance(raw, dict):
            what = "the file" if not key else "this section"
            raise self.error(key, f"{what} must be a mapping of keys ({', '.join(valid)}), "
                                  f"not {type(raw).__name__}")
        for k in raw:
            if k not in valid:
                hint = difflib.get_close_matches(str(k), valid, n=1)
                maybe = f" (did you mean {hint[0]!r}?)" if hint else ""
                raise self.error(f"{key}.{k}" if key else str(k),
                                 f"unknown key{maybe}; valid keys here: {', '.join(valid)}")
        return raw

    def param(self, raw: Any, key: str, check: Check, *, per_stage_ok: bool = False,
              listed: bool = False) -> Param:
        """A Param from a scalar, a list of choices or a mapping; every possible value is checked.
        A `listed` key takes a list as one value, so it can only be fixed ({value: [...]})."""
        if listed:
            return self._listed(raw, key, check, per_stage_ok)
        if isinstance(raw, list):
            return self._choice(raw, key, check)
        if isinstance(raw, dict):
            allowed = _PARAM_KEYS + (("per_stage",) if per_stage_ok else ())
            body = {k: v for k, v in self.mapping(raw, key, allowed).items() if k != "per_stage"}
            if "value" in body:
                if len(body) > 1:
                    raise self.error(key, "`value` fixes the parameter; it takes no other keys")
                return self._fixed(body["value"], key, check)
            if "choices" in body:
                if len(body) > 1:
                    raise self.error(key, "`choices` takes no other keys (low/high/step/log are for ranges)")
                if not isinstance(body["choices"], list):
                    raise self.error(key, "`choices` must be a list")
                return self._choice(body["choices"], key, check)
            if "low" in body or "high" in body:
                return self._range(body, key, check)
            raise self.error(key, "a parameter mapping needs `value`, `choices`, or `low` and `high`")
        return self._fixed(raw, key, check)

    def _listed(self, raw: Any, key: str, check: Check, per_stage_ok: bool) -> Fixed:
        leaf = key.rsplit(".", 1)[-1].split("[")[0]
        hint = (f"`{leaf}` takes a list as one value and a plain list means a choice of values: fix it "
                f"as {{value: [...]}} (a list-valued key can only be fixed)")
        if isinstance(raw, list):
            raise self.error(key, hint)
        if isinstance(raw, dict):
            body = {k: v for k, v in raw.items() if not (per_stage_ok and k == "per_stage")}
            if set(body) != {"value"}:
                raise self.error(key, hint)
            raw = body["value"]
        self.check(check, raw, key)
        return Fixed(tuple(raw) if isinstance(raw, list) else raw)

    def _fixed(self, value: Any, key: str, check: Check) -> Fixed:
        self.check(check, value, key)
        return Fixed(value)

    def _choice(self, options: list[Any], key: str, check: Check) -> Choice:
        if not options:
            raise self.error(key, "empty list of choices; give at least one value")
        for value in options:
            if not isinstance(value, _SCALARS):
                raise self.error(key, f"a choice must be a single value, not {value!r}")
            try:
                check("choice", value)
            except InvalidValueError as err:
                raise self.error(key, str(err)) from None
        self._no_repeats(options, key, "choices")
        return Choice(tuple(options))

    def _no_repeats(self, options: list[Any], key: str, what: str) -> None:
        for i, a in enumerate(options):
            if any(_same(a, b) for b in options[:i]):
                raise self.error(key, f"{what} repeat a value: {options}")

    def _range(self, body: dict[str, Any], key: str, check: Check) -> Param:
        if "low" not in body or "high" not in body:
            raise self.error(key, "a range needs both `low` and `high`")
        low, high, step, log = body["low"], body["high"], body.get("step"), body.get("log", False)
        for what, value in (("low", low), ("high", high), ("step", step)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise self.error(key, f"`{what}` must be a number, not {value!r}")
        if not isinstance(log, bool):
            raise self.error(key, f"`log` must be true or false, not {log!r}")
        if not low <= high:
            raise self.error(key, f"`low` ({low}) must not exceed `high` ({high})")
        if step is not None and step <= 0:
            raise self.error(key, f"`step` must be positive, not {step}")
        if log and step is not None:
            raise self.error(key, "a range is either `log` or stepped, not both")
        if log and low <= 0:
            raise self.error(key, f"a log range needs `low` > 0, not {low}")
        if all(isinstance(v, int) for v in (low, high, step or 1)):
            param: Param = IntRange(low, high, step or 1, log)
        else:
            if step is not None and not math.isclose(((high - low) / step) % 1, 0, abs_tol=1e-9):
                raise self.error(key, f"`step` {step} does not divide the range {low}..{high}")
            param = FloatRange(float(low), float(high), None if step is None else float(step), log)
        values = param.values()
        if values is not None and len(values) > _MAX_CHECKED_RANGE:
            # The checks are intervals or parity, so both ends and the second value reveal a problem.
            values = [values[0], values[1], values[-1]]
        to_check = values if values is not None else [low, high]
        for value in to_check:
            try:
                check("value", value)
            except InvalidValueError as err:
                raise self.error(key, f"the range {low}..{high} includes {value!r}: {err}") from None
        return param

    def variants(self, raw: Any, section: str, given: dict[str, Any], checks: dict[str, Check],
                 defaults: object, example: str) -> Variants:
        """`<section>.variants`: {name: {key: value, ...}, ...}, each fixing some keys of the
        section together; a key that some variant sets and another does not takes the default."""
        key = f"{section}.variants"
        if not isinstance(raw, dict) or not raw:
            raise self.error(key, f"must map variant names to settings, e.g. {example}")
        fields: list[str] = []
        for name, settings in raw.items():
            if settings is None:
                settings = raw[name] = {}
            self.mapping(settings, f"{key}.{name}", checks)
            for k, value in settings.items():
                where = f"{key}.{name}.{k}"
                if k in LIST_VALUED and isinstance(value, list):
                    value = settings[k] = tuple(value)
                if isinstance(value, (list, dict)):
                    raise self.error(where, f"a variant fixes its values; search other {section} keys "
                                            "beside `variants`, shared by all variants")
                self.check(checks[k], value, where)
                if k not in fields:
                    fields.append(k)
        for k in fields:
            if k in given:
                raise self.error(f"{section}.{k}", f"set both here and by {key}: give it in one place")
        fields = [k for k in checks if k in fields]
        if not fields:
            raise self.error(key, f"the variants set no {section} keys; e.g. {example}")
        table = tuple((str(name), tuple((k, settings.get(k, getattr(defaults, k))) for k in fields))
                      for name, settings in raw.items())
        seen: dict[tuple[tuple[str, Any], ...], str] = {}
        for name, settings in table:
            if settings in seen:
                raise self.error(f"{key}.{name}", f"the same settings as variant {seen[settings]!r}")
            seen[settings] = name
        return Variants(table)

    def stage_count(self, stages: dict[str, Any]) -> int:
        lengths = {len(v["each"]) for v in stages.values() if isinstance(v, dict) and "each" in v
                   and isinstance(v["each"], list)}
        lengths |= {len(v["patterns"][0]) for v in stages.values() if isinstance(v, dict)
                    and isinstance(v.get("patterns"), list) and v["patterns"]
                    and isinstance(v["patterns"][0], list)}
        if "count" in stages:
            self.check(check_int(1), stages["count"], "stages.count")
            return int(stages["count"])
        if len(lengths) == 1:
            return lengths.pop()
        if len(lengths) > 1:
            raise self.error("stages", f"the `each` and `patterns` lists have different lengths "
                                       f"{sorted(lengths)}: give one entry per stage (and `count`)")
        raise self.error("stages.count", "missing: say how many stages the network has")

    def stage_param(self, raw: Any, key: str, check: Check, count: int, *, listed: bool = False
                    ) -> list[tuple[str, Param]]:
        """(name, param) for each stage: one shared parameter, one per stage, an explicit list,
        or one choice among per-stage patterns."""
        full = f"stages.{key}"
        stages = f"{count} stage" + ("s" if count != 1 else "")
        if isinstance(raw, dict) and "each" in raw:
            if len(raw) > 1:
                raise self.error(full, "`each` takes no other keys")
            each = raw["each"]
            if not isinstance(each, list):
                raise self.error(full, "`each` must be a list with one parameter per stage")
            if len(each) != count:
                raise self.error(full, f"`each` has {len(each)} entries for {stages}; give one per stage")
            return [(f"s{i}.{key}", self.param(p, f"{full}[{i}]", check, listed=listed))
                    for i, p in enumerate(each, start=1)]
        if isinstance(raw, dict) and "patterns" in raw:
            return self._patterns(raw, full, key, check, count, listed)
        per_stage = isinstance(raw, dict) and raw.get("per_stage", False)
        if not isinstance(per_stage, bool):
            raise self.error(full, f"`per_stage` must be true or false, not {per_stage!r}")
        param = self.param(raw, full, check, per_stage_ok=True, listed=listed)
        if per_stage and param.searched:
            return [(f"s{i}.{key}", param) for i in range(1, count + 1)]
        return [(key, param)] * count

    def _patterns(self, raw: dict[str, Any], full: str, key: str, check: Check, count: int,
                  listed: bool) -> list[tuple[str, Param]]:
        stages = f"{count} stage" + ("s" if count != 1 else "")
        if len(raw) > 1:
            raise self.error(full, "`patterns` takes no other keys")
        if listed:
            raise self.error(full, f"`{key}` takes a list as one value: it cannot be searched by "
                                   "patterns; fix it per stage with {each: [{value: [...]}, ...]}")
        patterns = raw["patterns"]
        if not isinstance(patterns, list) or not patterns:
            raise self.error(full, "`patterns` must be a non-empty list of per-stage lists, "
                                   "e.g. [[1, 1, 2], [2, 2, 2]]")
        for j, pattern in enumerate(patterns, start=1):
            if not isinstance(pattern, list) or len(pattern) != count:
                raise self.error(full, f"pattern {j} ({pattern!r}) must list one value for each of "
                                       f"the {stages}")
            for value in pattern:
                if not isinstance(value, _SCALARS):
                    raise self.error(full, f"pattern {j}: a value must be a single value, not {value!r}")
                try:
                    check(f"pattern {j}: value", value)
                except InvalidValueError as err:
                    raise self.error(full, str(err)) from None
        # Compared as values, not labels: [1, 2] and [1.0, 2.0] are the same pattern.
        self._no_repeats(patterns, full, "patterns")
        if len(patterns) == 1:
            return [(f"s{i}.{key}", Fixed(v)) for i, v in enumerate(patterns[0], start=1)]
        param = Pattern(tuple(tuple(pattern) for pattern in patterns))
        return [(key, param)] * count

    # ---------------------------------------------------------------- checks across keys
    def check_stem(self, params: dict[str, Param], slots: dict[Slot, str]) -> None:
        """Each stem value must make a valid stem with some values of the others (an even kernel
        only with a patchify stem, kernel_size = stride for patchify, width % 3 for googlenet)."""
        from harness.zoo.spec import StemSpec as Stem

        fields = list(STEM_CHECKS)
        variant = params.get("stem")
        own = [f for f in fields if slots[("stem", f)] != "stem"]
        rows: list[dict[str, Any]] = []
        base = [dict(variant.table[i][1]) for i in range(len(variant.table))] if isinstance(
            variant, Variants) else [{}]
        choices = [_possible(params, slots, ("stem", f)) for f in own]
        if math.prod(len(c) for c in choices) * len(base) > _MAX_CHECKED_RANGE:
            return
        for fixed in base:
            for combo in itertools.product(*choices):
                rows.append({**fixed, **dict(zip(own, combo, strict=True))})

        def problem(row: dict[str, Any]) -> str | None:
            try:
                ArchSpec(stem=Stem(**row), stages=(StageSpec(),)).validate()
            except SpecError as err:
                return str(err)
            return None

        rows = [r for r in rows if r["kind"] != "none"]  # without a stem the other values are unused
        reasons = [problem(r) for r in rows]
        if isinstance(variant, Variants):
            for name, settings in variant.table:
                mine = [why for r, why in zip(rows, reasons, strict=True)
                        if all(r[k] == v for k, v in settings)]
                if mine and all(mine):
                    raise self.error(f"stem.variants.{name}", mine[0])
        # A value that makes no valid stem with any values of the others is refused, under the
        # key the reason is about (with one kind and one kernel, both fail: blame the kernel).
        order = ("kernel_size", "stride", "width", "kind")
        for f, values in sorted(zip(own, choices, strict=True), key=lambda fv: order.index(fv[0])):
            for value in values:
                mine = [why for r, why in zip(rows, reasons, strict=True) if r[f] == value]
                if mine and all(mine) and (f == "kind" or f in mine[0]):
                    raise self.error(f"stem.{f}", mine[0])

    def check_options(self, stages: dict[str, Any], params: dict[str, Param], slots: dict[Slot, str],
                      count: int) -> None:
        """A family option (or compression) given where no stage can ever read it is a mistake."""
        variants = params.get("stages")
        if isinstance(variants, Variants):
            for name, settings in variants.table:
                fixed = dict(settings)
                for key, value in settings:
                    if key not in (*FAMILY_OPTIONS, "compression") or value == getattr(StageSpec(), key):
                        continue
                    if key == "compression":
                        ok = fixed.get("downsample", "transition") == "transition"
                        why = "`compression` is only read by a `downsample: transition` stage"
                    else:
                        blocks = ([fixed["block"]] if "block" in fixed else
                                  sorted({b for i in range(1, count + 1)
                                          for b in _possible(params, slots, (f"s{i}", "block"))}))
                        ok = any(key in _families()[b][0] for b in blocks)
                        why = (f"block(s) {', '.join(blocks)} do not read `{key}` (the families that "
                               f"do: {', '.join(families_using(key))})")
                    if not ok:
                        raise self.error(f"stages.variants.{name}.{key}", why)
        for key in (*FAMILY_OPTIONS, "compression"):
            if key not in stages:
                continue
            default = getattr(StageSpec(), key)
            readable = []
            for i in range(1, count + 1):
                if key == "compression":
                    ok = ("transition" in _possible(params, slots, (f"s{i}", "downsample"))
                          and any(s > 1 for s in _possible(params, slots, (f"s{i}", "stride"))))
                else:
                    ok = any(key in _families()[b][0]
                             for b in _possible(params, slots, (f"s{i}", "block")))
                readable.append(ok)
            given = [not (isinstance(params[slots[(f"s{i}", key)]], Fixed)
                          and params[slots[(f"s{i}", key)]].value == default) for i in range(1, count + 1)]
            if not any(given):
                continue
            families = ", ".join(families_using(key))
            blocks = sorted({b for i in range(1, count + 1) for b in _possible(params, slots, (f"s{i}", "block"))})
            if key == "compression":
                why = ("`compression` is the width ratio of a DenseNet transition, but no stage here "
                       "downsamples with `downsample: transition` at a stride > 1")
            else:
                why = (f"no stage here can get a block that reads `{key}` (blocks here: {', '.join(blocks)}); "
                       f"the families that read it: {families}")
            if not any(readable):
                raise self.error(f"stages.{key}", why)
            raw = stages[key]
            if isinstance(raw, dict) and "each" in raw:
                for i in range(1, count + 1):
                    if given[i - 1] and not readable[i - 1]:
                        what = (f"stage {i} never downsamples with `transition` at a stride > 1"
                                if key == "compression" else
                                f"stage {i} can only get block(s) "
                                f"{', '.join(_possible(params, slots, (f's{i}', 'block')))}, which do not "
                                f"read `{key}` (the families that do: {families})")
                        raise self.error(f"stages.{key}[{i}]",
                                         f"{what}; leave this stage at the default "
                                         f"({'null' if default is None else default})")
