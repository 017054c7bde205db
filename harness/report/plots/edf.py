"""Error EDFs per value of a parameter (Radosavovic et al., 'Designing Network Design Spaces',
2020): `error_edf` and `flop_weights` compute, `edf_table` gives every level's curve, `plot_error_edf`
draws them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns

from harness.report.plots.style import (
    completed,
    is_numeric_param,
    param_levels,
    positive,
    save_figure,
    set_titles,
    styled_figure,
)

# Log-spaced FLOP bins of the FLOP-normalised error EDF (plot_error_edf(..., per_flop=True)).
EDF_FLOP_BINS = 5
EDF_COLUMNS = ["level", "error", "share", "n"]


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
    data = param_levels(frame, param)
    if data.empty:
        return pd.DataFrame(columns=EDF_COLUMNS)
    order = list(data["level"].cat.categories)
    if per_flop:
        data = data.assign(flops=positive(data["flops"])).dropna(subset=["flops"])
        if data["level"].nunique() < 2:
            return pd.DataFrame(columns=EDF_COLUMNS)
        logf = np.log10(data["flops"].to_numpy(dtype=float))
        edges = np.linspace(logf.min(), logf.max(), EDF_FLOP_BINS + 1)
    parts = []
    for level in order:
        rows = data[data["level"] == level]
        if rows.empty:
            continue
        weights = flop_weights(rows["flops"], edges) if per_flop else None
        edf = error_edf(1.0 - rows["accuracy"], weights)
        parts.append(edf.assign(level=level, n=len(rows))[EDF_COLUMNS])
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=EDF_COLUMNS)


def plot_error_edf(frame: pd.DataFrame, param: str, path: str | Path, *, per_flop: bool = False) -> bool:
    """Error EDFs per value of `param`: for each value, F(e) = share of its completed models with
    validation error (1 - accuracy) <= e; a curve further up-left is a better population.
    per_flop=True draws the FLOP-normalised EDF (see `edf_table`): models are reweighted so that
    each FLOP bin counts the same, so a value is not favoured just because its models happened to
    be bigger. False when `param` has fewer than two values among the completed trials (with
    FLOPs, for per_flop)."""
    table = edf_table(frame, param, per_flop=per_flop)
    if table.empty:
        return False
    order = list(dict.fromkeys(table["level"]))
    numeric = is_numeric_param(completed(frame)[param])
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
