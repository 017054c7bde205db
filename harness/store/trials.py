"""The trials table: one row per trial (number, state, searched parameters, metrics), built from
an Optuna study, and the selections every report makes of it (trained trials, the Pareto front,
the leaderboard, the state counts)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from harness.pareto import front_indices
from harness.store.table import METRIC_COLUMNS, TrialsTable

if TYPE_CHECKING:
    import optuna

# The order states are counted in, and the notes on trials that did not train.
STATE_ORDER = ["COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING"]
NOTES = (("infeasible", "infeasible"), ("reused_from", "reused"), ("copied_from", "copied"),
         ("warm_start_from", "queued by a warm start"))


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: number, state, each searched parameter, then the metrics (built by
    harness.store.table.TrialsTable, which a search keeps to update it trial by trial)."""

    return TrialsTable().update(study).frame()


def searched_columns(frame: pd.DataFrame) -> list[str]:
    """The searched-parameter columns of a trials table (those between state and the metrics)."""
    skip = {"number", "state", "history", "curve", *METRIC_COLUMNS}
    return [c for c in frame.columns if c not in skip and not c.startswith("robust.")]


def complete_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """The table with every metric column present (a table written by an older harness, or by
    hand, may lack some); searched parameters keep their place before the metrics."""
    missing = [c for c in [*METRIC_COLUMNS, "history", "curve"] if c not in frame.columns]
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
    ran = first_runs(ran[ran["infeasible"].isna()] if "infeasible" in ran else ran)
    order = ran.assign(_complete=ran["state"] == "COMPLETE", _epochs=pd.to_numeric(ran["epochs"], errors="coerce"))
    order = order.sort_values(["_complete", "_epochs", "accuracy", "number"], ascending=[False, False, False, True])
    return order.drop(columns=["_complete", "_epochs"]).head(top)


def trained_trials(frame: pd.DataFrame) -> pd.DataFrame:
    """Completed trials with an accuracy that were trained (not refused by a hard constraint);
    reused results included (see first_runs)."""
    done = frame[(frame["state"] == "COMPLETE") & frame["accuracy"].notna()]
    return done[done["infeasible"].isna()] if "infeasible" in done else done


def first_runs(frame: pd.DataFrame) -> pd.DataFrame:
    """Without the rows that reuse another trial's result (the same experiment, listed once)."""
    return frame[frame["reused_from"].isna()] if "reused_from" in frame else frame


def state_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Trials per state (COMPLETE, PRUNED, FAIL, RUNNING, WAITING, then any other), then the
    trials refused by a constraint ("infeasible"), those that reused a result ("reused"), those a
    warm start copied from an earlier study ("copied") or queued ("queued by a warm start");
    states and notes with no trial are left out."""
    counts = frame["state"].value_counts() if len(frame) else pd.Series(dtype=int)
    states = sorted(counts.index, key=lambda s: STATE_ORDER.index(s) if s in STATE_ORDER else len(STATE_ORDER))
    out = {str(s): int(counts[s]) for s in states}
    for col, what in NOTES:
        n = int(frame[col].notna().sum()) if col in frame else 0
        if n:
            out[what] = n
    return out
