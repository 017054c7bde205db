"""A ranking's figures, from its tables alone: `ranked_table` (the ranked candidates, numeric),
`plot_rank_accuracy` (accuracy per candidate with seeds and interval), `plot_rank_vs_flops` (mean
accuracy against FLOPs with error bars) and `plot_fidelity` (the search's brief accuracy against
this ranking's), in the study report's look (harness.report.plots.style)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.report.plots.style import log_limits, log_scale, save_figure, set_titles, styled_figure

TOP_COLOUR = "#c0392b"  # the top group
OTHER_COLOUR = "#2c6fbb"
TEST_COLOUR = "#7f7f7f"
NUMERIC = ("mean", "ci_low", "ci_high", "test_mean", "test_ci_low", "test_ci_high", "flops", "search_accuracy")


def ranked_table(table: pd.DataFrame) -> pd.DataFrame:
    """The ranked candidates (a completed run each) of rank.csv, best first, with the numeric
    columns as floats and `top` as booleans."""
    t = table[table["rank"].notna()].reset_index(drop=True)
    for col in NUMERIC:
        t[col] = pd.to_numeric(t[col], errors="coerce").astype(float)
    t["top"] = t["top"].fillna(False).astype(bool)
    return t


def _colours(t: pd.DataFrame) -> list[str]:
    return [TOP_COLOUR if top else OTHER_COLOUR for top in t["top"]]


def _err(t: pd.DataFrame, prefix: str = "") -> np.ndarray:
    """Asymmetric error bars (2 x n) from the interval columns; 0 where there is no interval."""
    mean = t[f"{prefix}mean"].to_numpy()
    low = (mean - t[f"{prefix}ci_low"].to_numpy())
    high = (t[f"{prefix}ci_high"].to_numpy() - mean)
    return np.nan_to_num(np.vstack([low, high]), nan=0.0)


def _errorbars(ax: Any, x: np.ndarray, y: np.ndarray, err: np.ndarray, colours: list[str], *,
               vertical: bool, **style: Any) -> None:
    """One error bar per point, each in its own colour (errorbar takes one colour per call)."""
    for i, colour in enumerate(colours):
        bar = {"yerr" if vertical else "xerr": err[:, i:i + 1]}
        ax.errorbar(x[i:i + 1], y[i:i + 1], fmt="none", ecolor=colour, **bar, **style)


def _draw_seeds(ax: Any, t: pd.DataFrame, runs: pd.DataFrame, y: np.ndarray, colours: list[str]) -> None:
    """Each candidate's completed runs as faint dots on its row."""
    for yi, (_, r), colour in zip(y, t.iterrows(), colours, strict=True):
        mine = runs[(runs["candidate"] == r["candidate"]) & (runs["state"] == "COMPLETE")]
        acc = pd.to_numeric(mine["accuracy"], errors="coerce").dropna().to_numpy()
        ax.scatter(acc, np.full(acc.size, yi), s=14, color=colour, alpha=0.35, zorder=2)


def plot_rank_accuracy(table: pd.DataFrame, runs: pd.DataFrame, path: str | Path, *, title: str = "",
                       confidence: float = 0.95) -> bool:
    """Accuracy per candidate, best at the top: each seed's run (dots), the mean with its interval
    (bar), the test accuracy's mean and interval where there is one; top group in red."""
    t = ranked_table(table)
    if t.empty:
        return False
    k = len(t)
    with styled_figure() as (fig, ax):
        fig.set_size_inches(7.5, max(3.0, 1.6 + 0.42 * k))
        y = np.arange(k)[::-1].astype(float)
        has_test = t["test_mean"].notna().any()
        shift = 0.15 if has_test else 0.0
        colours = _colours(t)
        _draw_seeds(ax, t, runs, y + shift, colours)
        _errorbars(ax, t["mean"].to_numpy(), y + shift, _err(t), colours, vertical=False, elinewidth=2, capsize=3,
                   zorder=3)
        ax.scatter(t["mean"], y + shift, c=colours, s=40, zorder=4, label="validation: mean, CI, seeds")
        if has_test:
            tt = t[t["test_mean"].notna()]
            ty = y[t["test_mean"].notna().to_numpy()] - shift
            ax.errorbar(tt["test_mean"], ty, xerr=_err(tt, "test_"), fmt="D", color=TEST_COLOUR, ms=4,
                        elinewidth=1.2, capsize=2, mfc="white", zorder=3, label="test: mean, CI")
        ax.set_yticks(y, [f"{r['candidate']}  [{r['group']}]" if isinstance(r["group"], str) else str(r["candidate"])
                          for _, r in t.iterrows()])
        ax.set_xlabel("accuracy (fraction)")
        ax.legend(loc="best")
        conf = round(100 * confidence)
        set_titles(fig, ax, title or "Accuracy per candidate",
                   f"{k} candidates, seeds as dots, mean with its {conf}% t interval; red: the top group "
                   "(not significantly worse than the best); [letters]: candidates sharing one cannot be told apart")
        save_figure(fig, path)
    return True


def _named_means(ax: Any, t: pd.DataFrame, x: str) -> None:
    """Each candidate's mean accuracy (y) with its interval against column `x`, named; the top
    group in red."""
    colours = _colours(t)
    _errorbars(ax, t[x].to_numpy(), t["mean"].to_numpy(), _err(t), colours, vertical=True, elinewidth=1.5,
               capsize=3)
    ax.scatter(t[x], t["mean"], c=colours, s=36, zorder=3)
    for _, r in t.iterrows():
        ax.annotate(str(r["candidate"]), (r[x], r["mean"]), xytext=(4, 4), textcoords="offset points", fontsize=7)


def plot_rank_vs_flops(table: pd.DataFrame, path: str | Path, *, title: str = "") -> bool:
    """Mean accuracy (with its interval) against FLOPs per image (log axis), each candidate named."""
    t = ranked_table(table)
    t = t[t["flops"] > 0]
    if t.empty:
        return False
    with styled_figure() as (fig, ax):
        _named_means(ax, t, "flops")
        log_scale(ax, "x")
        log_limits(ax, t["flops"].tolist())
        ax.set_xlabel("FLOPs per image (multiply-adds, log scale)")
        ax.set_ylabel("validation accuracy (fraction)")
        set_titles(fig, ax, title or "Accuracy vs FLOPs, with error bars",
                   f"{len(t)} candidates, mean and interval over seeds; red: the top group")
        save_figure(fig, path)
    return True


def plot_fidelity(table: pd.DataFrame, fidelity: pd.DataFrame, path: str | Path) -> bool:
    """The search's one brief run (x) against this ranking's mean (y): how far brief training holds."""
    t = ranked_table(table)
    t = t[t["search_accuracy"].notna()]
    if len(t) < 3:
        return False
    row = fidelity[fidelity["predictor"].str.startswith("search")]
    tau = float(row["tau"].iloc[0]) if len(row) else math.nan
    with styled_figure() as (fig, ax):
        _named_means(ax, t, "search_accuracy")
        ax.set_xlabel("accuracy in the search (one brief run)")
        ax.set_ylabel("accuracy in this ranking (mean over seeds)")
        set_titles(fig, ax, "Brief search vs ranking", f"Kendall's tau {tau:+.2f} over {len(t)} trials; "
                   "perfect agreement would order the points left to right as bottom to top")
        save_figure(fig, path)
    return True
