"""Accuracy per value of one searched parameter: `param_effect_table` (the completed trials where it
was asked, with their display level) and `plot_param_effect` (box plus one point per trial)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd
import seaborn as sns

from harness.report.plots.style import (
    ACCURACY_LABEL,
    completed,
    is_numeric_param,
    param_levels,
    save_figure,
    set_titles,
    styled_figure,
)


def param_effect_table(frame: pd.DataFrame, param: str) -> pd.DataFrame:
    """The completed trials where `param` was asked, with `level` (ordered categorical, natural
    order; quantile bins for a numeric parameter with many values) and `accuracy_pct`; empty when
    `param` has fewer than two levels among them."""
    data = param_levels(frame, param)
    return data.assign(accuracy_pct=data["accuracy"] * 100)


def _level_ticks(data: pd.DataFrame, order: list[str]) -> list[str]:
    counts = data["level"].value_counts()
    return [f"{level}\n(n={int(counts.get(level, 0))})" for level in order]


def plot_param_effect(frame: pd.DataFrame, param: str, path: str | Path) -> bool:
    """Validation accuracy of the completed trials per value of the searched parameter `param`
    (box plus one point per trial), values in natural order (3, 5, 7, 11); a numeric parameter with
    many values (a learning rate) is shown in quantile bins. Pruned trials are left out (their
    accuracy is a partial one). False when `param` has fewer than two values among them."""
    table = param_effect_table(frame, param)
    if table.empty:
        return False
    order = list(table["level"].cat.categories)
    data = table.assign(level=table["level"].astype(object))
    with styled_figure() as (fig, ax):
        palette = sns.color_palette("viridis" if is_numeric_param(data[param]) else "tab10", len(order))
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
