"""A ranking's report: Ranking -> runs.csv, rank.csv, pairwise.csv, fidelity.csv, rank.md, plots/, rank.html.

The plots read only the ranking's tables: accuracy per candidate with its seeds and interval,
accuracy against FLOPs with error bars, and (when the candidates come from a study) the search's
brief accuracy against this ranking's. The HTML page embeds them, as the study report does.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from harness.files import atomic_write
from harness.numbers import human
from harness.rank.stats import MIN_RUNS
from harness.report.build import CSS, embed_png, html_table, info_table
from harness.report.plots import log_limits, save_figure, set_titles, styled_figure

if TYPE_CHECKING:
    from harness.rank.ranking import Ranking

PLOTS_DIR = "plots"
TOP_COLOUR = "#c0392b"  # the top group
OTHER_COLOUR = "#2c6fbb"
TEST_COLOUR = "#7f7f7f"


def method_text(info: dict[str, Any]) -> list[str]:
    """How the numbers were made, one paragraph per item (for rank.md and rank.html)."""
    conf = round(100 * float(info.get("confidence", 0.95)))
    alpha = info.get("alpha", 0.05)
    race = (f" Racing: after the first {info.get('seeds')} seeds, each candidate still in the top group got "
            f"one more seed per round, up to {info.get('max_seeds')}, until the top group had one member."
            if info.get("race") else "")
    return [
        f"Each candidate was trained from scratch with {_count(info.get('seeds'), 'seed')} ({info.get('budget')} "
        "each); seed index i is the same seed for every candidate, so each sees the same data order and "
        f"augmentation, and the weights differ by architecture.{race} Accuracy is measured on the validation "
        "split; the test split (where the dataset has one) is reported and never used to choose.",
        f"mean ± sd over seeds; CI: the {conf}% Student-t interval of the mean. P(best): the share of 10,000 "
        "bootstrap draws (each candidate's seeds resampled with replacement) in which the candidate has the "
        "highest mean.",
        f"Groups: two-sided Welch t-tests between every pair, Holm-corrected over all pairs (family-wise error "
        f"{alpha}). Candidates that share a letter are not significantly different (the letters mark the "
        "maximal sets of mutually indistinguishable candidates). Top group: the best by mean and every "
        "candidate not significantly worse than it (one-sided Welch tests against the best, Holm-corrected "
        "over those k - 1 comparisons, a smaller family than all pairs). With few seeds the tests have little "
        "power: a shared letter means 'not shown to differ', not 'equal'.",
        f"A candidate with fewer than {MIN_RUNS} completed runs has no spread: it gets no CI, P(best), letter or "
        "top group ('-'), and P(best), the letters and the top group are computed among the candidates with at "
        f"least {MIN_RUNS} runs only (none when fewer than two have that many).",
        "Fidelity: Kendall's tau-b between a predictor and this ranking's mean accuracies; +1 orders the "
        "candidates as this ranking does, 0 is no better than chance, and with 10 candidates |tau| below "
        "about 0.5 is within chance (see p).",
    ]


def _count(n: Any, noun: str) -> str:
    """'1 seed', '3 seeds'; '? seeds' when n is unknown."""
    if n is None:
        return f"? {noun}s"
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _pct(value: Any, digits: int = 1) -> str:
    return "-" if value is None or pd.isna(value) else f"{100 * float(value):.{digits}f}%"


def _pm(mean: Any, std: Any) -> str:
    if mean is None or pd.isna(mean):
        return "-"
    return _pct(mean, 2) + ("" if std is None or pd.isna(std) else f" ± {100 * float(std):.2f}")


def _ci(low: Any, high: Any) -> str:
    if low is None or pd.isna(low):
        return "-"
    return f"{100 * float(low):.2f} to {100 * float(high):.2f}"


def table_rows(table: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """The ranking as display rows: header and one row per candidate; "-" wherever a value is missing (NaN), as the
    CI, P(best) and group of a candidate with fewer than 2 completed runs."""
    has_test = table["test_mean"].notna().any()
    header = ["rank", "candidate", "n", "val acc (mean ± sd)", "val CI"]
    if has_test:
        header += ["test acc (mean ± sd)"]
    header += ["P(best)", "group", "params", "FLOPs", "train img/s", "architecture"]
    rows = []
    for _, r in table.iterrows():
        n = f"{r['n']}" + (f" (+{r['failed']} failed)" if r["failed"] else "")
        row = ["-" if pd.isna(r["rank"]) else str(r["rank"]), str(r["candidate"]), n,
               _pm(r["mean"], r["std"]), _ci(r["ci_low"], r["ci_high"])]
        if has_test:
            row.append(_pm(r["test_mean"], r["test_std"]))
        ips = r["images_per_second"]
        row += [_pct(r["prob_best"]), str(r["group"]) if isinstance(r["group"], str) else "-",
                human(r["params"]), human(r["flops"]), "-" if pd.isna(ips) else f"{ips:,.0f}",
                str(r["label"]) if not pd.isna(r["rank"]) else f"{r['label']} (failed: {r['failure_reason']})"]
        rows.append(row)
    return header, rows


def fidelity_rows(fidelity: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    header = ["predictor", "n", "Kendall's tau", "p", "meaning"]
    rows = [[str(r["predictor"]), str(r["n"]), "-" if pd.isna(r["tau"]) else f"{r['tau']:+.2f}",
             "-" if pd.isna(r["p"]) else f"{r['p']:.3f}", str(r["meaning"])] for _, r in fidelity.iterrows()]
    return header, rows


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def summary_line(ranking: Ranking) -> str:
    """One paragraph: who is best by mean, how sure, and which statistics are missing and why.

    Candidates with fewer than `MIN_RUNS` completed runs have no interval, P(best) or group (`rank_table`): when
    every ranked candidate has one run the line says so and what to give (more --seeds), else it names them and
    says that P(best) and the top group are among the candidates with at least `MIN_RUNS` runs.
    """
    table = ranking.table
    ranked = table[table["rank"].notna()]
    if ranked.empty:
        return "No candidate has a completed run."
    best = ranked.iloc[0]
    few = ranked[ranked["n"] < MIN_RUNS]["candidate"].tolist()
    some = len(ranked) - len(few)  # candidates with a spread
    top = ranked[ranked["top"].fillna(False).astype(bool)]["candidate"].tolist()

    def how_sure(row: pd.Series) -> str:
        sure = "" if pd.isna(row["prob_best"]) else f", P(best) {_pct(row['prob_best'], 0)}"
        runs = f", {_count(row['n'], 'run')}" if row["n"] < MIN_RUNS else ""
        return f"{_pm(row['mean'], row['std'])}{sure}{runs}"

    line = f"Best by mean validation accuracy: {best['candidate']} ({how_sure(best)})."
    if not some:
        seeds = ranking.info.get("seeds")
        if seeds is None or int(seeds) < MIN_RUNS:
            return line + (f" 1 seed per candidate: no confidence interval, P(best) or top group (needs at least "
                           f"{MIN_RUNS} seeds; give --seeds 3).")
        return line + (f" 1 completed run per candidate (the others failed: see rank.csv's failure_reason): no "
                       f"confidence interval, P(best) or top group (needs at least {MIN_RUNS} completed runs).")
    others = "every other candidate" + (f" with at least {MIN_RUNS} runs" if few else "")
    if top and top[0] == best["candidate"]:
        if len(top) > 1:
            line += f" The data cannot tell it apart from: {', '.join(top[1:])}."
        elif some > 1:
            line += f" It is significantly better than {others}."
    elif top:
        leader = ranked[ranked["candidate"] == top[0]].iloc[0]
        line += f" Among the candidates with at least {MIN_RUNS} runs, {top[0]} leads ({how_sure(leader)})"
        line += (f"; the data cannot tell it apart from: {', '.join(top[1:])}." if len(top) > 1
                 else f" and is significantly better than {others}.")
    if few:
        line += (f" Fewer than {MIN_RUNS} completed runs, so no confidence interval, P(best) or group: "
                 f"{', '.join(few)}")
        line += f" (P(best) and the top group are among the other {some} candidates)." if top else "."
        if not top:  # a single candidate with a spread: nothing to compare it with
            alone = ranked[ranked["n"] >= MIN_RUNS]["candidate"].iloc[0]
            line += (f" Only {alone} has {MIN_RUNS} or more, so no candidate has a P(best) or top group (they "
                     f"compare at least two candidates with {MIN_RUNS} runs).")
    return line


def ranking_markdown(ranking: Ranking) -> str:
    info = ranking.info
    data = info.get("dataset") or {}
    lines = [f"# Ranking {ranking.folder.name}", "",
             f"{data.get('summary', data.get('ref', '?'))}; {info.get('budget')} per run; "
             f"{_count(info.get('seeds'), 'seed')} per candidate{' (racing)' if info.get('race') else ''}.", "",
             summary_line(ranking), "", _md_table(*table_rows(ranking.table)), ""]
    if not ranking.fidelity.empty:
        lines += ["## Fidelity", "", _md_table(*fidelity_rows(ranking.fidelity)), ""]
    lines += ["## Method", ""] + [p + "\n" for p in method_text(info)]
    if ranking.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in ranking.notes] + [""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Plots


def _ranked(table: pd.DataFrame) -> pd.DataFrame:
    t = table[table["rank"].notna()].reset_index(drop=True)
    for col in ("mean", "ci_low", "ci_high", "test_mean", "test_ci_low", "test_ci_high", "flops",
                "search_accuracy"):
        t[col] = pd.to_numeric(t[col], errors="coerce").astype(float)
    t["top"] = t["top"].fillna(False).astype(bool)
    return t


def _err(t: pd.DataFrame, prefix: str = "") -> np.ndarray:
    """Asymmetric error bars (2 x n) from the interval columns; 0 where there is no interval."""
    mean = t[f"{prefix}mean"].to_numpy()
    low = (mean - t[f"{prefix}ci_low"].to_numpy())
    high = (t[f"{prefix}ci_high"].to_numpy() - mean)
    return np.nan_to_num(np.vstack([low, high]), nan=0.0)


def _errorbars(ax: Any, x: np.ndarray, y: np.ndarray, err: np.ndarray, colours: list[str], *,
               vertical: bool, **style: Any) -> None:
    """One error bar per point, each in its own colour (errorbar takes one colour per call)."""
    for i, colour in enumerate(colours):
        e = err[:, i:i + 1]
        if vertical:
            ax.errorbar(x[i:i + 1], y[i:i + 1], yerr=e, fmt="none", ecolor=colour, **style)
        else:
            ax.errorbar(x[i:i + 1], y[i:i + 1], xerr=e, fmt="none", ecolor=colour, **style)


def plot_rank_accuracy(table: pd.DataFrame, runs: pd.DataFrame, path: str | Path, *, title: str = "",
                       confidence: float = 0.95) -> bool:
    """Accuracy per candidate, best at the top: each seed's run (dots), the mean with its interval
    (bar), the test accuracy's mean and interval where there is one; top group in red."""
    t = _ranked(table)
    if t.empty:
        return False
    k = len(t)
    with styled_figure() as (fig, ax):
        fig.set_size_inches(7.5, max(3.0, 1.6 + 0.42 * k))
        y = np.arange(k)[::-1].astype(float)
        has_test = t["test_mean"].notna().any()
        shift = 0.15 if has_test else 0.0
        colours = [TOP_COLOUR if top else OTHER_COLOUR for top in t["top"]]
        for yi, (_, r), colour in zip(y, t.iterrows(), colours, strict=True):
            mine = runs[(runs["candidate"] == r["candidate"]) & (runs["state"] == "COMPLETE")]
            acc = pd.to_numeric(mine["accuracy"], errors="coerce").dropna().to_numpy()
            ax.scatter(acc, np.full(acc.size, yi + shift), s=14, color=colour, alpha=0.35, zorder=2)
        _errorbars(ax, t["mean"].to_numpy(), y + shift, _err(t), colours, vertical=False, elinewidth=2, capsize=3,
                   zorder=3)
        ax.scatter(t["mean"], y + shift, c=colours, s=40, zorder=4, label="validation: mean, CI, seeds")
        if has_test:
            tt = t[t["test_mean"].notna()]
            ty = y[t["test_mean"].notna().to_numpy()] - shift
            ax.errorbar(tt["test_mean"], ty, xerr=_err(tt, "test_"), fmt="D", color=TEST_COLOUR, ms=4,
                        elinewidth=1.2, capsize=2, mfc="white", zorder=3, label="test: mean, CI")
        ax.set_yticks(y, [f"{r['candidate']}  [{r['group']}]" if isinstance(r["group"], str) else str(r["candidate"])
                          for _, r in t.iterrows()])
        ax.set_xlabel("accuracy (fraction)")
        ax.legend(loc="best")
        conf = round(100 * confidence)
        set_titles(fig, ax, title or "Accuracy per candidate",
                   f"{k} candidates, seeds as dots, mean with its {conf}% t interval; red: the top group "
                   "(not significantly worse than the best); [letters]: candidates sharing one cannot be told apart")
        save_figure(fig, path)
    return True


def _named_means(ax: Any, t: pd.DataFrame, x: str) -> None:
    """Each candidate's mean accuracy (y) with its interval against column `x`, named; the top
    group in red."""
    colours = [TOP_COLOUR if top else OTHER_COLOUR for top in t["top"]]
    _errorbars(ax, t[x].to_numpy(), t["mean"].to_numpy(), _err(t), colours, vertical=True, elinewidth=1.5,
               capsize=3)
    ax.scatter(t[x], t["mean"], c=colours, s=36, zorder=3)
    for _, r in t.iterrows():
        ax.annotate(str(r["candidate"]), (r[x], r["mean"]), xytext=(4, 4), textcoords="offset points", fontsize=7)


def plot_rank_vs_flops(table: pd.DataFrame, path: str | Path, *, title: str = "") -> bool:
    """Mean accuracy (with its interval) against FLOPs per image (log axis), each candidate named."""
    t = _ranked(table)
    t = t[t["flops"] > 0]
    if t.empty:
        return False
    with styled_figure() as (fig, ax):
        _named_means(ax, t, "flops")
        ax.set_xscale("log")
        log_limits(ax, t["flops"].tolist())
        ax.set_xlabel("FLOPs per image (multiply-adds, log scale)")
        ax.set_ylabel("validation accuracy (fraction)")
        set_titles(fig, ax, title or "Accuracy vs FLOPs, with error bars",
                   f"{len(t)} candidates, mean and interval over seeds; red: the top group")
        save_figure(fig, path)
    return True


def plot_fidelity(table: pd.DataFrame, fidelity: pd.DataFrame, path: str | Path) -> bool:
    """The search's one brief run (x) against this ranking's mean (y): how far brief training holds."""
    t = _ranked(table)
    t = t[t["search_accuracy"].notna()]
    if len(t) < 3:
        return False
    row = fidelity[fidelity["predictor"].str.startswith("search")]
    tau = float(row["tau"].iloc[0]) if len(row) else math.nan
    with styled_figure() as (fig, ax):
        _named_means(ax, t, "search_accuracy")
        ax.set_xlabel("accuracy in the search (one brief run)")
        ax.set_ylabel("accuracy in this ranking (mean over seeds)")
        set_titles(fig, ax, "Brief search vs ranking", f"Kendall's tau {tau:+.2f} over {len(t)} trials; "
                   "perfect agreement would order the points left to right as bottom to top")
        save_figure(fig, path)
    return True


# ---------------------------------------------------------------------------------------------
# Files


def _plots(ranking: Ranking) -> list[tuple[str, str, Callable[[Path], bool]]]:
    conf = float(ranking.info.get("confidence", 0.95))
    name = ranking.folder.name
    return [
        ("rank_accuracy", "Accuracy per candidate",
         lambda p: plot_rank_accuracy(ranking.table, ranking.runs, p, title=f"{name}: accuracy per candidate",
                                      confidence=conf)),
        ("rank_vs_flops", "Accuracy vs FLOPs", lambda p: plot_rank_vs_flops(ranking.table, p,
                                                                             title=f"{name}: accuracy vs FLOPs")),
        ("rank_fidelity", "Brief search vs ranking", lambda p: plot_fidelity(ranking.table, ranking.fidelity, p)),
    ]


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def ranking_html(ranking: Ranking, drawn: list[tuple[str, Path]]) -> str:
    info = ranking.info
    data = info.get("dataset") or {}
    device = info.get("device") or {}
    items = [
        ("command", " ".join(str(w) for w in info.get("command") or [])),
        ("dataset", data.get("summary") or data.get("ref")),
        ("validation split", data.get("split_id")),
        ("budget per run", info.get("budget")),
        ("seeds per candidate", f"{info.get('seeds')}" + (f", racing up to {info.get('max_seeds')}"
                                                          if info.get("race") else "")),
        ("candidates from", info.get("study")),
        ("hardware", f"{device.get('type', '?')}: {device.get('name', '?')}"),
        ("versions", ", ".join(f"{k} {v}" for k, v in (info.get("versions") or {}).items())),
    ]
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    header, rows = table_rows(ranking.table)
    parts = ["<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
             "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
             f"<title>{_e(ranking.folder.name)}: harness ranking</title>", f"<style>{CSS}</style></head><body>",
             f"<h1>Ranking {_e(ranking.folder.name)}</h1>",
             f"<p class=\"sub\">Drawn {_e(now)} from {_e(ranking.folder / 'rank.db')}; {len(ranking.runs)} runs.</p>",
             f"<p>{_e(summary_line(ranking))}</p>",
             "<h2>The ranking</h2>", info_table(items),
             html_table(header, rows, {"rank", "n", "val acc (mean ± sd)", "val CI", "test acc (mean ± sd)",
                                       "P(best)", "params", "FLOPs", "train img/s"})]
    if not ranking.fidelity.empty:
        parts += ["<h2>Fidelity</h2>", html_table(*fidelity_rows(ranking.fidelity), {"n", "Kendall's tau", "p"})]
    parts.append("<h2>Plots</h2><div class=\"plots\">")
    for title, path in drawn:
        parts.append(f"<figure>{embed_png(path, title)}<figcaption><b>{_e(title)}.</b></figcaption></figure>")
    parts.append("</div><h2>Method</h2>" + "".join(f"<p>{_e(p)}</p>" for p in method_text(info)))
    if ranking.notes:
        parts.append("<h2>Notes</h2><ul class=\"notes\">" + "".join(f"<li>{_e(n)}</li>" for n in ranking.notes)
                     + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_ranking(ranking: Ranking) -> list[Path]:
    """Write every table, plot and rank.html of `ranking` into its folder; return the files."""
    folder = ranking.folder
    folder.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []

    def write(name: str, writer: Callable[[Path], None]) -> None:
        path = folder / name
        atomic_write(path, writer)
        files.append(path)

    write("runs.csv", lambda p: ranking.runs.to_csv(p, index=False))
    write("rank.csv", lambda p: ranking.table.to_csv(p, index=False))
    write("pairwise.csv", lambda p: ranking.pairwise.to_csv(p, index=False))
    write("fidelity.csv", lambda p: ranking.fidelity.to_csv(p, index=False))
    text = ranking_markdown(ranking)
    write("rank.md", lambda p: p.write_text(text, encoding="utf-8"))
    drawn: list[tuple[str, Path]] = []
    for stem, title, draw in _plots(ranking):
        path = folder / PLOTS_DIR / f"{stem}.png"
        if draw(path):
            drawn.append((title, path))
            files.append(path)
        else:
            path.unlink(missing_ok=True)  # an older figure would no longer be true
    page = ranking_html(ranking, drawn)
    write("rank.html", lambda p: p.write_text(page, encoding="utf-8"))
    ranking.files = files
    return files
