"""A ranking's report: Ranking -> runs.csv, rank.csv, pairwise.csv, fidelity.csv, rank.md, plots/, rank.html.

The text (method, summary line, display rows) is made here; the figures (harness.rank.plots) read
only the ranking's tables; the Markdown and HTML tables and the page's pieces are the study
report's (harness.report.study_tables, harness.report.html), so both pages look and read alike.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from harness.files import atomic_write
from harness.numbers import MISSING, human, is_missing, percent, plural
from harness.rank.plots import plot_fidelity, plot_rank_accuracy, plot_rank_vs_flops
from harness.rank.stats import MIN_RUNS
from harness.report.html import bullets, escape, figure, html_page, html_table, info_table, words
from harness.report.study_tables import markdown_table
from harness.store.record import keys

if TYPE_CHECKING:
    from harness.rank.ranking import Ranking

PLOTS_DIR = "plots"
NUMERIC_COLUMNS = {"rank", "n", "val acc (mean ± sd)", "val CI", "test acc (mean ± sd)", "P(best)", "params", "FLOPs",
                   "train img/s"}


def method_text(info: dict[str, Any]) -> list[str]:
    """How the numbers were made, one paragraph per item (for rank.md and rank.html)."""
    conf = round(100 * float(info.get("confidence", 0.95)))
    alpha = info.get("alpha", 0.05)
    race = (f" Racing: after the first {info.get('seeds')} seeds, each candidate still in the top group got "
            f"one more seed per round, up to {info.get('max_seeds')}, until the top group had one member."
            if info.get("race") else "")
    return [
        f"Each candidate was trained from scratch with {plural(info.get('seeds'), 'seed')} ({info.get('budget')} "
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


def _pm(mean: Any, std: Any) -> str:
    """'87.51% ± 0.42' (percentage points); '-' without a mean."""
    if is_missing(mean):
        return MISSING
    return percent(mean, 2) + ("" if is_missing(std) else f" ± {100 * float(std):.2f}")


def _ci(low: Any, high: Any) -> str:
    """'87.10 to 87.92' (percent); '-' without an interval."""
    if is_missing(low):
        return MISSING
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
        row = [MISSING if pd.isna(r["rank"]) else str(r["rank"]), str(r["candidate"]), n,
               _pm(r["mean"], r["std"]), _ci(r["ci_low"], r["ci_high"])]
        if has_test:
            row.append(_pm(r["test_mean"], r["test_std"]))
        ips = r[keys.IMAGES_PER_SECOND]
        row += [percent(r["prob_best"]), str(r["group"]) if isinstance(r["group"], str) else MISSING,
                human(r["params"]), human(r["flops"]), MISSING if pd.isna(ips) else f"{ips:,.0f}",
                str(r["label"]) if not pd.isna(r["rank"]) else f"{r['label']} (failed: {r[keys.FAILURE_REASON]})"]
        rows.append(row)
    return header, rows


def fidelity_rows(fidelity: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """The fidelity table as display rows: header and one row per predictor."""
    header = ["predictor", "n", "Kendall's tau", "p", "meaning"]
    rows = [[str(r["predictor"]), str(r["n"]), MISSING if pd.isna(r["tau"]) else f"{r['tau']:+.2f}",
             MISSING if pd.isna(r["p"]) else f"{r['p']:.3f}", str(r["meaning"])] for _, r in fidelity.iterrows()]
    return header, rows


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
        sure = "" if pd.isna(row["prob_best"]) else f", P(best) {percent(row['prob_best'], 0)}"
        runs = f", {plural(row['n'], 'run')}" if row["n"] < MIN_RUNS else ""
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
    """rank.md: the data and budget, the summary line, the ranking and fidelity tables, method, notes."""
    info = ranking.info
    data = info.get("dataset") or {}
    lines = [f"# Ranking {ranking.folder.name}", "",
             f"{data.get('summary', data.get('ref', '?'))}; {info.get('budget')} per run; "
             f"{plural(info.get('seeds'), 'seed')} per candidate{' (racing)' if info.get('race') else ''}.", "",
             summary_line(ranking), "", markdown_table(*table_rows(ranking.table)), ""]
    if not ranking.fidelity.empty:
        lines += ["## Fidelity", "", markdown_table(*fidelity_rows(ranking.fidelity)), ""]
    lines += ["## Method", ""] + [p + "\n" for p in method_text(info)]
    if ranking.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in ranking.notes] + [""]
    return "\n".join(lines)


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


def _items(info: dict[str, Any]) -> list[tuple[str, Any]]:
    """What the ranking was, as (label, text) rows: command, data, budget, seeds, hardware, versions."""
    data = info.get("dataset") or {}
    device = info.get("device") or {}
    return [
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


def _best(ranking: Ranking) -> str:
    """The summary line and the best candidate's architecture and costs, as the page's first box."""
    ranked = ranking.table[ranking.table["rank"].notna()]
    text = escape(summary_line(ranking))
    if not ranked.empty:
        best = ranked.iloc[0]
        text += (f"<br>Its architecture: <code>{words(best['label'])}</code>, {escape(human(best['params']))} params, "
                 f"{escape(human(best['flops']))} FLOPs.")
    return f"<p class=\"best\" id=\"best\">{text}</p>"


def ranking_html(ranking: Ranking, drawn: list[tuple[str, Path]]) -> str:
    """rank.html, the answer first: the summary and the best candidate, notes, the ranking table, the
    figures (embedded), fidelity, method, and the ranking's record (command, data, versions) at the end."""
    name = ranking.folder.name
    info = ranking.info
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    data = (info.get("dataset") or {}).get("summary") or (info.get("dataset") or {}).get("ref")
    context = "; ".join(str(w) for w in (data, info.get("budget") and f"{info.get('budget')} per run") if w)
    parts = [f"<h1>Ranking {escape(name)}</h1>",
             f"<p class=\"sub\">Drawn {escape(now)} from {escape(ranking.folder / 'rank.db')}; "
             f"{len(ranking.runs)} runs.{escape(f' On {context}.' if context else '')}</p>", _best(ranking)]
    if ranking.notes:
        parts.append(bullets((escape(n) for n in ranking.notes), "notes"))
    parts += ["<h2>The ranking</h2>", html_table(*table_rows(ranking.table), NUMERIC_COLUMNS, name="ranking")]
    parts.append("<h2>Plots</h2><div class=\"plots\">")
    parts += [figure(path, title) for title, path in drawn]
    parts.append("</div>")
    if not ranking.fidelity.empty:
        parts += ["<h2>Fidelity</h2>", html_table(*fidelity_rows(ranking.fidelity), {"n", "Kendall's tau", "p"})]
    parts.append("<h2>Method</h2>" + "".join(f"<p>{escape(p)}</p>" for p in method_text(info)))
    parts += ["<h2 id=\"record\">The ranking's record</h2>", info_table(_items(info), name="versions")]
    return html_page(f"{name}: harness ranking", parts)


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
