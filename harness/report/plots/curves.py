"""Learning curves: `parse_curve` reads one trial's, `curves_table` gives every trained trial's
(one row per epoch), `plot_learning_curves` draws them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import cm, colors, ticker
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.lines import Line2D

from harness.numbers import plural
from harness.report.plots.style import (
    ACCURACY_LABEL,
    normalise,
    save_figure,
    set_titles,
    styled_figure,
)
from harness.store.record import filters, keys

STATES = ("COMPLETE", "PRUNED", "RUNNING")  # the trials that trained (or are training)
CURVE_COLUMNS = ["row", "number", "state", "epoch", "accuracy"]


def _points(raw: Any, kind: str) -> list[tuple[float, float]]:
    """The finite (epoch, accuracy) pairs of one decoded `curve` or `history` list."""
    points: list[tuple[float, float]] = []
    for i, item in enumerate(raw):
        if kind == keys.CURVE and isinstance(item, dict):
            epoch, acc = item.get("epoch", i + 1), item.get("val_accuracy")
        elif kind == keys.HISTORY:
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
    for raw, kind in ((curve, keys.CURVE), (history, keys.HISTORY)):
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
    keep = t["state"].isin(list(STATES)) & ~filters.infeasible_rows(t) & ~filters.reused_rows(t)
    kept = t[keep]
    rows = [(row, float(number), state, epoch, acc)
            for row, number, state, curve, history in zip(kept.index, kept["number"], kept["state"], kept[keys.CURVE],
                                                          kept[keys.HISTORY], strict=True)
            for epoch, acc in parse_curve(curve, history)]
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


class _Curve(NamedTuple):
    """One trial's validation accuracy (fraction) per epoch."""

    epoch: np.ndarray
    accuracy: np.ndarray


def _draw(ax: Axes, curves: list[_Curve], color: Any, marker: str | None, markersize: float,
          **style: Any) -> None:
    """Draw `curves` (epoch, accuracy) as one LineCollection (`color`: one colour or one per curve)
    and, with `marker`, their points as one scatter: one artist per group, not one per trial, so a
    study of 10,000 trials draws in a second (one plot() per curve took a minute on 2 cores)."""
    if not curves:
        return
    segments = [np.column_stack([c.epoch, c.accuracy * 100]) for c in curves]
    zorder = style.pop("zorder", 2)
    ax.add_collection(LineCollection(segments, colors=color, zorder=zorder, **style), autolim=True)
    if marker:
        points = np.concatenate(segments)
        point_colors = (np.repeat(np.asarray(color), [len(s) for s in segments], axis=0)
                        if isinstance(color, np.ndarray) else color)
        ax.scatter(points[:, 0], points[:, 1], s=markersize ** 2, c=point_colors, marker=marker, zorder=zorder,
                   alpha=style.get("alpha"), linewidths=0)
    ax.autoscale_view()


def _draw_completed(fig: Any, ax: Axes, done: list[tuple[float, _Curve]], marker: str | None) -> None:
    """Completed trials coloured by final accuracy (a colour bar when several), the best thick red."""
    finals = np.array([float(c.accuracy[-1]) for _, c in done]) * 100
    norm = colors.Normalize(finals.min(), max(finals.max(), finals.min() + 1e-9))
    cmap = matplotlib.colormaps["viridis"]
    best = int(np.argmax(finals))
    others = [i for i in range(len(done)) if i != best]
    _draw(ax, [done[i][1] for i in others], cmap(norm(finals[others])), marker, 3, linewidth=1.2, alpha=0.9,
          zorder=3)
    _draw(ax, [done[best][1]], "crimson", marker, 4, linewidth=2.4, zorder=4)
    if len(done) > 1:
        fig.colorbar(cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="final accuracy of completed trials (%)",
                     pad=0.01)


def _legend(ax: Axes, curves: dict[str, list[tuple[float, _Curve]]]) -> None:
    done = curves["COMPLETE"]
    handles = []
    if done:
        best = int(np.argmax([float(c.accuracy[-1]) for _, c in done]))
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
    curves: dict[str, list[tuple[float, _Curve]]] = {state: [] for state in STATES}
    # Split by trial without a DataFrame per group (10,000 groups: seconds): rows are in table order.
    starts = np.flatnonzero(np.r_[True, table["row"].to_numpy()[1:] != table["row"].to_numpy()[:-1]])
    ends = np.r_[starts[1:], len(table)]
    states, numbers = table["state"].to_numpy(), table["number"].to_numpy()
    epochs, accuracy = table["epoch"].to_numpy(dtype=float), table["accuracy"].to_numpy(dtype=float)
    for a, b in zip(starts, ends, strict=True):
        curves[states[a]].append((numbers[a], _Curve(epochs[a:b], accuracy[a:b])))
    marker = "o" if max(len(c.epoch) for group in curves.values() for _, c in group) <= 5 else None
    with styled_figure() as (fig, ax):
        _draw(ax, [c for _, c in curves["PRUNED"]], "grey", marker, 3, alpha=0.55, linewidth=0.9, zorder=1)
        _draw(ax, [c for _, c in curves["RUNNING"]], "tab:blue", marker, 3, linestyle="--", linewidth=1.0,
              zorder=2)
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
