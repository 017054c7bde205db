"""A search's console lines: one per finished trial, where the time went, and the leaderboard."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import pandas as pd

from harness.numbers import human
from harness.store.record import filters, keys
from harness.store.table import INTERRUPTED
from harness.store.trials import leaderboard, pareto_front, state_counts
from harness.train.overheads import OVERHEAD_COLUMNS

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial


def trial_line(trial: FrozenTrial, done: int, total: int) -> str:
    """One progress line for a finished trial."""
    a = trial.user_attrs
    head = f"[{done:>3}/{total}] trial {trial.number:>3}"
    costs = (f"params {human(a.get('params')):>6}  flops {human(a.get('flops')):>6}  "
             f"rf {a.get('receptive_field', '-')}px")
    if trial.state.name == "FAIL":
        return f"{head} FAILED: {a.get(keys.FAILURE_REASON, INTERRUPTED)}  ({a.get('label', '')})"
    if keys.INFEASIBLE in a:
        return f"{head} infeasible, not trained: {a[keys.INFEASIBLE]}  {costs}  {a.get('label', '')}"
    acc = a.get("accuracy")
    acc_s = f"{acc:6.1%}" if acc is not None else "   -  "
    state = " pruned" if trial.state.name == "PRUNED" else ""
    if keys.REUSED_FROM in a:
        state = f" reused from trial {a[keys.REUSED_FROM]}"
    note = f"  [{a[keys.NOTE]}]" if a.get(keys.NOTE) else ""
    return (f"{head} acc {acc_s}  {costs}  {a.get('train_seconds', 0):5.1f}s{state}  "
            f"{a.get('label', '')}{note}")


def overhead_line(frame: pd.DataFrame, write_seconds: Sequence[float] = ()) -> str | None:
    """One line on where the trained trials' time went: mean training seconds per trial, and the
    mean seconds outside training by part (build, count, speed, warm-up, evaluation, and writing the
    results folder when `write_seconds` are given); None when no trial here trained."""
    if "warmup_seconds" not in frame:
        return None
    ran = filters.first_runs(frame[frame["warmup_seconds"].notna()])
    ran = ran[~filters.copied_rows(ran)]  # a warm start's copies trained in the other study
    if ran.empty:
        return None
    labels = ("build", "count", "speed", "warm-up", "evaluation", "robustness")
    parts = {label: float(ran[col].mean()) for col, label in zip(OVERHEAD_COLUMNS, labels, strict=True)
             if col in ran and (label != "robustness" or ran[col].fillna(0).gt(0).any())}
    if len(write_seconds):
        parts["writing"] = sum(write_seconds) / len(write_seconds)
    train = ran["train_seconds"].mean()
    train_s = f"{train:.2f} s" if pd.notna(train) else "-"
    return (f"time per trained trial (mean of {len(ran)}): training {train_s}, outside training "
            f"{sum(parts.values()):.2f} s (" + ", ".join(f"{k} {v:.2f}" for k, v in parts.items()) + ")")


def print_leaderboard(frame: pd.DataFrame, say: Callable[[str], None], top: int = 5) -> None:
    """Print the best trials as a small table."""
    board = leaderboard(frame, top)
    words = {keys.NOTE_WORDS[keys.INFEASIBLE]: "infeasible (not trained)"}
    say("trials: " + ", ".join(f"{n} {words.get(s, s.lower())}" for s, n in state_counts(frame).items()))
    if board.empty:
        say("no trial completed: see failure_reason in trials.csv")
        return
    say(f"top {len(board)} by validation accuracy:")
    say(f"  {'trial':>5}  {'acc':>6}  {'params':>6}  {'flops':>6}  {'rf':>4}  architecture")
    for _, r in board.iterrows():
        say(f"  {r['number']:>5}  {r['accuracy']:6.1%}  {human(r['params']):>6}  "
            f"{human(r['flops']):>6}  {r['receptive_field']:>4}  {r['label']}")
    front = pareto_front(frame)
    say("Pareto front, accuracy vs FLOPs: " + ", ".join(
        f"trial {r['number']} ({r['accuracy']:.1%} at {human(r['flops'])})" for _, r in front.iterrows()))
