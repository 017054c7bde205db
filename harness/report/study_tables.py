"""The report's tables from a trials table: leaderboard (rows and leaderboard.md), Pareto fronts
(pareto.csv), the varying parameters, the state counts in words, and Markdown tables.

The selections themselves (trained trials, fronts, the leaderboard, state counts) are
harness.store.trials'; this module adds what the report shows of them.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from harness.numbers import MISSING, human, is_missing, percent, plain, plural
from harness.store.record import catalogue, filters, keys
from harness.store.trials import leaderboard, pareto_front, searched_columns, state_counts, trained_trials

DEFAULT_TOP = 10
# The counted costs (the same on any machine) that the report gives a Pareto front, with their
# table headers: the catalogue's plotted whole-number costs (flops, params).
COSTS = {m.name: m.header for m in catalogue.plotted() if m.kind == "cost" and m.integer}
PER_GFLOP = "acc/GFLOP"


def numeric_columns() -> set[str]:
    """The leaderboard's right-aligned (numeric) headers."""
    return {"rank", "trial", PER_GFLOP, *(m.header for m in catalogue.board() if m.numeric)}


def varying_parameters(frame: pd.DataFrame) -> list[str]:
    """Searched parameters with at least two values among the feasible completed trials."""
    done = trained_trials(frame)
    return [c for c in searched_columns(frame) if done[c].dropna().nunique() >= 2]


def state_words(frame: pd.DataFrame) -> str:
    """'12 trials: 10 complete, 2 failed, 1 infeasible' (store.trials.state_counts in words)."""
    if frame.empty:
        return "no trials"
    words = {"FAIL": "failed"}
    parts = [f"{n} {words.get(s, s.lower())}" for s, n in state_counts(frame).items()]
    return f"{plural(len(frame), 'trial')}: " + ", ".join(parts)


def sentence(note: str) -> str:
    """A note as a sentence: first letter capital, a full stop."""
    return note[:1].upper() + note[1:] + "."


def markdown_cell(value: Any) -> str:
    """A value as one Markdown table cell: '-' for none, '|' escaped, lines joined."""
    if is_missing(value):
        return MISSING
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(header: list[str], rows: list[list[str]], numeric: set[str] | frozenset[str] = frozenset()) -> str:
    """A Markdown table of text cells; the columns named in `numeric` right-aligned."""
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---:" if h in numeric else "---" for h in header) + "|"]
    lines += ["| " + " | ".join(markdown_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def report_leaderboard(frame: pd.DataFrame, top: int = DEFAULT_TOP) -> pd.DataFrame:
    """The `top` feasible completed trials by accuracy, each experiment once (a reused result is
    listed under the trial that trained it), with accuracy per GFLOP and who reused it."""
    board = leaderboard(frame, top).copy()
    flops = pd.to_numeric(board["flops"], errors="coerce").astype(float)
    board["acc_per_gflop"] = board["accuracy"].astype(float) / (flops / 1e9)
    reused = frame.loc[filters.reused_rows(frame), keys.REUSED_FROM]
    board["reused_by"] = [
        ", ".join(str(int(n)) for n in frame.loc[reused.index[reused.astype(int) == int(num)], "number"])
        for num in board["number"]
    ]
    return board


def leaderboard_rows(frame: pd.DataFrame, top: int = DEFAULT_TOP) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the leaderboard as text cells (for leaderboard.md and the page)."""
    board = report_leaderboard(frame, top)
    params = searched_columns(frame)
    metrics = catalogue.board()
    header = ["rank", "trial", *(m.header for m in metrics), PER_GFLOP, "architecture", *params]
    if board["reused_by"].astype(bool).any():
        header.append("reused by")
    rows = []
    for rank, (_, r) in enumerate(board.iterrows(), start=1):
        per = r["acc_per_gflop"]
        row = [str(rank), str(int(r["number"])),
               *(MISSING if is_missing(r.get(m.name)) else m.text(r[m.name]) for m in metrics),
               MISSING if pd.isna(per) else f"{per:.3g}", MISSING if is_missing(r["label"]) else str(r["label"]),
               *[plain(r[p]) for p in params]]
        if "reused by" in header:
            row.append(r["reused_by"] or MISSING)
        rows.append(row)
    return header, rows


def leaderboard_markdown(frame: pd.DataFrame, top: int = DEFAULT_TOP, title: str = "") -> str:
    """leaderboard.md: the best trials as a Markdown table, with what each column means."""
    header, rows = leaderboard_rows(frame, top)
    lines = [f"# Leaderboard{': ' + title if title else ''}", ""]
    if not rows:
        lines.append(f"No trial has completed yet ({state_words(frame)}).")
        return "\n".join(lines) + "\n"
    lines += [
        f"Top {len(rows)} trials by validation accuracy ({state_words(frame)}). Each architecture "
        "is listed once (trials that reused its result are under \"reused by\"); trials refused by a "
        "constraint are left out. acc/GFLOP: validation accuracy (fraction) per 10^9 multiply-adds "
        "per image.",
        "",
        markdown_table(header, rows, numeric_columns()),
    ]
    return "\n".join(lines) + "\n"


def pareto_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The non-dominated trials by accuracy vs FLOPs and by accuracy vs params, one row per trial
    and front; `front` says which (flops or params). Infeasible and reused trials are left out."""
    done = trained_trials(frame)
    params = searched_columns(frame)
    columns = ["front", "number", "accuracy", "flops", "params", "label", *params]
    parts = []
    for cost in COSTS:
        front = pareto_front(done, cost=cost)
        if not front.empty:
            parts.append(front.assign(front=cost)[columns])
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)


def pareto_rows(front: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Header and text rows of one front of `pareto_table` (for the page)."""
    header = ["trial", "accuracy", "FLOPs", "params", "architecture"]
    rows = [[str(int(r["number"])), percent(r["accuracy"], 2), human(r["flops"]), human(r["params"]),
             MISSING if is_missing(r["label"]) else str(r["label"])] for _, r in front.iterrows()]
    return header, rows
