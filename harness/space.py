"""SearchSpace: a YAML file -> named parameters (fixed, choices, ranges) -> ArchSpec + TrainConfig.

The only code that calls `trial.suggest_*`. File format (documented in search_spaces/README.md):

    name: kernel_size            # optional; the study name defaults to the file's stem
    dataset: default             # optional; --dataset overrides
    stem:   {width: 16, kernel_size: 3, stride: 1}
    stages:
      count: 3
      width: {each: [16, 32, 64]}                      # one parameter per stage
      kernel_size: {choices: [3, 5, 7, 9], per_stage: true}   # searched separately per stage
      dilation: [1, 2]                                 # a list: choices shared by all stages
    head:   {pool: avg, dropout: 0.0}
    norm: batch
    activation: relu
    train:  {epochs: 4, lr: {low: 1.0e-3, high: 1.0e-2, log: true}}
    search: {trials: 12}

A parameter is a fixed value, a list of choices, or a mapping: {value: V}, {choices: [...]},
{low: L, high: H, step: S, log: true|false} (integers when L, H and S are integers). In `stages`,
a parameter is shared by all stages unless it says `per_stage: true` or is given as
{each: [p1, p2, ...]}, one parameter per stage. Searched parameters are named by where they sit:
`stem.width`, `kernel_size` (shared by the stages), `s2.kernel_size` (stage 2), `norm`,
`head.dropout`, `train.lr`.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from harness.errors import InvalidValueError, SpaceError
from harness.spec import (
    HEAD_CHECKS,
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
from harness.train import TRAIN_CHECKS, TrainConfig

OBJECTIVES = ("accuracy", "accuracy,flops", "accuracy,params")
TOP_KEYS = ("name", "description", "dataset", "stem", "stages", "head", "norm", "activation",
            "train", "search")
SEARCH_CHECKS: dict[str, Check] = {"trials": check_int(1), "objectives": check_choice(OBJECTIVES)}
_PARAM_KEYS = ("value", "choices", "low", "high", "step", "log")
_SCALARS = (str, int, float, bool)
# A grid larger than this is not checked value by value (the bounds are).
_MAX_CHECKED_RANGE = 10_000


class TrialLike(Protocol):
    """The part of optuna.Trial that sampling uses."""

    def suggest_categorical(self, name: str, choices: Any) -> Any: ...
    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int: ...
    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None,
                      log: bool = False) -> float: ...


# ------------------------------------------------------------------------ parameters
@dataclass(frozen=True)
class Param:
    """One parameter of the space. Subclasses: Fixed, Choice, IntRange, FloatRange."""

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

    def __str__(self) -> str:
        kind = " (log)" if self.log else (f" step {self.step}" if self.step else "")
        return f"float {self.low}..{self.high}{kind}"


# ------------------------------------------------------------------------ the space
@dataclass(frozen=True)
class SearchSpace:
    """A loaded, validated space: named parameters, and where each one goes in spec and config."""

    name: str
    params: dict[str, Param]  # every parameter, fixed ones too, in file order
    stage_count: int
    # (section, field) -> parameter name; stage fields use ("s1", "kernel_size"), ...
    slots: dict[tuple[str, str], str]
    description: str = ""
    dataset: str | None = None
    trials: int | None = None
    objectives: str | None = None
    path: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def searched(self) -> dict[str, Param]:
        """The parameters the sampler picks (not the fixed ones)."""
        return {n: p for n, p in self.params.items() if p.searched}

    def architecture_count(self) -> int | None:
        """Number of distinct architectures (training parameters excluded); None when infinite."""
        total = 1
        for name, param in self.searched.items():
            if name.startswith("train."):
                continue
            values = param.values()
            if values is None:
                return None
            total *= len(values)
        return total

    def suggest(self, trial: TrialLike) -> tuple[ArchSpec, TrainConfig]:
        """Sample every searched parameter from `trial`, then assemble spec and training config."""
        values = {name: param.suggest(trial, name) for name, param in self.searched.items()}
        return self.build(values)

    def build(self, values: dict[str, Any]) -> tuple[ArchSpec, TrainConfig]:
        """Spec and training config from the searched parameters' values (fixed ones filled in)."""
        missing = [n for n in self.searched if n not in values]
        if missing:
            raise SpaceError(f"no value for searched parameter(s) {', '.join(missing)}", self.path)
        full = {n: (p.value if isinstance(p, Fixed) else values[n]) for n, p in self.params.items()}
        get = {slot: full[name] for slot, name in self.slots.items()}

        def section(prefix: str, cls: type) -> dict[str, Any]:
            return {f.name: get[(prefix, f.name)] for f in dataclasses.fields(cls)
                    if (prefix, f.name) in get}

        spec = ArchSpec(
            stem=StemSpec(**section("stem", StemSpec)),
            stages=tuple(StageSpec(**section(f"s{i}", StageSpec))
                         for i in range(1, self.stage_count + 1)),
            head=HeadSpec(**section("head", HeadSpec)),
            **section("net", ArchSpec),
        )
        return spec, TrainConfig(**section("train", TrainConfig))

    def sample(self, seed: int = 0) -> tuple[ArchSpec, TrainConfig, dict[str, Any]]:
        """One random architecture (uniform over the space), with the parameter values drawn."""
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

    def describe(self) -> str:
        """The parameters as text: one line each, searched ones first."""
        lines = []
        searched = self.searched
        width = max((len(n) for n in self.params), default=0)
        for name, param in searched.items():
            lines.append(f"  {name:<{width}}  {param}")
        fixed = [f"{n}={p}" for n, p in self.params.items() if not p.searched]
        if fixed:
            lines.append(textwrap.fill("fixed: " + ", ".join(fixed), width=100,
                                       initial_indent="  ", subsequent_indent="    "))
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
    slots: dict[tuple[str, str], str] = {}

    def add(name: str, slot: tuple[str, str], param: Param) -> None:
        params.setdefault(name, param)
        slots[slot] = name

    stem = p.mapping(data.get("stem", {}), "stem", STEM_CHECKS)
    for key, check in STEM_CHECKS.items():
        add(f"stem.{key}", ("stem", key), p.param(stem.get(key, getattr(StemSpec(), key)),
                                                   f"stem.{key}", check))
    head = p.mapping(data.get("head", {}), "head", HEAD_CHECKS)
    for key, check in HEAD_CHECKS.items():
        add(f"head.{key}", ("head", key), p.param(head.get(key, getattr(HeadSpec(), key)),
                                                   f"head.{key}", check))
    for key, check in _net_checks().items():
        add(key, ("net", key), p.param(data.get(key, getattr(ArchSpec(), key)), key, check))

    stages_raw = data.get("stages")
    if stages_raw is None:
        raise SpaceError("missing; give at least `count` and the stage parameters", path, "stages")
    stage_checks = _stage_checks()
    stages = p.mapping(stages_raw, "stages", ("count", *stage_checks))
    count = p.stage_count(stages)
    for key, check in stage_checks.items():
        raw = stages.get(key, getattr(StageSpec(), key))
        for i, (name, param) in enumerate(p.stage_param(raw, key, check, count), start=1):
            add(name, (f"s{i}", key), param)

    train = p.mapping(data.get("train", {}), "train", TRAIN_CHECKS)
    for key, check in TRAIN_CHECKS.items():
        default = getattr(TrainConfig(), key)
        add(f"train.{key}", ("train", key), p.param(train.get(key, default), f"train.{key}", check))

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
        from harness.data import DATASETS

        p.check(check_choice(tuple(DATASETS.names())), dataset, "dataset")
    return SearchSpace(
        name=name, params=params, stage_count=count, slots=slots, description=description,
        dataset=dataset, trials=search.get("trials"), objectives=search.get("objectives"),
        path=path, raw=data,
    )


def _net_checks() -> dict[str, Check]:
    from harness.layers import ACTIVATIONS, NORMS

    return {"norm": check_choice(tuple(NORMS.names())),
            "activation": check_choice(tuple(ACTIVATIONS.names()))}


def _stage_checks() -> dict[str, Check]:
    from harness.blocks import BLOCKS

    return {**STAGE_CHECKS, "block": check_choice(tuple(BLOCKS.names()))}


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

    def param(self, raw: Any, key: str, check: Check, *, per_stage_ok: bool = False) -> Param:
        """A Param from a scalar, a list of choices or a mapping; every possible value is checked."""
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
        if len(set(map(repr, options))) != len(options):
            raise self.error(key, f"choices repeat a value: {options}")
        return Choice(tuple(options))

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

    def stage_count(self, stages: dict[str, Any]) -> int:
        lengths = {len(v["each"]) for v in stages.values() if isinstance(v, dict) and "each" in v
                   and isinstance(v["each"], list)}
        if "count" in stages:
            self.check(check_int(1), stages["count"], "stages.count")
            return int(stages["count"])
        if len(lengths) == 1:
            return lengths.pop()
        if len(lengths) > 1:
            raise self.error("stages", f"the `each` lists have different lengths {sorted(lengths)}: "
                                       "give one entry per stage (and `count`)")
        raise self.error("stages.count", "missing: say how many stages the network has")

    def stage_param(self, raw: Any, key: str, check: Check, count: int) -> list[tuple[str, Param]]:
        """(name, param) for each stage: one shared parameter, one per stage, or an explicit list."""
        full = f"stages.{key}"
        if isinstance(raw, dict) and "each" in raw:
            if len(raw) > 1:
                raise self.error(full, "`each` takes no other keys")
            each = raw["each"]
            if not isinstance(each, list):
                raise self.error(full, "`each` must be a list with one parameter per stage")
            if len(each) != count:
                stages = f"{count} stage" + ("s" if count != 1 else "")
                raise self.error(full, f"`each` has {len(each)} entries for {stages}; give one per stage")
            return [(f"s{i}.{key}", self.param(p, f"{full}[{i}]", check))
                    for i, p in enumerate(each, start=1)]
        per_stage = isinstance(raw, dict) and raw.get("per_stage", False)
        if not isinstance(per_stage, bool):
            raise self.error(full, f"`per_stage` must be true or false, not {per_stage!r}")
        param = self.param(raw, full, check, per_stage_ok=True)
        if per_stage and param.searched:
            return [(f"s{i}.{key}", param) for i in range(1, count + 1)]
        return [(key, param)] * count
