"""Warm start from an earlier study: `warm_start` copies the top K architectures of another
results folder into this study before it samples anything: as finished trials (Optuna's
`add_trials`) when they ran on the same data and budget, so that nothing is trained twice, else
as queued trials (`enqueue_trial`) that run first. `ReplayTrial` asks the new space for each old
trial's parameters, which tells which of them this space has and which values it allows.

Applied once per study (recorded in its user attribute "warm_start"), by the process that is not
a second worker, so a resumed run or N workers do not add the same trials again.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import SettingError
from harness.store.record import filters, keys

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution
    from optuna.trial import FrozenTrial

    from harness.search.objective import TrialObjective
    from harness.search.space import SearchSpace

# Fingerprint keys (see harness.search.study._fingerprint) that must be equal for an old result to
# stand for a new trial; the rest of what makes two runs the same experiment (architecture, the
# whole training config, device type, precision) is the trials' budget_key.
SAME_DATA_KEYS = ("dataset", "image_size", "split", "train_subset", "robustness", "constraints")


class ReplayTrial:
    """A trial-like object that answers the space's questions with an old trial's values: `used`
    holds the values this space asked for and allows (with their distributions), `missing` the
    names it asked for that the old trial lacks or holds outside the allowed range (answered with
    the first allowed value, only so that sampling can go on)."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.old = params
        self.used: dict[str, Any] = {}
        self.distributions: dict[str, BaseDistribution] = {}
        self.missing: list[str] = []

    def _answer(self, name: str, distribution: BaseDistribution, fallback: Any) -> Any:
        if name in self.old:
            value = self.old[name]
            try:
                ok = distribution._contains(distribution.to_internal_repr(value))
            except (ValueError, TypeError):  # a choice this space does not have
                ok = False
            if ok:
                self.used[name] = value
                self.distributions[name] = distribution
                return value
        self.missing.append(name)
        return fallback

    def suggest_categorical(self, name: str, choices: Any) -> Any:
        from optuna.distributions import CategoricalDistribution

        return self._answer(name, CategoricalDistribution(list(choices)), list(choices)[0])

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        from optuna.distributions import IntDistribution

        return self._answer(name, IntDistribution(low, high, step=step, log=log), low)

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None,
                      log: bool = False) -> float:
        from optuna.distributions import FloatDistribution

        return self._answer(name, FloatDistribution(low, high, step=step, log=log), low)


@dataclass
class WarmStartPlan:
    """What a warm start adds: finished trials to copy, parameter sets to queue, and the old
    parameters dropped from some of them (this space lacks them, or the value they held)."""

    source: str
    copies: list[FrozenTrial] = field(default_factory=list)
    queued: list[dict[str, Any]] = field(default_factory=list)
    ignored: set[str] = field(default_factory=set)

    def describe(self) -> str:
        """One line on what was added."""
        words = [f"warm start from {self.source}: {len(self.copies)} of its best trials copied as finished "
                 "(same data and budget: not trained again)", f"{len(self.queued)} queued to run first"]
        if self.ignored:
            dropped = ", ".join(sorted(self.ignored))
            words.append(f"dropped (not in this space, or a value it does not allow): {dropped}")
        return "; ".join(words)


def read_source(folder: str | Path, top: int, here: Path, storage: str | None = None) -> optuna.Study:
    """The study of results folder `folder` (its study.db or journal, or `storage`), to take the
    best `top` trials of into the study in folder `here`; HarnessError (one line) when the folder
    is missing or `here`, holds no storage, or `top` is below 1."""
    from harness.store.results_folder import read_folder

    if top < 1:
        raise SettingError(f"{{warm_top}} must be at least 1, not {top}", "warm_top")
    path = Path(folder)
    if path.resolve() == here.resolve():
        raise SettingError(f"{{warm_start}} {folder}: that is this study's own folder", "warm_start")
    if storage is None and not path.is_dir():
        raise SettingError(f"{{warm_start}} {folder}: no such results folder", "warm_start")
    found = read_folder(path, storage)
    if found.study is None:
        raise SettingError(f"{{warm_start}} {folder}: only a trials.csv there; a warm start reads the study's "
                           "storage (study.db or study.journal)", "warm_start")
    return found.study


def plan_warm_start(source: optuna.Study, space: SearchSpace, top: int, objective: TrialObjective,
                    fingerprint: dict[str, Any], label: str) -> WarmStartPlan:
    """The top `top` completed trials of `source` (by this search's metric; trained once, feasible)
    replayed in `space`: copies when the whole architecture and budget carry over and the data is
    the same, else the parameters this space has, queued. HarnessError when no old trial has a
    single parameter this space takes."""
    from optuna.trial import TrialState, create_trial

    from harness.train.train_config import budget_key

    metric = objective.config.metric
    done = [t for t in source.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if filters.trained_trial(t) and _finite(t.user_attrs.get(metric))]
    if not done:
        raise SettingError(f"{{warm_start}} {label}: its study {source.study_name!r} has no completed trial "
                           "to start from", "warm_start")
    done.sort(key=lambda t: -float(t.user_attrs[metric]))
    old_print = source.user_attrs.get(keys.FINGERPRINT) or {}
    same_data = all(old_print.get(k) == fingerprint.get(k) for k in SAME_DATA_KEYS)
    plan, seen, compatible = WarmStartPlan(label), set(), False
    for old in done:
        if len(plan.copies) + len(plan.queued) >= top:
            break
        replay = ReplayTrial(dict(old.params))
        spec, train_config = space.suggest(replay)
        plan.ignored |= set(old.params) - set(replay.used)
        compatible = compatible or bool(replay.used)
        # A whole architecture is known by its budget key; a partial one (the rest left to the
        # sampler) only by the values it keeps.
        key = budget_key(spec.spec_id, objective.train_config(train_config), objective.device.type,
                         objective.config.precision) if not replay.missing else repr(sorted(replay.used.items()))
        if key in seen or not replay.used:
            continue  # an architecture already planned, or nothing of it carries over
        seen.add(key)
        if same_data and not replay.missing and key == filters.budget_key_of(old):
            attrs = {**{k: v for k, v in old.user_attrs.items() if k != keys.WARM_START_FROM},
                     keys.COPIED_FROM: f"{label} trial {old.number}"}
            values = objective.values_from_attrs(attrs)
            plan.copies.append(create_trial(
                state=TrialState.COMPLETE, params=replay.used, distributions=replay.distributions,
                values=list(values) if isinstance(values, tuple) else [values], user_attrs=attrs,
                system_attrs={k: v for k, v in old.system_attrs.items() if k == "constraints"},
                intermediate_values=dict(old.intermediate_values)))
        else:
            plan.queued.append(replay.used)
    if not compatible:
        raise SettingError(f"{{warm_start}} {label}: none of its parameters ({', '.join(sorted(plan.ignored))}) "
                           "is in this space (or takes a value this space allows)", "warm_start")
    return plan


def warm_start(study: optuna.Study, source: optuna.Study, folder: str | Path, space: SearchSpace, top: int,
               objective: TrialObjective, fingerprint: dict[str, Any], say: Callable[[str], None]
               ) -> WarmStartPlan | None:
    """Add the warm start from `source` (the study of results folder `folder`, read_source) to
    `study`, once (None when it was added before: the study records it); says one line on what
    was added."""
    done = study.user_attrs.get(keys.WARM_START)
    if done is not None:
        say(f"warm start from {done['from']} was added when this study began ({done['copied']} copied, "
            f"{done['queued']} queued)")
        return None
    plan = plan_warm_start(source, space, top, objective, fingerprint, str(folder))
    study.add_trials(plan.copies)
    for params in plan.queued:
        study.enqueue_trial(params, user_attrs={keys.WARM_START_FROM: str(folder)}, skip_if_exists=True)
    study.set_user_attr(keys.WARM_START, {"from": str(folder), "copied": len(plan.copies), "queued": len(plan.queued)})
    say(plan.describe())
    return plan


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
