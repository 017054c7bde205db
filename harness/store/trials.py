"""The trials table: one row per trial (number, state, searched parameters, metrics), built from
an Optuna study, and the selections every report makes of it (trained trials, the Pareto front,
the leaderboard, the state counts)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from harness.pareto import front_indices
from harness.store.record import catalogue, filters, keys
from harness.store.record.filters import first_runs, state_counts
from harness.store.record.filters import trained as trained_trials
from harness.store.table import TrialsTable

if TYPE_CHECKING:
    import optuna

__all__ = ["complete_columns", "first_runs", "furthest_trials", "leaderboard", "pareto_front", "searched_columns",
           "state_counts", "trained_trials", "trials_frame"]


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: number, state, each searched parameter, then the metrics (built by
    harness.store.table.TrialsTable, which a search keeps to update it trial by trial)."""

    return TrialsTable().update(study).frame()


def searched_columns(frame: pd.DataFrame) -> list[str]:
    """The searched-parameter columns of a trials table (those between state and the metrics)."""
    skip = {"number", "state", *keys.CURVES, *catalogue.columns()}
    return [c for c in frame.columns if c not in skip and not c.startswith(keys.ROBUST_PREFIX)]


def complete_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """The table with every metric column present (a table written by an older harness, or by
    hand, may lack some); searched parameters keep their place before the metrics."""
    missing = [c for c in [*catalogue.columns(), *keys.CURVES] if c not in frame.columns]
    if not missing:
        return frame
    return frame.assign(**{c: pd.Series([None] * len(frame), index=frame.index, dtype=object) for c in missing})


def pareto_front(frame: pd.DataFrame, cost: str = "flops", metric: str = "accuracy") -> pd.DataFrame:
    """Trained trials that no other beats on both counts (higher metric at no higher cost), each
    experiment once, sorted by cost (harness.pareto.front_indices on the table)."""
    done = first_runs(trained_trials(frame))
    done = done[done[metric].notna() & done[cost].notna()]
    points = list(zip(done[cost].astype(float), done[metric].astype(float), strict=True))
    front = done.iloc[front_indices(points)]
    return front.drop_duplicates([cost, metric])  # a tie is one point of the front


def leaderboard(frame: pd.DataFrame, top: int = 5) -> pd.DataFrame:
    """The `top` trained trials by accuracy (ties: the earlier trial first), each experiment once."""
    done = first_runs(trained_trials(frame))
    return done.sort_values(["accuracy", "number"], ascending=[False, True]).head(top)


def furthest_trials(frame: pd.DataFrame, top: int = 5) -> pd.DataFrame:
    """The `top` trials that trained furthest, then best: completed ones first, then those stopped
    by a pruner (successive halving's rungs) by the epochs they reached; by accuracy within each;
    each experiment once, refused ones (infeasible) never."""
    ran = frame[frame["state"].isin(["COMPLETE", "PRUNED"]) & frame["accuracy"].notna()]
    ran = first_runs(ran[~filters.infeasible_rows(ran)])
    order = ran.assign(_complete=ran["state"] == "COMPLETE", _epochs=pd.to_numeric(ran["epochs"], errors="coerce"))
    order = order.sort_values(["_complete", "_epochs", "accuracy", "number"], ascending=[False, False, False, True])
    return order.drop(columns=["_complete", "_epochs"]).head(top)
