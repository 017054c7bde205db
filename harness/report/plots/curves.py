"""Learning curves: `parse_curve` reads one trial's, `curves_table` gives every trained trial's
(one row per epoch), `plot_learning_curves` draws them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import cm, colors, ticker
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from harness.numbers import plural
from harness.report.plots.style import (
    ACCURACY_LABEL,
    infeasible,
    normalise,
    save_figure,
    set_titles,
    styled_figure,
)

STATES = ("COMPLETE", "PRUNED", "RUNNING")  # the trials that trained (or are training)
CURVE_COLUMNS = ["row", "number", "state", "epoch", "accuracy"]


def _points(raw: Any, kind: str) -> list[tuple[float, float]]:
    """The finite (epoch, accuracy) pairs of one decoded `curve` or `history` list."""
    points: list[tuple[float, float]] = []
    for i, item in enumerate(raw):
        if kind == "curve" and isinstance(item, dict):
            epoch, acc = item.get("epoch", i + 1), item.get("val_accuracy")
        elif kind == "history":
            epoch, acc = i + 1, item
        else:
            continue
        try:
            epoch, acc = float(epoch), float(acc)
        except (TypeError, ValueError):
            continue
        if np.isfinite(epoch) and np.isfinite(acc):
            points.append((epoch, acc))
    return points


def parse_curve(curve: Any = None, history: Any = None) -> list[tuple[float, float]]:
    """(epoch, validation accuracy) pairs from a trial's `curve` (JSON list of {epoch, val_accuracy,
    ...}) or, when that is missing, its `history` (JSON list of accuracies, epochs 1, 2, ...).
    Either may be a JSON string or an already decoded list; anything unreadable gives []."""
    for raw, kind in ((curve, "curve"), (history, "history")):
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except ValueError:
                continue
        if not isinstance(raw, (list, tuple)) or not raw:
            continue
        points = _points(raw, kind)
        if points:
            return points
    return []


def curves_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns row (the trial's row in the table), number, state, epoch, accuracy (fraction): one
    row per recorded epoch of every completed, pruned or running trial, in table order; failed,
    infeasible and reused trials are left out."""
    t = normalise(frame)
    keep = t["state"].isin(list(STATES)) & ~infeasible(t) & t["reused_from"].isna()
    rows = [(row, float(r["number"]), r["state"], epoch, acc)
            for row, r in t[keep].iterrows() for epoch, acc in parse_curve(r["curve"], r["history"])]
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


def _draw(ax: Axes, curve: pd.DataFrame, **style: Any) -> None:
    ax.plot(curve["epoch"].to_numpy(dtype=float), curve["accuracy"].to_numpy(dtype=float) * 100, **style)


def _draw_completed(fig: Any, ax: Axes, done: list[tuple[float, pd.DataFrame]], marker: str | None) -> None:
    """Completed trials coloured by final accuracy (a colour bar when several), the best thick red."""
    finals = np.array([float(c["accuracy"].iloc[-1]) for _, c in done]) * 100
    norm = colors.Normalize(finals.min(), max(finals.max(), finals.min() + 1e-9))
    cmap = matplotlib.colormaps["viridis"]
    best = int(np.argmax(finals))
    for i, (_, c) in enumerate(done):
        if i != best:
            _draw(ax, c, color=cmap(norm(finals[i])), linewidth=1.2, alpha=0.9, marker=marker, markersize=3, zorder=3)
    _draw(ax, done[best][1], color="crimson", linewidth=2.4, marker=marker, markersize=4, zorder=4)
    if len(done) > 1:
        fig.colorbar(cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="final accuracy of completed trials (%)",
                     pad=0.01)


def _legend(ax: Axes, curves: dict[str, list[tuple[float, pd.DataFrame]]]) -> None:
    done = curves["COMPLETE"]
    handles = []
    if done:
        best = int(np.argmax([float(c["accuracy"].iloc[-1]) for _, c in done]))
        handles.append(Line2D([], [], color="crimson", linewidth=2.4,
                              label=f"best completed (trial {int(done[best][0])})"))
        if len(done) > 1:
            handles.append(Line2D([], [], color=matplotlib.colormaps["viridis"](0.6), linewidth=1.2,
                                  label=f"completed ({len(done)})"))
    if curves["PRUNED"]:
        handles.append(Line2D([], [], color="grey", linewidth=0.9, label=f"pruned ({len(curves['PRUNED'])})"))
    if curves["RUNNING"]:
        handles.append(Line2D([], [], color="tab:blue", linestyle="--", label=f"running ({len(curves['RUNNING'])})"))
    ax.legend(handles=handles, loc="best")


def plot_learning_curves(frame: pd.DataFrame, path: str | Path) -> bool:
    """Validation accuracy per epoch of every trial that trained (from `curve`, else `history`):
    completed ones coloured by final accuracy, the best of them thick red, pruned ones thin grey,
    running ones dashed; failed, infeasible and reused rows are left out. False when no trial has a
    curve."""
    table = curves_table(frame)
    if table.empty:
        return False
    curves: dict[str, list[tuple[float, pd.DataFrame]]] = {state: [] for state in STATES}
    for _, curve in table.groupby("row", sort=False):
        curves[curve["state"].iloc[0]].append((curve["number"].iloc[0], curve))
    marker = "o" if max(len(c) for group in curves.values() for _, c in group) <= 5 else None
    with styled_figure() as (fig, ax):
        for _, c in curves["PRUNED"]:
            _draw(ax, c, color="grey", alpha=0.55, linewidth=0.9, marker=marker, markersize=3, zorder=1)
        for _, c in curves["RUNNING"]:
            _draw(ax, c, color="tab:blue", linestyle="--", linewidth=1.0, marker=marker, markersize=3, zorder=2)
        if curves["COMPLETE"]:
            _draw_completed(fig, ax, curves["COMPLETE"], marker)
        _legend(ax, curves)
        ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
        n = sum(len(group) for group in curves.values())
        set_titles(fig, ax, "learning curves", f"{plural(n, 'trial')} with per-epoch validation accuracy")
        ax.set_xlabel("epoch")
        ax.set_ylabel(ACCURACY_LABEL)
        save_figure(fig, path)
    return True
