"""run.html: one self-contained page for a budgeted run, leading with the answer (the winner's test
accuracy over its seeds, with its interval), then the search, the ranking and the final runs, the
fidelity of each rung, and the plan against the time each stage took."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from harness.budget.plan import minutes
from harness.files import atomic_write
from harness.numbers import MISSING, human, is_missing, percent
from harness.report.html import bullets, escape, figure, html_page, html_table, info_table

if TYPE_CHECKING:
    from harness.budget.settings import BudgetResult
    from harness.budget.state import RunState

SEARCH_ROWS = 10


def _pct(value: Any, digits: int = 2) -> str:
    return MISSING if is_missing(value) else percent(float(value), digits)


def _answer(result: BudgetResult) -> str:
    if not result.test_accuracies:
        return f"<p class=\"best\">Winner: <b>{escape(result.winner)}</b> ({escape(result.label)}); no test split.</p>"
    low, high = result.test_ci
    interval = "" if is_missing(low) else f" (95% CI {_pct(low)} to {_pct(high)})"
    return (f"<p class=\"best\">Winner: <b>{escape(result.winner)}</b> ({escape(result.label)}): test accuracy "
            f"<b>{_pct(result.test_mean)}</b>{escape(interval)}, mean of {len(result.test_accuracies)} seed(s), "
            f"in {escape(minutes(result.spent_s))}. The test split was read once, at the end, for these runs only.</p>")


def _search_rows(trials: pd.DataFrame) -> list[list[str]]:
    done = trials[trials["accuracy"].notna()].sort_values(["epochs", "accuracy"], ascending=False)
    return [[str(int(r["number"])), str(r["state"]), str(int(r["epochs"])) if not is_missing(r["epochs"]) else MISSING,
             _pct(r["accuracy"]), human(r["params"]), human(r["flops"]), str(r["label"])]
            for _, r in done.head(SEARCH_ROWS).iterrows()]


def _rank_rows(ranking: Any) -> list[list[str]]:
    return [[MISSING if is_missing(r["rank"]) else str(int(r["rank"])), str(r["candidate"]), str(r["n"]),
             _pct(r["mean"]), MISSING if is_missing(r["ci_low"]) else f"{_pct(r['ci_low'])} to {_pct(r['ci_high'])}",
             percent(r["prob_best"]), human(r["params"]), human(r["flops"]), str(r["label"])]
            for _, r in ranking.table.iterrows()]


def write_run_page(result: BudgetResult, state: RunState, trials: pd.DataFrame, ranking: Any,
                   metrics: list[dict[str, Any]]) -> None:
    """Write run.html into the run's folder (see the module docstring)."""
    folder = result.folder
    plan = state.plan
    body = [f"<h1>{escape(folder.name)}: one budget of {escape(minutes(plan.budget_s))}</h1>",
            "<p class=\"sub\">Search, ranking and final training of one wall-clock budget (harness run).</p>",
            _answer(result)]
    plots = [(folder / "search" / "acc_vs_flops.png", "Search: accuracy against FLOPs",
              "every trial at the epochs it reached; the front in red."),
             (result.model_folder / "curves.png", "The kept final run", "losses and validation accuracy per epoch.")]
    body.append("<div class=\"plots\">" + "".join(figure(p, t, c) for p, t, c in plots if p.is_file()) + "</div>")
    body.append("<h2>Final runs of the winner</h2>")
    rows = [[str(i), str(m["epochs"]), _pct(m["val"]["accuracy"]), _pct(m.get("test", {}).get("accuracy")),
             f"{m['train_seconds']:.0f} s", "kept" if (folder / "final" / f"seed-{i}") == result.model_folder else ""]
            for i, m in enumerate(metrics)]
    body.append(html_table(["seed", "epochs", "val accuracy", "test accuracy", "training", ""], rows,
                           numeric={"seed", "epochs", "val accuracy", "test accuracy", "training"}, name="final"))
    body.append("<h2>Ranking</h2>")
    if ranking is not None:
        body.append(html_table(["rank", "candidate", "runs", "val acc (mean)", "95% CI", "P(best)", "params", "FLOPs",
                                "architecture"], _rank_rows(ranking),
                               numeric={"runs", "val acc (mean)", "P(best)", "params", "FLOPs"}, name="ranking"))
    else:
        body.append("<p>No ranking (see the notes).</p>")
    body.append("<h2>Fidelity: does each rung predict the ranking?</h2>")
    fid = [[str(int(r["rung_epochs"])), str(int(r["n"])), MISSING if is_missing(r["kendall_tau"]) else
            f"{r['kendall_tau']:+.2f}", MISSING if is_missing(r["p_value"]) else f"{r['p_value']:.3f}"]
           for _, r in result.fidelity.iterrows()]
    body.append(html_table(["rung (epochs)", "candidates", "Kendall's tau", "p-value"], fid,
                           numeric={"rung (epochs)", "candidates", "Kendall's tau", "p-value"}, name="fidelity"))
    body.append(f"<h2>Search (the best {SEARCH_ROWS} by epochs reached, then accuracy)</h2>")
    body.append(html_table(["trial", "state", "epochs", "val accuracy", "params", "FLOPs", "architecture"],
                           _search_rows(trials), numeric={"trial", "epochs", "val accuracy", "params", "FLOPs"},
                           name="search"))
    if result.notes:
        body += ["<h2>Notes</h2>", bullets([escape(n) for n in result.notes], "notes")]
    body.append("<h2>The plan and the time each stage took</h2>")
    ended = {name: rec.get("ended_at_s") for name, rec in state.stages.items()}
    items = [(line.split()[0], " ".join(line.split()[1:])) for line in plan.lines()[1:]]
    items += [(f"{name} ended at", minutes(float(at)) if at is not None else MISSING) for name, at in ended.items()]
    items += [("spent in all", minutes(result.spent_s)),
              ("pages", "search/report.html, rank/rank.html, the model's model.html"),
              ("model folder", str(result.model_folder)), ("ONNX", str(result.onnx) if result.onnx else MISSING)]
    body.append(info_table(items, "plan"))
    page = html_page(f"run: {folder.name}", body)
    atomic_write(folder / "run.html", lambda tmp: tmp.write_text(page, encoding="utf-8"))
