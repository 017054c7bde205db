"""Parameter importance for validation accuracy: `param_importance` runs Optuna's default evaluator
on the study's trials (`feasible_view`) or, with only a table, on a study built from it
(`study_from_table`), and says in a note how, or why not."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from harness.numbers import is_missing, plural
from harness.report.study_tables import varying_parameters
from harness.store.record import filters
from harness.store.results_folder import quiet_optuna
from harness.store.trials import first_runs, searched_columns, trained_trials

if TYPE_CHECKING:
    from collections.abc import Container

    import optuna
    from optuna.trial import FrozenTrial, TrialState


def python_value(value: Any) -> Any:
    """A numpy scalar as the plain Python value a CategoricalDistribution accepts."""
    return value.item() if hasattr(value, "item") else value


def _choices(column: pd.Series) -> list[Any]:
    values = [python_value(v) for v in column.dropna().unique()]
    if values and all(isinstance(v, float) and v.is_integer() for v in values):
        values = [int(v) for v in values]  # an int column read as floats because of empty cells
    try:
        return sorted(set(values))
    except TypeError:
        return sorted(set(values), key=str)


def study_from_table(frame: pd.DataFrame, params: list[str]) -> optuna.Study:
    """An in-memory study that maximises accuracy, built from the table's feasible completed trials
    (each experiment once): a categorical distribution over each parameter's observed values."""
    import optuna
    from optuna.distributions import CategoricalDistribution

    done = first_runs(trained_trials(frame))
    choices = {p: _choices(done[p]) for p in params}
    with quiet_optuna():
        study = optuna.create_study(direction="maximize")
    for _, row in done.iterrows():
        values, dists = {}, {}
        for p in params:
            v = row[p]
            if is_missing(v):
                continue  # a conditional parameter this trial did not have
            v = python_value(v)
            if isinstance(v, float) and v.is_integer() and all(isinstance(c, int) for c in choices[p]):
                v = int(v)
            values[p], dists[p] = v, CategoricalDistribution(choices[p])
        study.add_trial(optuna.trial.create_trial(params=values, distributions=dists, value=float(row["accuracy"])))
    return study


class _TrialsView:
    """A study as Optuna's importance evaluators read it (its trials, its directions), holding
    only `trials`: a copy of 10,000 trials into a new study took 9 s on 2 cores."""

    def __init__(self, study: optuna.Study, trials: list[FrozenTrial]) -> None:
        self._study, self._trials = study, trials

    def get_trials(self, deepcopy: bool = True, states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        return [t for t in self._trials if states is None or t.state in states]

    @property
    def trials(self) -> list[FrozenTrial]:
        return list(self._trials)

    def __getattr__(self, name: str) -> Any:  # directions, _is_multi_objective, ...
        return getattr(self._study, name)


def feasible_view(study: optuna.Study) -> optuna.Study:
    """The study's completed, trained trials, each experiment once (an infeasible trial's accuracy 0
    and a reused result's second copy are no measurements), as a study-like view for Optuna's
    importance evaluators."""
    from optuna.trial import TrialState

    keep = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if filters.trained_trial(t)]
    return _TrialsView(study, keep)  # type: ignore[return-value]


def _importances(frame: pd.DataFrame, study: optuna.Study | None, params: list[str]) -> tuple[dict[str, float], str]:
    """Optuna's importances of `params` and where the trials came from, in words."""
    import optuna

    with quiet_optuna():
        if study is None:
            values = optuna.importance.get_param_importances(study_from_table(frame, params), params=params)
            return values, "trials.csv (each parameter categorical over its observed values)"
        target = None
        if len(study.directions) > 1:  # accuracy, the first objective; lower must be better
            target = lambda t: -t.values[0]  # noqa: E731
        values = optuna.importance.get_param_importances(feasible_view(study), params=params, target=target)
        return values, "the study's storage"


def param_importance(frame: pd.DataFrame, study: optuna.Study | None = None) -> tuple[pd.DataFrame | None, str]:
    """Importance of each varying searched parameter for validation accuracy, by Optuna's default
    importance evaluator: on the study's trials when the storage is at hand, else on a study built
    from the table. Returns (a param/importance table, highest first, or None) and a note on how."""
    import optuna

    done = first_runs(trained_trials(frame))
    if len(done) < 2:
        return None, f"not computed: {plural(len(done), 'completed trial')} (importance needs at least 2)"
    params = varying_parameters(frame)
    constant = [p for p in searched_columns(frame) if p not in params]
    if not params:
        what = f" ({', '.join(constant)} took one value)" if constant else " (no searched parameter)"
        return None, f"not computed: no searched parameter varies among the completed trials{what}"
    try:
        values, source = _importances(frame, study, params)
    except Exception as err:  # an evaluator that cannot cope with these trials
        return None, f"not computed: Optuna's evaluator failed ({type(err).__name__}: {err})"
    table = pd.DataFrame({"param": list(values), "importance": [float(v) for v in values.values()]})
    table = table.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)
    note = (f"Optuna {optuna.__version__}'s default importance evaluator, for validation accuracy, on "
            f"{len(done)} completed trials from {source}")
    if constant:
        note += f"; not assessed (one value): {', '.join(constant)}"
    if not (table["importance"] > 0).any() or (len(table) > 1 and table["importance"].nunique() == 1):
        note += "; the evaluator could not tell the parameters apart (too few trials)"
    return table, note
