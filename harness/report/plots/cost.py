"""Accuracy against cost (FLOPs or params, log axis): `accuracy_vs_cost_table` says what each trial
is on the figure (completed, pruned, infeasible; its place on the Pareto front), `plot_accuracy_vs_cost`
draws it, `plot_accuracy_vs_flops` is the figure every results folder has (acc_vs_flops.png)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import colors
from matplotlib.axes import Axes

from harness.report.plots.style import (
    ACCURACY_LABEL,
    MAX_LEVELS,
    axis_label,
    completed,
    counts_line,
    in_words,
    is_numeric_param,
    levels,
    log_limits,
    log_scale,
    normalise,
    positive,
    save_figure,
    set_titles,
    styled_figure,
)
from harness.store.record import filters, keys
from harness.store.trials import pareto_front, searched_columns


def front_points(frame: pd.DataFrame, cost: str = "flops") -> pd.DataFrame:
    """The Pareto front (accuracy against `cost`) that plot_accuracy_vs_cost draws: exactly
    harness.store.trials.pareto_front over the trained trials (infeasible ones never trained), sorted by
    cost."""
    t = normalise(frame)
    if cost not in t:
        return t.iloc[0:0]
    t[cost] = pd.to_numeric(t[cost], errors="coerce").astype(float)
    return pareto_front(t[~filters.infeasible_rows(t)], cost=cost, metric="accuracy")


def strongest_parameter(frame: pd.DataFrame) -> str | None:
    """The searched parameter whose values move mean accuracy the most (max - min of group means
    over the completed trials); a cheap stand-in for importance that needs no model. A numeric
    parameter with many values (a learning rate) is grouped in quantile bins (`levels`), or its
    one-trial groups would always win."""
    done = completed(frame)
    best, spread = None, -1.0
    for col in searched_columns(frame):
        if col not in done:
            continue
        labels, order = levels(done[col])
        if len(order) < 2:
            continue
        means = done.loc[labels.index, "accuracy"].groupby(labels).mean()
        if means.max() - means.min() > spread:
            best, spread = col, float(means.max() - means.min())
    return best


def accuracy_vs_cost_table(frame: pd.DataFrame, cost: str = "flops") -> pd.DataFrame:
    """The normalised table with `cost` positive (else NaN), `kind` (what the figure shows of the
    trial: "completed", "pruned" (accuracy when stopped) or "infeasible" (at its cost); None: not
    shown) and `front` (its place on the Pareto front, from 0 at the lowest cost; NaN off it).
    Empty when the table has no `cost` column."""
    t = normalise(frame)
    if cost not in t:
        return pd.DataFrame()
    t[cost] = positive(t[cost])
    refused = filters.infeasible_rows(t)
    has_cost = t[cost].notna()
    kind = pd.Series(None, index=t.index, dtype=object)
    kind[t.index.isin(completed(t).index) & has_cost] = "completed"
    kind[(t["state"] == "PRUNED") & t["accuracy"].notna() & has_cost & ~refused] = "pruned"
    kind[refused & has_cost] = keys.INFEASIBLE
    front = front_points(t, cost)
    place = pd.Series(np.nan, index=t.index)
    place[front.index] = np.arange(len(front), dtype=float)
    return t.assign(kind=kind, front=place)


def preset_table(presets: pd.DataFrame | None, cost: str) -> pd.DataFrame:
    """Reference networks as rows label, accuracy (fraction or NaN), `cost` (positive)."""
    empty = pd.DataFrame(columns=["label", "accuracy", cost])
    if presets is None or not isinstance(presets, pd.DataFrame) or presets.empty or cost not in presets:
        return empty
    refs = presets.copy()
    if "label" not in refs:
        refs["label"] = refs.index.astype(str)
    refs["accuracy"] = pd.to_numeric(refs["accuracy"], errors="coerce") if "accuracy" in refs else np.nan
    refs[cost] = positive(refs[cost])
    return refs.dropna(subset=[cost])[["label", "accuracy", cost]]


def _scatter_coloured(ax: Axes, done: pd.DataFrame, cost: str, color_by: str | None) -> bool:
    """The completed trials' points; True when they got a colour bar (many numeric values)."""
    style = {"s": 48, "edgecolors": "black", "linewidth": 0.5, "zorder": 3}
    if color_by is None or done[color_by].nunique() < 2:
        ax.scatter(done[cost], done["accuracy"] * 100, color=sns.color_palette()[0], label="completed", **style)
        return False
    asked = done[done[color_by].notna()]
    missing = done[done[color_by].isna()]
    numeric = is_numeric_param(asked[color_by])
    labels, order = levels(asked[color_by]) if not numeric or asked[color_by].nunique() <= MAX_LEVELS \
        else (None, [])
    if labels is None:  # many numeric values: a continuous colour scale
        values = pd.to_numeric(asked[color_by]).astype(float)
        log = bool((values > 0).all() and values.max() / values.min() > 50)
        norm = colors.LogNorm() if log else None
        points = ax.scatter(asked[cost], asked["accuracy"] * 100, c=values, cmap="viridis", norm=norm, **style)
        ax.figure.colorbar(points, ax=ax, label=color_by + (" (log scale)" if log else ""), pad=0.01)
    else:
        colours = sns.color_palette("viridis" if numeric else "tab10", len(order))
        for level, colour in zip(order, colours, strict=True):
            rows = asked[labels == level]
            ax.scatter(rows[cost], rows["accuracy"] * 100, color=colour, label=f"{color_by} = {level}", **style)
    if not missing.empty:
        ax.scatter(missing[cost], missing["accuracy"] * 100, color="lightgrey",
                   label=f"{color_by} not asked", **style)
    return labels is None


def _draw_others(ax: Axes, t: pd.DataFrame, cost: str) -> None:
    """Pruned trials (hollow grey), the Pareto front (red steps, its trials ringed) and infeasible
    trials (x marks on the bottom edge at their cost)."""
    pruned, refused = t[t["kind"] == "pruned"], t[t["kind"] == keys.INFEASIBLE]
    front = t[t["front"].notna()].sort_values("front")
    if not pruned.empty:
        ax.scatter(pruned[cost], pruned["accuracy"] * 100, s=36, facecolors="none", edgecolors="grey",
                   linewidth=0.9, label="pruned (accuracy when stopped)", zorder=2)
    if not front.empty:
        xs = [*front[cost].tolist(), float(t[cost].max())]
        ys = [*(front["accuracy"] * 100).tolist(), float(front["accuracy"].iloc[-1] * 100)]
        ax.step(xs, ys, where="post", color="crimson", linewidth=1.4, zorder=1, label="Pareto front")
        ax.scatter(front[cost], front["accuracy"] * 100, s=130, facecolors="none", edgecolors="crimson",
                   linewidth=1.1, zorder=1)
    if not refused.empty:
        ax.scatter(refused[cost], np.full(len(refused), 0.02), marker="x", s=22, color="dimgrey",
                   linewidth=1.0, transform=ax.get_xaxis_transform(), clip_on=False, zorder=3,
                   label="infeasible (not trained; at its cost)")


def _draw_presets(ax: Axes, refs: pd.DataFrame, cost: str) -> None:
    """Reference networks: labelled gold stars, or a dotted line at the cost of one without accuracy."""
    for _, r in refs.iterrows():
        if pd.notna(r["accuracy"]):
            ax.scatter([r[cost]], [r["accuracy"] * 100], marker="*", s=170, color="gold",
                       edgecolors="black", linewidth=0.6, zorder=4)
            ax.annotate(str(r["label"]), (r[cost], r["accuracy"] * 100), xytext=(5, 4),
                        textcoords="offset points", fontsize=7.5)
        else:
            ax.axvline(r[cost], color="goldenrod", linestyle=":", linewidth=1.0, zorder=0)
            ax.text(r[cost], 0.98, f" {r['label']}", transform=ax.get_xaxis_transform(), rotation=90,
                    va="top", ha="right", fontsize=7, color="darkgoldenrod")
    if not refs.empty:
        ax.scatter([], [], marker="*", s=110, color="gold", edgecolors="black", linewidth=0.6,
                   label="reference networks")


def plot_accuracy_vs_cost(frame: pd.DataFrame, path: str | Path, *, cost: str = "flops",
                          color_by: str | None = None, presets: pd.DataFrame | None = None,
                          title: str | None = None) -> bool:
    """Validation accuracy against `cost` ("flops" or "params", log axis).

    Completed trials are points (coloured by the searched column `color_by`: numeric -> sequential
    palette, text -> qualitative; rows where it was not asked in grey), the Pareto front
    (`front_points`) is a red step line with its trials ringed, pruned trials are hollow grey
    (accuracy when stopped), infeasible trials (never trained, accuracy unknown) are small x marks
    on the bottom edge at their cost. `presets` (columns label, accuracy as a fraction, and `cost`)
    adds labelled reference stars; a preset without accuracy is a dotted vertical line at its cost.
    False (nothing written) when no completed trial has both an accuracy and a positive cost.
    """
    t = accuracy_vs_cost_table(frame, cost)
    done = t[t["kind"] == "completed"] if not t.empty else t
    if done.empty:
        return False
    refs = preset_table(presets, cost)
    with styled_figure() as (fig, ax):
        ax.set_xscale("log")
        colorbar = _scatter_coloured(ax, done, cost, color_by if color_by in searched_columns(frame) else None)
        _draw_others(ax, t, cost)
        _draw_presets(ax, refs, cost)
        log_scale(ax, "x")  # after seaborn, which sets its own tick labels
        log_limits(ax, [*t[cost].dropna().tolist(), *refs[cost].tolist()])
        handles, _ = ax.get_legend_handles_labels()
        if handles and colorbar:  # the colour scale already sits right of the axes
            ax.legend(loc="best")
        elif handles:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
        set_titles(fig, ax, title or f"accuracy vs {in_words(cost)}", counts_line(t))
        ax.set_xlabel(axis_label(cost, log=True))
        ax.set_ylabel(ACCURACY_LABEL)
        save_figure(fig, path)
    return True


def _nothing_yet(t: pd.DataFrame) -> str:
    """Why no trial can be drawn yet, in words."""
    failed = int((t["state"] == "FAIL").sum())
    refused = int(filters.infeasible_rows(t).sum())
    if failed:
        return f"no trial completed yet ({failed} failed: see failure_reason in trials.csv)"
    if refused and refused == len(t):
        return "no trial trained yet: every trial so far broke a hard constraint (see infeasible)"
    return "no trial has finished yet"


def plot_accuracy_vs_flops(frame: pd.DataFrame, path: str | Path, *, title: str = "accuracy vs FLOPs",
                           hue: str | None = None) -> Path:
    """The figure every results folder has (acc_vs_flops.png): plot_accuracy_vs_cost against FLOPs,
    coloured by `hue` (default: the searched parameter that moves accuracy most). Always writes the
    file: when nothing can be drawn yet, a figure that says why."""
    path = Path(path)
    hue = hue if hue is not None else strongest_parameter(frame)
    if plot_accuracy_vs_cost(frame, path, cost="flops", color_by=hue, title=title):
        return path
    t = normalise(frame)
    with styled_figure() as (fig, ax):
        ax.text(0.5, 0.5, _nothing_yet(t), ha="center", va="center", transform=ax.transAxes, fontsize=11,
                wrap=True)
        ax.set_xticks([])
        ax.set_yticks([])
        set_titles(fig, ax, title, counts_line(t))
        ax.set_xlabel(axis_label("flops", log=True))
        ax.set_ylabel(ACCURACY_LABEL)
        save_figure(fig, path)
    return path
