"""Plots from a trials table alone (never from a study or a model): one function per figure."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed (servers, CI)

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from harness.results import pareto_front, searched_columns  # noqa: E402


def strongest_parameter(frame: pd.DataFrame) -> str | None:
    """The searched parameter whose values move mean accuracy the most (max - min of group means);
    a cheap stand-in for importance that needs no model."""
    done = frame[frame["state"] == "COMPLETE"].dropna(subset=["accuracy"])
    best, spread = None, -1.0
    for col in searched_columns(frame):
        if done[col].nunique() < 2:
            continue
        means = done.groupby(col)["accuracy"].mean()
        if means.max() - means.min() > spread:
            best, spread = col, float(means.max() - means.min())
    return best


def plot_accuracy_vs_flops(frame: pd.DataFrame, path: str | Path, *, title: str = "accuracy vs FLOPs",
                           hue: str | None = None) -> Path:
    """Scatter of validation accuracy against FLOPs (log axis), Pareto front drawn, points coloured
    by `hue` (default: the searched parameter that moves accuracy most); pruned trials hollow."""
    path = Path(path)
    shown = frame[frame["state"].isin(["COMPLETE", "PRUNED"])].dropna(subset=["accuracy", "flops"])
    shown = shown.assign(accuracy_pct=shown["accuracy"] * 100)
    hue = hue if hue is not None else strongest_parameter(frame)
    sns.set_theme(style="whitegrid", context="notebook")
    fig, ax = plt.subplots(figsize=(8, 5.5), dpi=120)
    try:
        if shown.empty:
            failed = int((frame["state"] == "FAIL").sum())
            note = f"no trial completed yet ({failed} failed: see failure_reason in trials.csv)" \
                if failed else "no trial has finished yet"
            ax.text(0.5, 0.5, note, ha="center", va="center",
                    transform=ax.transAxes, fontsize=13)
        else:
            done = shown[shown["state"] == "COMPLETE"]
            pruned = shown[shown["state"] == "PRUNED"]
            palette = None
            if hue:
                palette = "viridis" if pd.api.types.is_numeric_dtype(done[hue]) else "tab10"
            if not done.empty:
                sns.scatterplot(data=done, x="flops", y="accuracy_pct", hue=hue, palette=palette,
                                s=70, edgecolor="black", linewidth=0.5, ax=ax,
                                legend="full" if hue else False)
            if not pruned.empty:
                ax.scatter(pruned["flops"], pruned["accuracy_pct"], s=50, facecolors="none",
                           edgecolors="grey", label="pruned (accuracy when stopped)")
            front = pareto_front(shown)
            if not front.empty:
                ax.step(front["flops"], front["accuracy"] * 100, where="post", color="crimson",
                        linewidth=1.5, zorder=0, label="Pareto front")
                ax.scatter(front["flops"], front["accuracy"] * 100, s=150, facecolors="none",
                           edgecolors="crimson", linewidth=1.2, zorder=0)
            ax.set_xscale("log")
            ax.legend(title=hue, loc="best", fontsize=8, title_fontsize=9, framealpha=0.9)
        n = int(frame["state"].isin(["COMPLETE", "PRUNED", "FAIL"]).sum())
        ax.set_title(f"{title} ({n} trial{'s' if n != 1 else ''})")
        ax.set_xlabel("FLOPs per image (multiply-adds, log scale)")
        ax.set_ylabel("validation accuracy (%)")
        fig.tight_layout()
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
    return path
