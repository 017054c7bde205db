"""Parameter importance as bars: `importance_table` (the finite importances, largest first) and
`plot_importance`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns

from harness.numbers import plural
from harness.report.plots.style import save_figure, set_titles, styled_figure


def importance_table(importance: pd.DataFrame, top: int = 20) -> pd.DataFrame:
    """Columns param (text) and importance (finite), largest first, at most `top` rows; empty when
    `importance` is not a table of param and importance."""
    if not isinstance(importance, pd.DataFrame) or not {"param", "importance"} <= set(importance.columns):
        return pd.DataFrame(columns=["param", "importance"])
    data = importance[["param", "importance"]].copy()
    data["importance"] = pd.to_numeric(data["importance"], errors="coerce")
    data = data[np.isfinite(data["importance"].astype(float))]
    data = data.sort_values("importance", ascending=False).head(top)
    data["param"] = data["param"].astype(str)
    return data


def plot_importance(importance: pd.DataFrame, path: str | Path, *, top: int = 20) -> bool:
    """Horizontal bars of parameter importance (`importance`: columns param, importance), largest at
    the top, at most `top` of them. False when the table is empty or has no finite importance."""
    data = importance_table(importance, top)
    if data.empty:
        return False
    with styled_figure() as (fig, ax):
        sns.barplot(data=data, y="param", x="importance", order=data["param"].tolist(),
                    color=sns.color_palette()[0], ax=ax)
        for y, value in enumerate(data["importance"]):
            ax.annotate(f"{value:.2f}", (value, y), xytext=(3, 0), textcoords="offset points",
                        va="center", fontsize=8)
        ax.set_xlim(min(0.0, float(data["importance"].min())), float(data["importance"].max()) * 1.15 or 1.0)
        set_titles(fig, ax, "parameter importance for accuracy", plural(len(data), "parameter"))
        ax.set_xlabel("importance for accuracy (Optuna's evaluator, normalised to sum to 1)")
        ax.set_ylabel("searched parameter")
        save_figure(fig, path)
    return True
