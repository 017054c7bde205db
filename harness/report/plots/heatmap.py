"""Mean accuracy over the pairs of values of two parameters: `heatmap_table` (means and counts) and
`plot_heatmap`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import seaborn as sns

from harness.report.plots.style import completed, levels, save_figure, set_titles, styled_figure


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
