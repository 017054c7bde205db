"""TPE over a bounded history: `WindowedTPESampler` is Optuna's TPESampler shown at most `window`
finished trials (the best ones, the latest ones, and an even spread of the rest), so that a
trial's sampling costs the same at 10,000 trials as at 1,000.

Why: Optuna's TPE rebuilds its two densities from every finished trial before each trial (about
0.37 s a trial at 10,000 trials on 2 cores, growing linearly; bench/study_growth.py), while what
it models barely changes: its "good" group is the best min(ceil(n / 10), 25) trials, and the
weights of the others ramp down with age beyond the latest 25. The window keeps the best
tenth (100 of 1,000: four times that group), the latest tenth, and older trials evenly spaced, in
trial order (so TPE's age weights still apply); it is chosen again after every `window / 10` new
finished trials, which are added to it meanwhile. Up to `window` finished trials it is exactly
TPESampler: the same seed draws the same parameters.
"""

from __future__ import annotations

import heapq
from collections.abc import Container, Sequence
from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

WINDOW = 1_000  # finished trials TPE is shown at most; of which a tenth are the best (TPE's good
# group holds at most 25) and a tenth the latest


def window_of(trials: Sequence[FrozenTrial], directions: Sequence[StudyDirection], window: int = WINDOW,
              best: int | None = None, latest: int | None = None) -> list[FrozenTrial]:
    """At most `window` of `trials` (finished ones, in trial order): all of them when they fit,
    else the `best` (shared between the objectives: the best by each), the `latest`, and an even
    spread of the rest."""
    if len(trials) <= window:
        return list(trials)
    best = window // 10 if best is None else best
    latest = window // 10 if latest is None else latest
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.values]
    keep: set[int] = set()
    for i, direction in enumerate(directions):  # two objectives: the best at each end of the front
        sign = 1.0 if direction == StudyDirection.MAXIMIZE else -1.0
        top = heapq.nlargest(best // len(directions), complete, key=lambda t: sign * t.values[i])  # noqa: B023
        keep.update(id(t) for t in top)
    keep.update(id(t) for t in trials[-latest:])
    rest = [t for t in trials if id(t) not in keep]
    room = window - len(keep)
    if room > 0 and rest:
        step = len(rest) / room
        keep.update(id(rest[int(i * step)]) for i in range(min(room, len(rest))))
    return [t for t in trials if id(t) in keep]


class _WindowedStudy:
    """A study as TPE reads it: its finished trials through `window_of`; anything else from the study."""

    def __init__(self, study: optuna.Study, trials: list[FrozenTrial]) -> None:
        self._study, self._trials = study, trials

    def _get_trials(self, deepcopy: bool = True, states: Container[TrialState] | None = None,
                    use_cache: bool = False) -> list[FrozenTrial]:
        if states is not None and all(s in _FINISHED for s in states):  # what TPE asks for
            return [t for t in self._trials if t.state in states]
        unfinished = [t for t in self._study._get_trials(deepcopy=False, use_cache=use_cache)
                      if t.state not in _FINISHED]
        chosen = sorted([*self._trials, *unfinished], key=lambda t: t.number)
        return [t for t in chosen if states is None or t.state in states]

    def get_trials(self, deepcopy: bool = True, states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        return self._get_trials(deepcopy, states)

    @property
    def trials(self) -> list[FrozenTrial]:
        return self._get_trials()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._study, name)


_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)  # the trials TPE models


class WindowedTPESampler(optuna.samplers.BaseSampler):
    """optuna.samplers.TPESampler(seed=seed), shown at most `window` finished trials (see the module)."""

    def __init__(self, seed: int | None = None, window: int = WINDOW) -> None:
        self._tpe = optuna.samplers.TPESampler(seed=seed)
        self._window = window
        self._view: tuple[int, _WindowedStudy | None] | None = None  # (trial number, its view; None: all)
        self._chosen: tuple[int, list[FrozenTrial]] | None = None  # (finished trials then, the window)

    def _windowed(self, study: optuna.Study, trial: FrozenTrial) -> optuna.Study | _WindowedStudy:
        trials = study._get_trials(deepcopy=False, use_cache=True)  # the trial's cached list: no copy
        if len(trials) <= self._window:
            return study  # fewer trials than the window, so fewer finished ones too
        if self._view is not None and self._view[0] == trial.number:
            return self._view[1] or study
        finished = [t for t in trials if t.state in _FINISHED]
        if len(finished) <= self._window:
            self._view = (trial.number, None)
            return study
        # Choosing the window walks every trial (about 50 ms at 10,000): it is chosen again after
        # a tenth of a window of new trials; in between, the trials finished since are added (the
        # latest: those TPE weighs most).
        if self._chosen is None or len(finished) - self._chosen[0] >= self._window // 10:
            self._chosen = (len(finished), window_of(finished, study.directions, self._window))
        count, chosen = self._chosen
        if len(finished) > count:
            have = {id(t) for t in chosen}
            chosen = [*chosen, *(t for t in finished[count:] if id(t) not in have)]
        view = _WindowedStudy(study, sorted(chosen, key=lambda t: t.number))
        self._view = (trial.number, view)
        return view

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self._tpe.infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return self._tpe.sample_relative(self._windowed(study, trial), trial, search_space)  # type: ignore[arg-type]

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self._tpe.sample_independent(self._windowed(study, trial), trial, param_name,  # type: ignore[arg-type]
                                            param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._tpe.before_trial(study, trial)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self._tpe.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self._tpe.reseed_rng()
