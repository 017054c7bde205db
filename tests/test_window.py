"""TPE over a bounded history (harness.search.window): exactly Optuna's TPESampler while the
finished trials fit in the window; beyond it TPE is shown the window only: the best trials (by each
objective), the latest, and an even spread of the older ones, in trial order."""

from __future__ import annotations

import optuna
import pytest
from optuna.study import StudyDirection
from optuna.trial import TrialState

from harness.search.window import WindowedTPESampler, window_of

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -5, 5)
    k = trial.suggest_categorical("k", [3, 5, 7])
    return -(x - 1.5) ** 2 - abs(k - 5)


def _params(sampler: optuna.samplers.BaseSampler, n: int) -> list[dict]:
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(_objective, n_trials=n)
    return [t.params for t in study.trials]


def test_within_the_window_it_is_optunas_tpe() -> None:
    assert _params(WindowedTPESampler(seed=3, window=40), 30) == _params(optuna.samplers.TPESampler(seed=3), 30)


def test_beyond_the_window_tpe_sees_only_the_window() -> None:
    """TPE's ten random start-up trials aside, each trial's TPE sees every finished trial up to the
    window, then the window (chosen again every three new trials) and the trials since."""
    sampler = WindowedTPESampler(seed=3, window=30)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    seen: list[int] = []
    sample = sampler._tpe._sample

    def counting(view, trial, space):  # noqa: ANN001, ANN202 - TPE's own signature
        seen.append(len(view._get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))))
        return sample(view, trial, space)

    sampler._tpe._sample = counting
    study.optimize(_objective, n_trials=60)
    assert len(seen) == 60 - 10
    # Never more than the window and the trials finished since it was chosen (a tenth of it at most).
    assert max(seen) <= 30 + 30 // 10 and min(seen[20:]) >= 30
    assert seen[:20] == list(range(10, 30))  # below it, every finished trial
    best = max(t.value for t in study.trials)
    assert best > -0.5  # it still searches: near the optimum (0 at x=1.5, k=5)


def _trials(values: list[float]) -> list[optuna.trial.FrozenTrial]:
    out = []
    for number, v in enumerate(values):
        t = optuna.trial.create_trial(value=v, params={"x": v}, distributions={
            "x": optuna.distributions.FloatDistribution(-1e9, 1e9)})
        t.number = number
        out.append(t)
    return out


def test_the_window_keeps_the_best_the_latest_and_a_spread() -> None:
    values = [float((i * 7919) % 2000) for i in range(2000)]  # every value once, shuffled
    trials = _trials(values)
    chosen = window_of(trials, [StudyDirection.MAXIMIZE], window=200, best=50, latest=20)
    numbers = [t.number for t in chosen]
    assert len(chosen) == 200 and numbers == sorted(numbers)
    best = sorted(range(2000), key=lambda i: -values[i])[:50]
    assert set(best) <= set(numbers)
    assert set(range(1980, 2000)) <= set(numbers)
    assert min(numbers) < 20 and len([n for n in numbers if n < 1000]) > 50  # old trials are there too
    assert window_of(trials[:150], [StudyDirection.MAXIMIZE], window=200) == trials[:150]


def test_two_objectives_keep_the_best_at_each_end() -> None:
    trials = []
    for number in range(600):
        t = optuna.trial.create_trial(values=[float(number % 97), float(number % 89)], params={})
        t.number = number
        trials.append(t)
    chosen = window_of(trials, [StudyDirection.MAXIMIZE, StudyDirection.MINIMIZE], window=100, best=40, latest=10)
    firsts = [t.values[0] for t in chosen]
    seconds = [t.values[1] for t in chosen]
    assert firsts.count(96.0) >= 5 and seconds.count(0.0) >= 6  # all top-20 by each are there


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_direction_decides_what_is_best(direction: str) -> None:
    trials = _trials([float(i) for i in range(500)])
    d = StudyDirection.MINIMIZE if direction == "minimize" else StudyDirection.MAXIMIZE
    chosen = {t.number for t in window_of(trials, [d], window=60, best=30, latest=5)}
    best = set(range(30)) if direction == "minimize" else set(range(470, 500))
    assert best <= chosen
