"""Sampling: parameter values -> ArchSpec + TrainConfig, from a trial (`suggest`, the only code that
calls `trial.suggest_*`) or from recorded values (`build`); `random_trial` for `SearchSpace.sample`."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

from harness.errors import InvalidValueError, SpaceError
from harness.search.space.params import TrialLike
from harness.search.space.rules import Plan
from harness.train.loop import TrainConfig
from harness.zoo.model import resolve_spec
from harness.zoo.spec import ArchSpec, HeadSpec, StageSpec, StemSpec

_MISSING = object()


def assemble(plan: Plan, value_of: Callable[[str], Any]) -> tuple[ArchSpec, TrainConfig]:
    """Walk `plan`, asking `value_of` for each parameter that applies, and build spec and config."""
    got, _ = plan.walk(value_of)

    def section(prefix: str, cls: type) -> dict[str, Any]:
        return {f.name: got[(prefix, f.name)] for f in dataclasses.fields(cls) if (prefix, f.name) in got}

    spec = ArchSpec(
        stem=StemSpec(**section("stem", StemSpec)),
        stages=tuple(StageSpec(**section(f"s{i}", StageSpec)) for i in range(1, plan.stage_count + 1)),
        head=HeadSpec(**section("head", HeadSpec)),
        **section("net", ArchSpec),
    )
    return resolve_spec(spec), TrainConfig(**section("train", TrainConfig))


def suggest(plan: Plan, trial: TrialLike) -> tuple[ArchSpec, TrainConfig]:
    """Ask `trial` for every searched parameter that applies (controlling parameters first), then
    assemble spec and training config."""

    def value_of(name: str) -> Any:
        return plan.params[name].suggest(trial, name)

    return assemble(plan, value_of)


def build(plan: Plan, values: dict[str, Any], path: str | None) -> tuple[ArchSpec, TrainConfig]:
    """Spec and training config from the searched parameters' values (fixed ones filled in); values
    of parameters that do not apply may be left out (or be NaN, as in trials.csv). A missing or
    bad value raises SpaceError naming `path`."""
    missing: list[str] = []

    def value_of(name: str) -> Any:
        param = plan.params[name]
        raw = values.get(name, _MISSING)
        if raw is _MISSING or raw is None or (isinstance(raw, float) and math.isnan(raw)):
            if None in (param.values() or ()):
                return None  # a null choice is an empty cell in trials.csv
            missing.append(name)
            return param.example()
        try:
            return param.decode(raw)
        except InvalidValueError as err:
            raise SpaceError(str(err), path, name) from None

    spec, config = assemble(plan, value_of)
    # Only the parameters that apply are asked for, so which are missing is known after the walk.
    if missing:
        raise SpaceError(f"no value for searched parameter(s) {', '.join(missing)}", path)
    return spec, config


def random_trial(seed: int) -> Any:
    """A fresh optuna trial of a random sampler seeded with `seed` (uniform over each parameter)."""
    import optuna  # a heavy import, needed only to sample outside a study

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "new study created" line
    try:
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    finally:
        optuna.logging.set_verbosity(verbosity)
    return study.ask()
