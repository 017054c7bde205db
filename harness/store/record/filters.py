"""The one set of filters over trials: on the trials table (`trained`, `first_runs`,
`infeasible_rows`, `reused_rows`, `state_counts`) and on Optuna's FrozenTrials (`is_surplus`,
`failure_recorded`, `trained_trial`, `spec_dict`, `budget_key_of`).

A trial is *infeasible* when a hard constraint refused it (a non-blank reason: a table written
by hand or read back from CSV may hold an empty cell); *reused* when it copied another trial's
result (the same experiment, listed once); *trained* when it completed with an accuracy and was
not refused; a *first run* is one that did not reuse. A *surplus* trial was dropped unrun (another
worker took the study's last place): no table lists it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from harness.store.record import keys

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

# The order states are counted in.
STATE_ORDER = ["COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING"]


# --- the trials table ---------------------------------------------------------------------------

def _present(frame: pd.DataFrame, column: str) -> pd.Series:
    """Rows with a non-blank value in `column` (all False when the table lacks it)."""
    if column not in frame:
        return pd.Series(False, index=frame.index)
    values = frame[column]
    blank = values.map(lambda v: isinstance(v, str) and not v.strip()).astype(bool)
    return values.notna().astype(bool) & ~blank


def infeasible_rows(frame: pd.DataFrame) -> pd.Series:
    """The rows a hard constraint refused (never trained)."""
    return _present(frame, keys.INFEASIBLE)


def reused_rows(frame: pd.DataFrame) -> pd.Series:
    """The rows that reuse another trial's result."""
    return _present(frame, keys.REUSED_FROM)


def copied_rows(frame: pd.DataFrame) -> pd.Series:
    """The rows a warm start copied from another study (they trained there)."""
    return _present(frame, keys.COPIED_FROM)


def first_runs(frame: pd.DataFrame) -> pd.DataFrame:
    """Without the rows that reuse another trial's result (the same experiment, listed once)."""
    return frame[~reused_rows(frame)]


def trained(frame: pd.DataFrame) -> pd.DataFrame:
    """Completed trials with an accuracy that were trained (not refused by a hard constraint);
    reused results included (see first_runs)."""
    done = frame[(frame["state"] == "COMPLETE") & frame["accuracy"].notna()]
    return done[~infeasible_rows(done)]


def state_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Trials per state (COMPLETE, PRUNED, FAIL, RUNNING, WAITING, then any other), then the
    trials of each note (keys.NOTES: "infeasible", "reused", "copied", "queued by a warm start");
    states and notes with no trial are left out."""
    counts = frame["state"].value_counts() if len(frame) else pd.Series(dtype=int)
    states = sorted(counts.index, key=lambda s: STATE_ORDER.index(s) if s in STATE_ORDER else len(STATE_ORDER))
    out = {str(s): int(counts[s]) for s in states}
    for column, what in keys.NOTES:
        n = int(_present(frame, column).sum())
        if n:
            out[what] = n
    return out


# --- Optuna's trials ----------------------------------------------------------------------------

def is_surplus(trial: FrozenTrial) -> bool:
    """Whether the trial was dropped unrun (the study's places were taken)."""
    return bool(trial.user_attrs.get(keys.SURPLUS))


def failure_recorded(trial: FrozenTrial) -> bool:
    """Whether a failed trial recorded why (one without a reason was interrupted: run again)."""
    return keys.FAILURE_REASON in trial.user_attrs


def trained_trial(trial: FrozenTrial) -> bool:
    """Whether the trial trained itself: not refused by a constraint, not a reused result."""
    return keys.INFEASIBLE not in trial.user_attrs and keys.REUSED_FROM not in trial.user_attrs


def spec_dict(trial: FrozenTrial) -> dict[str, Any] | None:
    """The trial's architecture as recorded (ArchSpec.to_dict), None when it has none."""
    return trial.user_attrs.get(keys.SPEC)


def budget_key_of(trial: FrozenTrial) -> str | None:
    """The trial's experiment key (harness.train.train_config.budget_key), None when not recorded."""
    return trial.user_attrs.get(keys.BUDGET_KEY)


def history_of(trial: FrozenTrial) -> list[float] | None:
    """The trial's search metric after each epoch, None when it has none."""
    return trial.user_attrs.get(keys.HISTORY)


def curve_of(trial: FrozenTrial) -> list[dict[str, float]]:
    """The trial's per-epoch curve (epoch, train_loss, val_loss, val_accuracy, seconds); [] when none."""
    return list(trial.user_attrs.get(keys.CURVE) or [])
