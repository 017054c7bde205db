"""Measured latency against counted FLOPs: `latency_flops_table` (one row per measured trial and
Kendall's tau-b between the two), `plot_latency_vs_flops` (both log axes, tau in the subtitle):
how well FLOPs predict speed on this device."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.report.plots.style import log_scale, save_figure, set_titles, styled_figure
from harness.store.record import filters


def latency_flops_table(frame: pd.DataFrame) -> tuple[pd.DataFrame, float, float]:
    """(number, flops, latency_ms, label of each trial measured once, not reused), Kendall's tau-b
    of latency against FLOPs and its p-value (NaN with fewer than 3 trials)."""
    from scipy.stats import kendalltau

    if "latency_ms" not in frame or "flops" not in frame:
        return pd.DataFrame(columns=["number", "flops", "latency_ms", "label"]), float("nan"), float("nan")
    t = frame[frame["latency_ms"].notna() & frame["flops"].notna()]
    t = filters.first_runs(t)
    t = t[["number", "flops", "latency_ms", "label"]].copy()
    t["flops"] = pd.to_numeric(t["flops"], errors="coerce").astype(float)
    t["latency_ms"] = pd.to_numeric(t["latency_ms"], errors="coerce").astype(float)
    t = t[(t["flops"] > 0) & (t["latency_ms"] > 0)]
    if len(t) < 3:
        return t, float("nan"), float("nan")
    tau, p = kendalltau(t["flops"], t["latency_ms"])
    return t, float(tau), float(p)


def plot_latency_vs_flops(frame: pd.DataFrame, path: str | Path, title: str | None = None) -> bool:
    """Latency at batch 1 (ms) against FLOPs per image, log axes, with Kendall's tau; False (nothing
    written) with fewer than 2 measured trials."""
    t, tau, p = latency_flops_table(frame)
    if len(t) < 2:
        return False
    with styled_figure() as (fig, ax):
        log_scale(ax, "x", "y")
        ax.scatter(t["flops"], t["latency_ms"], s=28, color="tab:blue", alpha=0.8, edgecolors="white", linewidth=0.5)
        words = "n < 3: no tau" if tau != tau else f"Kendall's tau {tau:+.2f} (p {p:.2g}, n {len(t)})"
        set_titles(fig, ax, title or "latency vs FLOPs", words)
        ax.set_xlabel("FLOPs per image (multiply-adds, log scale)")
        ax.set_ylabel("latency at batch 1 (ms, log scale)")
        save_figure(fig, path)
    return True
