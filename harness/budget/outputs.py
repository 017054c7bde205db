"""The end of a budgeted run: the test split read once for the winner's final runs, the kept model
folder with its ONNX file, fidelity.csv (each rung's Kendall's tau against the ranking) and the
summary that run.html shows (harness.budget.run_page)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from harness.budget.plan import minutes
from harness.errors import HarnessError
from harness.files import atomic_write

if TYPE_CHECKING:
    from harness.budget.settings import BudgetResult


def test_once(folders: list[Path], data: Any, device: str) -> list[dict[str, Any]]:
    """Each final run's metrics with its test split's report added (metrics.json and model.html
    rewritten): the one read of the test split, with the weights each run kept."""
    import torch

    from harness.data.loader import Normalize
    from harness.final.model_folder import load_model, read_info, write_json
    from harness.final.model_page import write_pages
    from harness.final.train import METRICS_FILE, predict_logits
    from harness.train.metrics import report

    out = []
    dev = torch.device(device)
    for folder in folders:
        metrics = json.loads((folder / METRICS_FILE).read_text())
        if "test" not in metrics and data.test_x is not None:
            trained = load_model(folder)
            model = trained.model.to(dev)
            logits = predict_logits(model, data.test_x, Normalize(data, dev), 256, dev,
                                    bool(metrics.get("flip_averaged")))
            metrics["test"] = report(logits, data.test_y, data.classes)
            write_json(folder / METRICS_FILE, metrics)
            write_pages(folder, trained.spec, read_info(folder), metrics)
        out.append(metrics)
    return out


def fidelity(trials: pd.DataFrame, ranking: Any, rungs: tuple[int, ...]) -> pd.DataFrame:
    """One row per rung: Kendall's tau-b (and its p-value, pairs) between the ranked candidates'
    search accuracy after that many epochs and their mean validation accuracy over the ranking's seeds."""
    from harness.rank.stats import kendall

    columns = ["rung_epochs", "n", "kendall_tau", "p_value"]
    if ranking is None:
        return pd.DataFrame(columns=columns)
    table = ranking.table.dropna(subset=["mean"])
    history = {}
    for _, row in trials.iterrows():
        value = row.get("history")
        if isinstance(value, str):
            value = json.loads(value)
        history[int(row["number"])] = value if isinstance(value, list) else []
    by_name = {c.name: c.search_trial for c in ranking.candidates}
    rows = []
    for rung in rungs:
        search = []
        for name in table["candidate"]:
            curve = history.get(by_name.get(name, -1), [])
            search.append(curve[rung - 1] if len(curve) >= rung else math.nan)
        n, tau, p = kendall(search, list(table["mean"]))
        rows.append([rung, n, tau, p])
    return pd.DataFrame(rows, columns=columns)


def finish(pipe: Any, winner: Any, folders: list[Path], candidates: list[Any], ranking: Any) -> BudgetResult:
    """For the pipeline `pipe` (harness.budget.pipeline): test once, keep the best-validated final run as
    the model, export it, write fidelity.csv and run.html; the BudgetResult."""
    from harness.budget.run_page import write_run_page
    from harness.budget.settings import BudgetResult
    from harness.rank.stats import summarize

    metrics = test_once(folders, pipe.data, pipe.device)
    if not metrics:
        raise HarnessError(f"{pipe.folder}: no final run was trained")
    kept = max(range(len(folders)), key=lambda i: metrics[i]["val"]["accuracy"])
    tests = [m["test"]["accuracy"] for m in metrics if "test" in m]
    if tests:
        summary = summarize({winner.name: tests}).iloc[0]
        mean, ci = float(summary["mean"]), (float(summary["ci_low"]), float(summary["ci_high"]))
    else:
        pipe.notes.append(f"{pipe.dataset} has no test split: the figures are validation accuracies")
        mean, ci = math.nan, (math.nan, math.nan)
    onnx = _export(folders[kept], pipe) if pipe.config.onnx else None
    trials = pipe._search_trials()
    fid = fidelity(trials, ranking, pipe.plan.rungs)
    atomic_write(pipe.folder / "fidelity.csv", lambda tmp: fid.to_csv(tmp, index=False))
    result = BudgetResult(pipe.folder, winner.name, winner.spec.label, tests, mean, ci, folders[kept], onnx, fid,
                          pipe.clock.spent(), pipe.notes)
    write_run_page(result, pipe.state, trials, ranking, metrics)
    pipe.state.stages["outputs"] = {"done": True, "winner": winner.name, "label": winner.spec.label, "tests": tests,
                                    "mean": mean, "ci": list(ci), "model": str(folders[kept]),
                                    "onnx": str(onnx) if onnx else None, "notes": pipe.notes,
                                    "spent_s": round(pipe.clock.spent(), 1)}
    pipe.clock.save()
    _summary(result, pipe.plan.budget_s, pipe.say)
    return result


def _summary(result: BudgetResult, budget_s: float, say: Any) -> None:
    """The run's last lines: the winner, its test accuracy over seeds, each rung's tau, where things are."""
    say(f"winner: {result.winner} ({result.label})")
    tests, (low, high) = result.test_accuracies, result.test_ci
    if tests:
        interval = "" if math.isnan(low) else f" (95% CI {low:.2%} to {high:.2%})"
        say(f"test accuracy over {len(tests)} seed(s): {result.test_mean:.2%}{interval}; "
            f"runs: {', '.join(f'{t:.2%}' for t in tests)}")
    for _, row in result.fidelity.iterrows():
        say(f"fidelity: rung {int(row['rung_epochs'])} epoch(s) vs the ranking: Kendall's tau "
            f"{row['kendall_tau']:+.2f} (p {row['p_value']:.3f}, n {int(row['n'])})")
    for note in result.notes:
        say(f"note: {note}")
    onnx = f" (and {result.onnx.name})" if result.onnx else ""
    say(f"model: {result.model_folder}{onnx}; page: {result.folder / 'run.html'}; "
        f"{minutes(result.spent_s)} of {minutes(budget_s)} spent")


def finished_result(folder: Path, summary: dict[str, Any], state: Any, say: Any) -> BudgetResult:
    """The BudgetResult of a run that ended, from state.json and fidelity.csv; its lines said again."""
    from harness.budget.settings import BudgetResult

    path = folder / "fidelity.csv"
    fid = pd.read_csv(path) if path.is_file() else pd.DataFrame(columns=["rung_epochs", "n", "kendall_tau", "p_value"])
    result = BudgetResult(folder, summary["winner"], summary["label"], list(summary["tests"]), float(summary["mean"]),
                          (float(summary["ci"][0]), float(summary["ci"][1])), Path(summary["model"]),
                          Path(summary["onnx"]) if summary.get("onnx") else None, fid, float(summary["spent_s"]),
                          list(summary.get("notes", [])))
    say(f"the run in {folder} has ended; its answer:")
    _summary(result, state.plan.budget_s, say)
    return result


def _export(folder: Path, pipe: Any) -> Path | None:
    """model.onnx in the kept model folder, checked in onnxruntime; None (and a note) without the onnx extra."""
    try:
        from harness.final.onnx import export_onnx

        export_onnx(folder, folder / "model.onnx")
    except ImportError:
        pipe.notes.append("no model.onnx: install the onnx extra (pip install 'harness[onnx]')")
        return None
    except HarnessError as err:
        pipe.notes.append(f"no model.onnx: {err}")
        return None
    return folder / "model.onnx"
