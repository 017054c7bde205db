"""Accuracy under shift: `robustness_table` (per completed trial, each shift's accuracy drop) and
`plot_robustness` (accuracy against robust accuracy, and each shift's mean drop per value of a
design choice), from the robust_accuracy and robust.<shift> columns a search with --robustness records."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from harness.report.plots.style import DPI, FIGSIZE, apply_style, completed, levels, save_figure


def shift_columns(frame: pd.DataFrame) -> list[str]:
    """The robust.<shift> columns of a trials table, in table order."""
    return [c for c in frame.columns if str(c).startswith("robust.")]


def robustness_table(frame: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """One row per (completed trial, shift): accuracy, robust_accuracy, the shift, its accuracy and
    drop (accuracy minus it, percentage points), and the trial's value of `by` as `level`; empty
    when the table has no robustness columns or no completed trial with them."""
    shifts = shift_columns(frame)
    done = completed(frame)
    if not shifts or "robust_accuracy" not in done:
        return pd.DataFrame(columns=["number", "accuracy", "robust_accuracy", "shift", "shifted", "drop_pct"])
    done = done.assign(robust_accuracy=pd.to_numeric(done["robust_accuracy"], errors="coerce"))
    done = done[done["robust_accuracy"].notna()]
    if by is not None and by in done:
        labels, _ = levels(done[by])
        done = done.assign(level=labels)
    keep = ["number", "accuracy", "robust_accuracy"] + (["level"] if "level" in done else [])
    long = done.melt(id_vars=keep, value_vars=shifts, var_name="shift", value_name="shifted")
    long["shift"] = long["shift"].str.slice(len("robust."))
    long["shifted"] = pd.to_numeric(long["shifted"], errors="coerce")
    return long.assign(drop_pct=(long["accuracy"] - long["shifted"]) * 100)


def plot_robustness(frame: pd.DataFrame, path: str | Path, by: str | None = None) -> bool:
    """Left: validation accuracy against robust accuracy (the mean over shifts) of each completed
    trial, with the line where they are equal. Right: each shift's mean accuracy drop, per value of
    `by` (a searched parameter) when given, else over all trials. False without robustness columns
    or with fewer than two completed trials that have them (one point shows no relation)."""
    table = robustness_table(frame, by)
    trials = table.drop_duplicates("number")
    if len(trials) < 2:
        return False
    with apply_style():
        fig, (left, right) = plt.subplots(1, 2, figsize=FIGSIZE, dpi=DPI, layout="constrained")
        try:
            left.scatter(trials["accuracy"] * 100, trials["robust_accuracy"] * 100, s=22, color="tab:blue")
            lo = min(trials["accuracy"].min(), trials["robust_accuracy"].min()) * 100
            hi = max(trials["accuracy"].max(), trials["robust_accuracy"].max()) * 100
            left.plot([lo, hi], [lo, hi], color="grey", linestyle="--", linewidth=1, label="no drop")
            left.set_xlabel("validation accuracy (%)")
            left.set_ylabel("robust accuracy: mean over shifts (%)")
            left.legend(loc="upper left")
            left.set_title(f"{len(trials)} completed trials", fontsize=9, loc="left", color="dimgrey")
            hue = "level" if "level" in table else None
            sns.barplot(data=table, x="shift", y="drop_pct", hue=hue, errorbar=("ci", 95), ax=right,
                        palette="tab10" if hue else None, color=None if hue else "tab:orange")
            right.set_xlabel("shift")
            right.set_ylabel("accuracy drop (percentage points)")
            right.set_title("mean drop per shift" + (f", by {by}" if hue else "") + " (95% CI)", fontsize=9,
                            loc="left", color="dimgrey")
            if hue:
                right.legend(title=by, fontsize=7)
            fig.suptitle("Accuracy under shift", fontsize=12, fontweight="bold")
            save_figure(fig, path)
        finally:
            plt.close(fig)
    return True
