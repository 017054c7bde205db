"""The optimisation history: `history_table` (each trial's value by trial number, what it is on the
figure, the best so far) and `plot_history`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns

from harness.errors import HarnessError
from harness.report.plots.style import (
    axis_label,
    completed,
    counts_line,
    normalise,
    save_figure,
    set_titles,
    styled_figure,
)
from harness.store.record import catalogue, filters


def _lower_is_better(name: str) -> bool:
    """Whether the catalogue says lower values of `name` are better (the best-so-far line follows
    the minimum)."""
    try:
        return catalogue.metric(name).direction == "min"
    except HarnessError:
        return False


def best_so_far(values: pd.Series, lower_is_better: bool = False) -> pd.Series:
    """Running best of `values` (in their order), missing values carried over."""
    v = pd.to_numeric(values, errors="coerce").astype(float)
    return v.cummin() if lower_is_better else v.cummax()


def history_table(frame: pd.DataFrame, objective: str = "accuracy") -> pd.DataFrame:
    """The normalised table with `objective` numeric, `kind` ("completed" with a value, "pruned"
    with the value when stopped, "lost": failed or infeasible, no value; None: not shown) and
    `best` (the best so far over the completed trials, by trial number; NaN on other rows). Empty
    when the table has no `objective` column."""
    t = normalise(frame)
    if objective not in t:
        return pd.DataFrame()
    t[objective] = pd.to_numeric(t[objective], errors="coerce").astype(float)
    refused = filters.infeasible_rows(t)
    kind = pd.Series(None, index=t.index, dtype=object)
    kind[(t["state"] == "FAIL") | refused] = "lost"
    kind[(t["state"] == "PRUNED") & t[objective].notna() & ~refused] = "pruned"
    done = completed(t)
    done = done[done[objective].notna()].sort_values("number")
    kind[done.index] = "completed"
    best = pd.Series(np.nan, index=t.index)
    best[done.index] = best_so_far(done[objective], _lower_is_better(objective))
    return t.assign(kind=kind, best=best)


def plot_history(frame: pd.DataFrame, path: str | Path, *, objective: str = "accuracy") -> bool:
    """`objective` of every completed trial by trial number, with the best-so-far step line (the
    minimum for losses, costs and time, else the maximum). Pruned trials are hollow grey (value when
    stopped); failed and infeasible trials are x marks on the bottom edge. False when no completed
    trial has a value of `objective`."""
    t = history_table(frame, objective)
    done = t[t["kind"] == "completed"].sort_values("number") if not t.empty else t
    if done.empty:
        return False
    scale = 100.0 if objective == "accuracy" else 1.0
    pruned, lost = t[t["kind"] == "pruned"], t[t["kind"] == "lost"]
    with styled_figure() as (fig, ax):
        ax.scatter(done["number"], done[objective] * scale, s=36, color=sns.color_palette()[0],
                   edgecolors="black", linewidth=0.4, zorder=3, label="completed")
        if not pruned.empty:
            ax.scatter(pruned["number"], pruned[objective] * scale, s=30, facecolors="none", edgecolors="grey",
                       zorder=2, label="pruned (when stopped)")
        last = float(t["number"].max())
        best = done["best"]
        ax.step([*done["number"].tolist(), last], [*(best * scale).tolist(), float(best.iloc[-1]) * scale],
                where="post", color="crimson", linewidth=1.5, zorder=2, label="best so far")
        if not lost.empty:
            ax.scatter(lost["number"], np.full(len(lost), 0.02), marker="x", s=22, color="dimgrey",
                       transform=ax.get_xaxis_transform(), clip_on=False, zorder=3,
                       label="failed or infeasible (no value)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
        ax.set_xlim(-0.5, max(last, 1.0) + 0.5)
        name = "validation accuracy" if objective == "accuracy" else objective
        set_titles(fig, ax, f"{name} by trial", counts_line(t))
        ax.set_xlabel("trial number (order of sampling)")
        ax.set_ylabel(axis_label(objective))
        save_figure(fig, path)
    return True
