"""Plots from a trials table alone (never from a study or a model): one function per figure.

Every `plot_*` function takes a trials table (as `harness.store.trials.trials_frame` or `load_trials`
makes it; also tables read back from trials.csv), writes one PNG and returns True, or returns
False and writes nothing when the table cannot support that figure (no completed trial, a
parameter with a single value, no learning curves, ...). None of them raises on such tables: a
study that is still running, one where every trial failed, or one with a single trial is normal.

All figures share one look (`apply_style`): seaborn's whitegrid style, 7 x 4.5 inches at 110 dpi,
a title, and axis labels that name their units. Accuracy is drawn in percent.

Which rows a figure uses:
- "completed": state COMPLETE with an accuracy, not infeasible (a hard constraint refused it, so it
  was never trained) and not reused (a copy of an earlier trial's result: the same experiment,
  counted once);
- "pruned": state PRUNED; their accuracy is the one when they were stopped, so only the
  accuracy-vs-cost, history and learning-curve figures show them, marked apart;
- FAIL and RUNNING rows are counted in titles and otherwise left out.
"""

from __future__ import annotations

import json
import math
import textwrap
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; no display needed (servers, CI)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib import cm, colors, ticker  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from harness.store.trials import pareto_front, searched_columns  # noqa: E402

FIGSIZE = (7.0, 4.5)  # inches
DPI = 110
# A numeric parameter with more distinct values than this (a learning rate drawn from a range) is
# shown in quantile bins instead of one group per value.
MAX_LEVELS = 10
QUANTILE_BINS = 5
# Log-spaced FLOP bins of the FLOP-normalised error EDF (plot_error_edf(..., per_flop=True)).
EDF_FLOP_BINS = 5

ACCURACY_LABEL = "validation accuracy (%)"
COST_LABELS = {"flops": "FLOPs per image (multiply-adds, log scale)",
               "params": "parameters (count, log scale)"}
COST_NAMES = {"flops": "FLOPs", "params": "parameters"}
METRIC_LABELS = {"accuracy": ACCURACY_LABEL,
                 "val_loss": "validation loss (cross-entropy)",
                 "train_loss": "training loss (cross-entropy)",
                 "flops": "FLOPs per image (multiply-adds)",
                 "params": "parameters (count)",
                 "train_seconds": "training time (s)"}
# Metrics for which lower is better (the best-so-far line of plot_history follows the minimum).
LOWER_IS_BETTER = {"val_loss", "train_loss", "flops", "params", "train_seconds", "receptive_field"}

_NUMERIC = ("number", "accuracy", "val_loss", "train_loss", "params", "flops", "receptive_field",
            "train_seconds", "epochs", "reused_from")


# --- style -------------------------------------------------------------------------------------

@contextmanager
def apply_style() -> Iterator[None]:
    """The one look of every figure here, applied for the duration of the block only (the global
    matplotlib settings are left as they were)."""
    rc: dict[str, Any] = {**sns.axes_style("whitegrid"), **sns.plotting_context("notebook", font_scale=0.85)}
    rc.update({"figure.figsize": FIGSIZE, "figure.dpi": DPI, "savefig.dpi": DPI,
               "axes.titlesize": 11, "axes.titleweight": "bold", "legend.fontsize": 8,
               "legend.title_fontsize": 8, "legend.framealpha": 0.9})
    with plt.rc_context(rc):
        yield


@contextmanager
def styled_figure() -> Iterator[tuple[Figure, Axes]]:
    """A styled figure and axes, always closed afterwards (no figure leaks in long searches)."""
    with apply_style():
        fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI, layout="constrained")
        try:
            yield fig, ax
        finally:
            plt.close(fig)


def set_titles(fig: Figure, ax: Axes, title: str, subtitle: str = "") -> None:
    """The figure's title (bold, centred on the figure) and a smaller grey line under it (counts,
    what the figure shows), wrapped so that neither is ever cut at the figure's edge."""
    fig.suptitle(textwrap.fill(title, 70), fontsize=12, fontweight="bold")
    if subtitle:
        ax.set_title(textwrap.fill(subtitle, 95), fontsize=8.5, fontweight="normal", color="dimgrey",
                     loc="left")


def save_figure(fig: Figure, path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=DPI)


# --- tables ------------------------------------------------------------------------------------

def _table(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with the columns the plots read present and numeric where they should be (tables read
    back from CSV, Int64 columns with <NA>, or hand-made tables lacking columns all work)."""
    t = frame.reset_index(drop=True)  # a copy; a repeated index (concatenated tables) must not misalign
    if "state" not in t:
        t["state"] = "COMPLETE"
    t["state"] = t["state"].astype(str).str.upper()
    for col in _NUMERIC:
        t[col] = pd.to_numeric(t[col], errors="coerce").astype(float) if col in t else np.nan
    for col in ("infeasible", "curve", "history", "label"):
        if col not in t:
            t[col] = np.nan
    if "number" in frame:
        t["number"] = t["number"].fillna(pd.Series(range(len(t)), index=t.index, dtype=float))
    else:
        t["number"] = np.arange(len(t), dtype=float)
    return t


def _infeasible(t: pd.DataFrame) -> pd.Series:
    reason = t["infeasible"]
    return reason.notna() & (reason.astype(str).str.strip() != "")


def completed(frame: pd.DataFrame) -> pd.DataFrame:
    """The completed, trained, first-run trials with an accuracy: what the figures compare."""
    t = _table(frame)
    keep = (t["state"] == "COMPLETE") & t["accuracy"].notna() & ~_infeasible(t) & t["reused_from"].isna()
    return t[keep]


def front_points(frame: pd.DataFrame, cost: str = "flops") -> pd.DataFrame:
    """The Pareto front (accuracy against `cost`) that plot_accuracy_vs_cost draws: exactly
    harness.store.trials.pareto_front over the trained trials (infeasible ones never trained), sorted by
    cost."""
    t = _table(frame)
    if cost not in t:
        return t.iloc[0:0]
    t[cost] = pd.to_numeric(t[cost], errors="coerce").astype(float)
    return pareto_front(t[~_infeasible(t)], cost=cost, metric="accuracy")


def _sort_key(value: Any) -> tuple[int, float, str]:
    if isinstance(value, (bool, np.bool_)):
        return (1, 0.0, str(value))
    try:
        number = float(value)
    except (TypeError, ValueError):
        return (1, 0.0, str(value))
    return (0, number, "") if not math.isnan(number) else (2, 0.0, "")


def natural_order(values: Sequence[Any] | pd.Series) -> list[Any]:
    """Distinct values (NaN dropped), numbers in numeric order (3, 5, 11, also as strings) before
    the others in text order."""
    seen = pd.Series(list(values), dtype=object).dropna().unique().tolist()
    return sorted(seen, key=_sort_key)


def _fmt(value: Any) -> str:
    if isinstance(value, (bool, np.bool_, str)):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:.3g}"
    return str(value)


def levels(values: pd.Series) -> tuple[pd.Series, list[str]]:
    """Each non-missing value as a display label (index-aligned, missing rows dropped), and the
    labels in natural order. A numeric parameter with more than MAX_LEVELS distinct values is cut
    into QUANTILE_BINS quantile bins labelled 'low-high'."""
    v = values.dropna()
    if v.empty:
        return v.astype(str), []
    numeric = pd.to_numeric(v, errors="coerce")
    is_bool = pd.api.types.is_bool_dtype(v) or v.map(lambda x: isinstance(x, (bool, np.bool_))).any()
    if not is_bool and numeric.notna().all() and numeric.nunique() > MAX_LEVELS:
        numeric = numeric.astype(float)
        codes = pd.qcut(numeric, q=QUANTILE_BINS, duplicates="drop", labels=False)
        span = numeric.groupby(codes).agg(["min", "max"])  # labelled by the values seen, not qcut's edges
        names = {code: f"{row['min']:.3g}–{row['max']:.3g}" for code, row in span.iterrows()}
        labels = codes.map(names).astype(object)
        return labels, [names[code] for code in sorted(names)]
    labels = v.map(_fmt).astype(object)
    order: list[str] = []
    for value in natural_order(v):
        if _fmt(value) not in order:
            order.append(_fmt(value))
    return labels, order


def _is_numeric_param(values: pd.Series) -> bool:
    v = values.dropna()
    if v.empty or pd.api.types.is_bool_dtype(v) or v.map(lambda x: isinstance(x, (bool, np.bool_))).any():
        return False
    return bool(pd.to_numeric(v, errors="coerce").notna().all())


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


def _counts_line(t: pd.DataFrame) -> str:
    """'12 trials: 8 completed, 2 pruned, 1 failed, 1 running; 1 infeasible, 2 reused'."""
    n = len(t)
    infeasible = _infeasible(t)
    reused = t["reused_from"].notna() & ~infeasible
    trained = (t["state"] == "COMPLETE") & ~infeasible & ~reused
    parts = [f"{int(trained.sum())} completed"]
    for state in ("PRUNED", "FAIL", "RUNNING", "WAITING"):
        k = int((t["state"] == state).sum())
        if k:
            parts.append(f"{k} {'failed' if state == 'FAIL' else state.lower()}")
    extra = [f"{int(s.sum())} {what}" for s, what in ((infeasible, "infeasible"), (reused, "reused")) if s.any()]
    return f"{n} trial{'s' if n != 1 else ''}: " + ", ".join(parts) + ("; " + ", ".join(extra) if extra else "")


def _positive(values: pd.Series) -> pd.Series:
    v = pd.to_numeric(values, errors="coerce").astype(float)
    return v.where(v > 0)


def log_limits(ax: Axes, costs: Sequence[float]) -> None:
    finite = [c for c in costs if c is not None and np.isfinite(c) and c > 0]
    if finite:
        lo, hi = min(finite), max(finite)
        ax.set_xlim(lo / 1.6, hi * 1.6)


# --- 1. accuracy against cost ------------------------------------------------------------------

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
    t = _table(frame)
    if cost not in t:
        return False
    t[cost] = _positive(t[cost])
    done = completed(t).dropna(subset=[cost])
    if done.empty:
        return False
    infeasible = _infeasible(t)
    pruned = t[(t["state"] == "PRUNED") & t["accuracy"].notna() & t[cost].notna() & ~infeasible]
    refused = t[infeasible & t[cost].notna()]
    front = front_points(t, cost)
    refs = _preset_rows(presets, cost)
    name = COST_NAMES.get(cost, cost)
    title = title or f"accuracy vs {name}"
    with styled_figure() as (fig, ax):
        ax.set_xscale("log")
        colorbar = _scatter_coloured(ax, done, cost, color_by if color_by in searched_columns(frame) else None)
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
        log_limits(ax, [*t[cost].dropna().tolist(), *refs[cost].tolist()])
        handles, _ = ax.get_legend_handles_labels()
        if handles and colorbar:  # the colour scale already sits right of the axes
            ax.legend(loc="best")
        elif handles:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
        set_titles(fig, ax, title, _counts_line(t))
        ax.set_xlabel(COST_LABELS.get(cost, f"{cost} (log scale)"))
        ax.set_ylabel(ACCURACY_LABEL)
        save_figure(fig, path)
    return True


def _preset_rows(presets: pd.DataFrame | None, cost: str) -> pd.DataFrame:
    empty = pd.DataFrame(columns=["label", "accuracy", cost])
    if presets is None or not isinstance(presets, pd.DataFrame) or presets.empty or cost not in presets:
        return empty
    refs = presets.copy()
    if "label" not in refs:
        refs["label"] = refs.index.astype(str)
    refs["accuracy"] = pd.to_numeric(refs["accuracy"], errors="coerce") if "accuracy" in refs else np.nan
    refs[cost] = _positive(refs[cost])
    return refs.dropna(subset=[cost])[["label", "accuracy", cost]]


def _scatter_coloured(ax: Axes, done: pd.DataFrame, cost: str, color_by: str | None) -> bool:
    """The completed trials' points; True when they got a colour bar (many numeric values)."""
    style = {"s": 48, "edgecolors": "black", "linewidth": 0.5, "zorder": 3}
    if color_by is None or done[color_by].nunique() < 2:
        ax.scatter(done[cost], done["accuracy"] * 100, color=sns.color_palette()[0], label="completed", **style)
        return False
    asked = done[done[color_by].notna()]
    missing = done[done[color_by].isna()]
    numeric = _is_numeric_param(asked[color_by])
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


def plot_accuracy_vs_flops(frame: pd.DataFrame, path: str | Path, *, title: str = "accuracy vs FLOPs",
                           hue: str | None = None) -> Path:
    """The figure every results folder has (acc_vs_flops.png): plot_accuracy_vs_cost against FLOPs,
    coloured by `hue` (default: the searched parameter that moves accuracy most). Always writes the
    file: when nothing can be drawn yet, a figure that says why."""
    path = Path(path)
    hue = hue if hue is not None else strongest_parameter(frame)
    if plot_accuracy_vs_cost(frame, path, cost="flops", color_by=hue, title=title):
        return path
    t = _table(frame)
    failed = int((t["state"] == "FAIL").sum())
    refused = int(_infeasible(t).sum())
    if failed:
        note = f"no trial completed yet ({failed} failed: see failure_reason in trials.csv)"
    elif refused and refused == len(t):
        note = "no trial trained yet: every trial so far broke a hard constraint (see infeasible)"
    else:
        note = "no trial has finished yet"
    with styled_figure() as (fig, ax):
        ax.text(0.5, 0.5, note, ha="center", va="center", transform=ax.transAxes, fontsize=11, wrap=True)
        ax.set_xticks([])
        ax.set_yticks([])
        set_titles(fig, ax, title, _counts_line(t))
        ax.set_xlabel(COST_LABELS["flops"])
        ax.set_ylabel(ACCURACY_LABEL)
        save_figure(fig, path)
    return path


# --- 2. accuracy per value of a parameter ------------------------------------------------------

def _param_levels(frame: pd.DataFrame, param: str) -> tuple[pd.DataFrame, list[str]] | None:
    """Completed trials where `param` was asked, with a 'level' label column, and the level order;
    None when `param` is not a column or has fewer than two levels among them."""
    done = completed(frame)
    if param not in done:
        return None
    done = done[done[param].notna()]
    labels, order = levels(done[param])
    if len(order) < 2:
        return None
    return done.assign(level=labels), order


def _level_ticks(data: pd.DataFrame, order: list[str]) -> list[str]:
    counts = data["level"].value_counts()
    return [f"{level}\n(n={int(counts.get(level, 0))})" for level in order]


def plot_param_effect(frame: pd.DataFrame, param: str, path: str | Path) -> bool:
    """Validation accuracy of the completed trials per value of the searched parameter `param`
    (box plus one point per trial), values in natural order (3, 5, 7, 11); a numeric parameter with
    many values (a learning rate) is shown in quantile bins. Pruned trials are left out (their
    accuracy is a partial one). False when `param` has fewer than two values among them."""
    found = _param_levels(frame, param)
    if found is None:
        return False
    data, order = found
    data = data.assign(accuracy_pct=data["accuracy"] * 100)
    with styled_figure() as (fig, ax):
        palette = sns.color_palette("viridis" if _is_numeric_param(data[param]) else "tab10", len(order))
        with warnings.catch_warnings():  # seaborn 0.13 passes matplotlib 3.11 a deprecated `vert`
            warnings.simplefilter("ignore", DeprecationWarning)
            sns.boxplot(data=data, x="level", y="accuracy_pct", order=order, hue="level", hue_order=order,
                        palette=palette, legend=False, showfliers=False, width=0.55, boxprops={"alpha": 0.45},
                        ax=ax)
        sns.stripplot(data=data, x="level", y="accuracy_pct", order=order, color="black", size=4,
                      alpha=0.75, jitter=0.12, ax=ax)
        ax.set_xticks(range(len(order)), _level_ticks(data, order))
        unasked = len(completed(frame)) - len(data)
        set_titles(fig, ax, f"accuracy by {param}", f"{len(data)} completed trials"
                + (f" ({unasked} more where {param} was not asked)" if unasked else ""))
        ax.set_xlabel(param)
        ax.set_ylabel(ACCURACY_LABEL)
        save_figure(fig, path)
    return True


# --- 3. error EDFs -----------------------------------------------------------------------------

def error_edf(errors: Sequence[float] | pd.Series, weights: Sequence[float] | None = None) -> pd.DataFrame:
    """The empirical distribution function of `errors`: columns error (sorted, distinct) and share
    (F(e), the weighted share of models with error <= e: non-decreasing, ending at 1). Missing errors
    are dropped; no errors -> an empty table."""
    e = pd.Series(list(errors), dtype=float)
    w = pd.Series(list(weights), dtype=float) if weights is not None else pd.Series(1.0, index=e.index)
    keep = e.notna() & w.notna() & (w > 0)
    e, w = e[keep], w[keep]
    if e.empty:
        return pd.DataFrame({"error": pd.Series(dtype=float), "share": pd.Series(dtype=float)})
    summed = w.groupby(e.values).sum().sort_index()
    share = summed.cumsum() / summed.sum()
    share.iloc[-1] = 1.0  # exactly, not 0.9999999
    return pd.DataFrame({"error": summed.index.to_numpy(dtype=float), "share": share.to_numpy()})


def flop_weights(flops: Sequence[float] | pd.Series, edges: Sequence[float]) -> np.ndarray:
    """Weights that give every occupied log-FLOP bin (`edges`: log10 bin edges) the same total
    weight, split equally among its models (Radosavovic et al. 2019, 'normalized comparison')."""
    logf = np.log10(np.asarray(list(flops), dtype=float))
    nbins = max(len(edges) - 1, 1)
    bins = np.clip(np.searchsorted(np.asarray(edges), logf, side="right") - 1, 0, nbins - 1)
    counts = pd.Series(bins).value_counts()
    return np.array([1.0 / (len(counts) * counts[b]) for b in bins])


def edf_table(frame: pd.DataFrame, param: str, *, per_flop: bool = False) -> pd.DataFrame:
    """The curves plot_error_edf draws: columns level, error (1 - accuracy), share (F(e)), n (models
    of that level), one EDF per level of `param` in natural order. per_flop=True: each level's
    models are reweighted so that every occupied FLOP bin (EDF_FLOP_BINS log-spaced bins spanning
    the FLOPs of all models shown) carries equal weight; models without FLOPs are then left out.
    Empty when `param` has fewer than two levels."""
    columns = ["level", "error", "share", "n"]
    found = _param_levels(frame, param)
    if found is None:
        return pd.DataFrame(columns=columns)
    data, order = found
    if per_flop:
        data = data.assign(flops=_positive(data["flops"])).dropna(subset=["flops"])
        if data["level"].nunique() < 2:
            return pd.DataFrame(columns=columns)
        logf = np.log10(data["flops"].to_numpy(dtype=float))
        edges = np.linspace(logf.min(), logf.max(), EDF_FLOP_BINS + 1)
    parts = []
    for level in order:
        rows = data[data["level"] == level]
        if rows.empty:
            continue
        weights = flop_weights(rows["flops"], edges) if per_flop else None
        edf = error_edf(1.0 - rows["accuracy"], weights)
        parts.append(edf.assign(level=level, n=len(rows))[columns])
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def plot_error_edf(frame: pd.DataFrame, param: str, path: str | Path, *, per_flop: bool = False) -> bool:
    """Error EDFs per value of `param` (Radosavovic et al., 'Designing Network Design Spaces', 2020):
    for each value, F(e) = share of its completed models with validation error (1 - accuracy) <= e;
    a curve further up-left is a better population. per_flop=True draws the FLOP-normalised EDF
    (see `edf_table`): models are reweighted so that each FLOP bin counts the same, so a value is
    not favoured just because its models happened to be bigger. False when `param` has fewer than
    two values among the completed trials (with FLOPs, for per_flop)."""
    table = edf_table(frame, param, per_flop=per_flop)
    if table.empty:
        return False
    order = list(dict.fromkeys(table["level"]))
    numeric = _is_numeric_param(completed(frame)[param])
    colours = sns.color_palette("viridis" if numeric else "tab10", len(order))
    lo, hi = float(table["error"].min()) * 100, float(table["error"].max()) * 100
    pad = max((hi - lo) * 0.05, 0.5)
    with styled_figure() as (fig, ax):
        for level, colour in zip(order, colours, strict=True):
            curve = table[table["level"] == level]
            xs = [lo - pad, *(curve["error"] * 100).tolist(), hi + pad]
            ys = [0.0, *curve["share"].tolist(), 1.0]
            ax.step(xs, ys, where="post", color=colour, linewidth=1.8,
                    label=f"{level} (n={int(curve['n'].iloc[0])})")
        ax.set_xlim(lo - pad, hi + pad)
        ax.set_ylim(-0.02, 1.02)
        ax.legend(title=param, loc="best")
        kind = "FLOP-normalised error EDF" if per_flop else "error EDF"
        set_titles(fig, ax, f"{kind} by {param}", "share of completed models with error below e")
        ax.set_xlabel("validation error e (%, = 100 - accuracy)")
        ax.set_ylabel("cumulative share of models" + (" (FLOP-weighted)" if per_flop else ""))
        save_figure(fig, path)
    return True


# --- 4. importance -----------------------------------------------------------------------------

def plot_importance(importance: pd.DataFrame, path: str | Path, *, top: int = 20) -> bool:
    """Horizontal bars of parameter importance (`importance`: columns param, importance), largest at
    the top, at most `top` of them. False when the table is empty or has no finite importance."""
    if not isinstance(importance, pd.DataFrame) or not {"param", "importance"} <= set(importance.columns):
        return False
    data = importance[["param", "importance"]].copy()
    data["importance"] = pd.to_numeric(data["importance"], errors="coerce")
    data = data[np.isfinite(data["importance"].astype(float))]
    if data.empty:
        return False
    data = data.sort_values("importance", ascending=False).head(top)
    data["param"] = data["param"].astype(str)
    with styled_figure() as (fig, ax):
        sns.barplot(data=data, y="param", x="importance", order=data["param"].tolist(),
                    color=sns.color_palette()[0], ax=ax)
        for y, value in enumerate(data["importance"]):
            ax.annotate(f"{value:.2f}", (value, y), xytext=(3, 0), textcoords="offset points",
                        va="center", fontsize=8)
        ax.set_xlim(min(0.0, float(data["importance"].min())), float(data["importance"].max()) * 1.15 or 1.0)
        set_titles(fig, ax, "parameter importance for accuracy",
                f"{len(data)} parameter{'s' if len(data) != 1 else ''}")
        ax.set_xlabel("importance for accuracy (Optuna's evaluator, normalised to sum to 1)")
        ax.set_ylabel("searched parameter")
        save_figure(fig, path)
    return True


# --- 5. history --------------------------------------------------------------------------------

def best_so_far(values: pd.Series, lower_is_better: bool = False) -> pd.Series:
    """Running best of `values` (in their order), missing values carried over."""
    v = pd.to_numeric(values, errors="coerce").astype(float)
    return v.cummin() if lower_is_better else v.cummax()


def plot_history(frame: pd.DataFrame, path: str | Path, *, objective: str = "accuracy") -> bool:
    """`objective` of every completed trial by trial number, with the best-so-far step line (the
    minimum for losses, costs and time, else the maximum). Pruned trials are hollow grey (value when
    stopped); failed and infeasible trials are x marks on the bottom edge. False when no completed
    trial has a value of `objective`."""
    t = _table(frame)
    if objective not in t:
        return False
    t[objective] = pd.to_numeric(t[objective], errors="coerce").astype(float)
    done = completed(t)
    done = done[done[objective].notna()].sort_values("number")
    if done.empty:
        return False
    scale = 100.0 if objective == "accuracy" else 1.0
    lower = objective in LOWER_IS_BETTER
    infeasible = _infeasible(t)
    pruned = t[(t["state"] == "PRUNED") & t[objective].notna() & ~infeasible]
    lost = t[(t["state"] == "FAIL") | infeasible]
    best = best_so_far(done[objective], lower)
    with styled_figure() as (fig, ax):
        ax.scatter(done["number"], done[objective] * scale, s=36, color=sns.color_palette()[0],
                   edgecolors="black", linewidth=0.4, zorder=3, label="completed")
        if not pruned.empty:
            ax.scatter(pruned["number"], pruned[objective] * scale, s=30, facecolors="none", edgecolors="grey",
                       zorder=2, label="pruned (when stopped)")
        last = float(t["number"].max())
        ax.step([*done["number"].tolist(), last], [*(best * scale).tolist(), float(best.iloc[-1]) * scale],
                where="post", color="crimson", linewidth=1.5, zorder=2, label="best so far")
        if not lost.empty:
            ax.scatter(lost["number"], np.full(len(lost), 0.02), marker="x", s=22, color="dimgrey",
                       transform=ax.get_xaxis_transform(), clip_on=False, zorder=3,
                       label="failed or infeasible (no value)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
        ax.set_xlim(-0.5, max(last, 1.0) + 0.5)
        name = "validation accuracy" if objective == "accuracy" else objective
        set_titles(fig, ax, f"{name} by trial", _counts_line(t))
        ax.set_xlabel("trial number (order of sampling)")
        ax.set_ylabel(METRIC_LABELS.get(objective, objective))
        save_figure(fig, path)
    return True


# --- 6. learning curves ------------------------------------------------------------------------

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
        if points:
            return points
    return []


def _draw_curve(ax: Axes, points: list[tuple[float, float]], **style: Any) -> None:
    xy = np.asarray(points, dtype=float)
    ax.plot(xy[:, 0], xy[:, 1] * 100, **style)


def plot_learning_curves(frame: pd.DataFrame, path: str | Path) -> bool:
    """Validation accuracy per epoch of every trial that trained (from `curve`, else `history`):
    completed ones coloured by final accuracy, the best of them thick red, pruned ones thin grey,
    running ones dashed; failed, infeasible and reused rows are left out. False when no trial has a
    curve."""
    t = _table(frame)
    keep = t["state"].isin(["COMPLETE", "PRUNED", "RUNNING"]) & ~_infeasible(t) & t["reused_from"].isna()
    curves: dict[str, list[tuple[float, list[tuple[float, float]]]]] = {"COMPLETE": [], "PRUNED": [], "RUNNING": []}
    for _, r in t[keep].iterrows():
        points = parse_curve(r["curve"], r["history"])
        if points:
            curves[r["state"]].append((float(r["number"]), points))
    if not any(curves.values()):
        return False
    longest = max(len(p) for group in curves.values() for _, p in group)
    marker = "o" if longest <= 5 else None
    with styled_figure() as (fig, ax):
        for _, points in curves["PRUNED"]:
            _draw_curve(ax, points, color="grey", alpha=0.55, linewidth=0.9, marker=marker, markersize=3, zorder=1)
        for _, points in curves["RUNNING"]:
            _draw_curve(ax, points, color="tab:blue", linestyle="--", linewidth=1.0, marker=marker, markersize=3,
                        zorder=2)
        done = curves["COMPLETE"]
        if done:
            finals = np.array([points[-1][1] for _, points in done]) * 100
            norm = colors.Normalize(finals.min(), max(finals.max(), finals.min() + 1e-9))
            cmap = matplotlib.colormaps["viridis"]
            best = int(np.argmax(finals))
            for i, (_, points) in enumerate(done):
                if i != best:
                    _draw_curve(ax, points, color=cmap(norm(finals[i])), linewidth=1.2, alpha=0.9, marker=marker,
                                markersize=3, zorder=3)
            _draw_curve(ax, done[best][1], color="crimson", linewidth=2.4, marker=marker, markersize=4, zorder=4)
            if len(done) > 1:
                mappable = cm.ScalarMappable(norm=norm, cmap=cmap)
                fig.colorbar(mappable, ax=ax, label="final accuracy of completed trials (%)", pad=0.01)
        handles = []
        if done:
            handles.append(Line2D([], [], color="crimson", linewidth=2.4,
                                  label=f"best completed (trial {int(done[best][0])})"))
            if len(done) > 1:
                handles.append(Line2D([], [], color=matplotlib.colormaps["viridis"](0.6), linewidth=1.2,
                                      label=f"completed ({len(done)})"))
        if curves["PRUNED"]:
            handles.append(Line2D([], [], color="grey", linewidth=0.9, label=f"pruned ({len(curves['PRUNED'])})"))
        if curves["RUNNING"]:
            handles.append(Line2D([], [], color="tab:blue", linestyle="--",
                                  label=f"running ({len(curves['RUNNING'])})"))
        ax.legend(handles=handles, loc="best")
        ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
        n = sum(len(group) for group in curves.values())
        set_titles(fig, ax, "learning curves", f"{n} trial{'s' if n != 1 else ''} with per-epoch validation accuracy")
        ax.set_xlabel("epoch")
        ax.set_ylabel(ACCURACY_LABEL)
        save_figure(fig, path)
    return True


# --- 7. heatmap of two parameters --------------------------------------------------------------

def heatmap_table(frame: pd.DataFrame, x: str, y: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Mean accuracy (fraction) and trial count of the completed trials for each pair of levels of
    `x` (columns) and `y` (rows), both in natural order, rows with the largest `y` first (as the
    heatmap shows them); a pair never tried is NaN (count 0). Empty tables when either parameter is
    missing or has fewer than two levels, or x == y."""
    empty = pd.DataFrame(), pd.DataFrame()
    done = completed(frame)
    if x == y or x not in done or y not in done:
        return empty
    done = done[done[x].notna() & done[y].notna()]
    xl, xorder = levels(done[x])
    yl, yorder = levels(done[y])
    if len(xorder) < 2 or len(yorder) < 2:
        return empty
    data = pd.DataFrame({"x": xl, "y": yl, "accuracy": done["accuracy"]})
    means = data.pivot_table(index="y", columns="x", values="accuracy", aggfunc="mean")
    counts = data.pivot_table(index="y", columns="x", values="accuracy", aggfunc="count")
    means = means.reindex(index=yorder[::-1], columns=xorder)
    counts = counts.reindex(index=yorder[::-1], columns=xorder).fillna(0).astype(int)
    means.index.name, means.columns.name = y, x
    counts.index.name, counts.columns.name = y, x
    return means, counts


def plot_heatmap(frame: pd.DataFrame, x: str, y: str, path: str | Path) -> bool:
    """Mean validation accuracy of the completed trials for every pair of values of the searched
    parameters `x` and `y` (e.g. kernel size and dilation), each cell annotated with its mean and
    trial count; pairs never tried are blank. False when either has fewer than two values."""
    means, counts = heatmap_table(frame, x, y)
    if means.empty:
        return False
    text = means.copy().astype(object)
    for row in means.index:
        for col in means.columns:
            m, k = means.loc[row, col], counts.loc[row, col]
            text.loc[row, col] = f"{m * 100:.1f}\nn={k}" if k else ""
    cells = means.size
    with styled_figure() as (fig, ax):
        sns.heatmap(means * 100, annot=text.to_numpy(), fmt="", cmap="viridis", linewidths=0.5,
                    linecolor="white", annot_kws={"fontsize": 8 if cells <= 36 else 6},
                    cbar_kws={"label": "mean validation accuracy (%)"}, ax=ax)
        ax.set_facecolor("whitesmoke")
        set_titles(fig, ax, f"mean accuracy by {x} and {y}", f"{int(counts.to_numpy().sum())} completed trials")
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.tick_params(axis="y", rotation=0)
        save_figure(fig, path)
    return True


# The figures, by name: every function takes (frame or importance table, ..., path) and returns
# True when it wrote the PNG, False (nothing written) when the table cannot support it.
PLOTS: dict[str, Callable[..., bool]] = {
    "accuracy_vs_cost": plot_accuracy_vs_cost,
    "param_effect": plot_param_effect,
    "error_edf": plot_error_edf,
    "importance": plot_importance,
    "history": plot_history,
    "learning_curves": plot_learning_curves,
    "heatmap": plot_heatmap,
}
