"""harness run: one budget. The plan's split (pure), parse_budget, a budget too small (one line, exit 2,
nothing written), and a whole run on a small Fashion-MNIST-format folder: killed after its search,
resumed by the same command, ending within its budget, with rung promotion in the search (trials
pruned after the first rung, completed at the last), the test split read only for the winner's
final runs, fidelity.csv, the model folder with ONNX, and run.html read in a real browser."""

from __future__ import annotations

import gzip
import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.budget.plan import BudgetPlan, fit_final, fit_ranking, parse_budget, plan_budget
from harness.errors import HarnessError
from tests.support.browser import check_reads_well, open_page
from tests.support.inprocess import run_cli

# A small ResNet-9-like space with the fashion recipe: 2 architectures x 2 kernels, cheap at 28x28.
SPACE = """
name: tiny
stem: {kind: conv, width: 8, kernel_size: 3, stride: 1}
stages:
  count: 2
  block: {each: [plain, [residual, plain]]}
  stride: {each: [2, 2]}
  downsample: maxpool
  width: {each: [8, 16]}
  kernel_size: [3, 5]
head: {pool: max}
train: {epochs: 3, batch_size: 64, optimizer: sgd, lr: 0.1, weight_decay: 0.0005, warmup: 0.25,
        label_smoothing: 0.1, crop_padding: 2, flip: false, ema: 0.9, tta: false}
"""


def test_the_plan_shares_a_budget_and_refuses_one_too_small() -> None:
    plan = plan_budget(3600, 20.0)
    assert plan.search_s + plan.rank_s + plan.final_s + plan.reserve_s == pytest.approx(3600)
    assert plan.final_s > plan.search_s > 0 and plan.search_s == pytest.approx(plan.rank_s)
    assert plan.reserve_s == pytest.approx(180)
    small = plan_budget(600, 20.0)  # under 20 minutes the final training gets most
    assert small.final_s > 3 * small.search_s > 0 and small.search_s == pytest.approx(2 * small.rank_s)
    assert plan.rungs == (1, 3) and plan.final_seeds == 3 and plan.top == 5 and plan.rank_seeds == 2
    assert plan_budget(4 * 3600, 20.0).rungs == (1, 3, 9)
    assert plan_budget(600, 20.0).final_seeds == 2
    assert BudgetPlan.from_dict(json.loads(json.dumps(plan.as_dict()))) == plan
    with pytest.raises(HarnessError, match=r"budget 60 s is too small: .* about 30 s .* give at least 3\.0 min"):
        plan_budget(60, 30.0)
    # The ranking: as many candidates as fit, then as many seeds for them, else none.
    assert fit_ranking(150, [5, 5, 5, 5, 5], 3, 2) == (5, 2)
    assert fit_ranking(100, [5, 5, 5, 5, 5], 3, 2) == (5, 1)
    assert fit_ranking(50, [5, 10, 10], 3, 2) == (2, 1)
    assert fit_ranking(10, [5, 10], 3, 2) == (0, 0)
    assert fit_final(100, 10, 3) == (3, 3) and fit_final(25, 10, 3) == (1, 2) and fit_final(5, 10, 3) == (0, 0)
    assert fit_final(25, 10, 3, min_epochs=3) == (2, 1) and fit_final(95, 10, 3, min_epochs=3) == (3, 3)


def test_the_furthest_trials_come_first_completed_then_by_the_rung_reached() -> None:
    from harness.store.trials import furthest_trials

    frame = pd.DataFrame({
        "number": [0, 1, 2, 3, 4, 5, 6],
        "state": ["PRUNED", "COMPLETE", "PRUNED", "COMPLETE", "FAIL", "PRUNED", "COMPLETE"],
        "epochs": [2, 3, 1, 3, None, 2, 3],
        "accuracy": [0.95, 0.90, 0.99, 0.92, None, 0.91, 0.92],
        "infeasible": [None, None, None, None, None, None, None],
        "reused_from": [None, None, None, None, None, None, 3],
    })
    assert list(furthest_trials(frame, top=10)["number"]) == [3, 1, 0, 5, 2]  # 6 reuses 3; 4 failed
    assert list(furthest_trials(frame, top=2)["number"]) == [3, 1]


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("60m", 3600), ("1h30m", 5400), ("1.5h", 5400),
                                               ("3600", 3600), (45, 45)])
def test_budgets_are_read_with_their_units(text: str | int, seconds: float) -> None:
    assert parse_budget(text) == seconds


@pytest.mark.parametrize("text", ["", "5x", "-3m", "0", "m", "1h-5m"])
def test_a_budget_that_is_not_a_time_is_refused(text: str) -> None:
    with pytest.raises(HarnessError, match="budget"):
        parse_budget(text)


def _idx(array: np.ndarray) -> bytes:
    return struct.pack(f">{1 + array.ndim}i", 0x0800 | array.ndim, *array.shape) + array.tobytes()


def write_fashion_folder(folder: Path, n_train: int = 1200, n_test: int = 300, mark: int = 230) -> None:
    """Zalando's four .gz idx files with learnable images: each class a 6x6 square of brightness
    `mark` at its own place on noise of 0 to 90 (at 230 a small network learns it in an epoch or two;
    near the noise, slowly and unevenly)."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        images = rng.integers(0, 90, (n, 28, 28), dtype=np.uint8)
        for i, k in enumerate(labels):
            r, c = 2 + 8 * (k // 4), 2 + 6 * (k % 4)
            images[i, r:r + 6, c:c + 6] = mark
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(images)))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx(labels)))


def test_a_budget_too_small_for_one_trial_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    space = tmp_path / "tiny.yaml"
    space.write_text(SPACE)
    result = run_cli("run", str(space), "--budget", "1s", "--results", str(tmp_path / "out"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "budget 1 s is too small" in lines[0] and "give at least" in lines[0], result.stderr
    assert not (tmp_path / "out").exists()


def _state(folder: Path) -> dict:
    path = folder / "state.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def test_a_budgeted_run_killed_after_its_search_resumes_and_ends_within_its_budget(tmp_path: Path) -> None:
    data = tmp_path / "fashion"
    write_fashion_folder(data)
    space = tmp_path / "tiny.yaml"
    space.write_text(SPACE)
    budget = 50.0
    command = [sys.executable, "-m", "harness", "run", str(space), "--budget", f"{budget:g}s",
               "--dataset", f"fashion_mnist:{data}", "--results", str(tmp_path / "out"), "--quiet"]
    env = {**os.environ, "HARNESS_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    folder = tmp_path / "out" / "tiny"
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 120
    while not _state(folder).get("stages", {}).get("search", {}).get("done"):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "interrupted" in err and "Traceback" not in err
    spent_at_kill = _state(folder)["spent_s"]
    assert "plan for 50 s" in out and "search" in out

    start = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=180)
    resumed_wall = time.monotonic() - start
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "resuming the run" in done.stdout and "Traceback" not in done.stderr
    state = _state(folder)
    # Within the budget: the seconds of both invocations (the resumed one's start-up, about 5 s of a
    # Python and torch import on 2 cores, is outside the clock, as a resumed search's is).
    assert state["spent_s"] <= budget, state["spent_s"]
    assert resumed_wall <= budget - spent_at_kill + 15, (resumed_wall, spent_at_kill)

    # The search: rungs of epochs, 3 at the last (how many trials a loaded machine gets varies: the
    # promotion itself is tested below, apart from the clock).
    trials = pd.read_csv(folder / "search" / "trials.csv")
    assert set(trials.loc[trials["state"] == "COMPLETE", "epochs"]) <= {3}
    assert set(trials.loc[trials["state"] == "PRUNED", "epochs"]) <= {1, 2}

    # The answer: the winner's final runs, tested once; the test split read nowhere else.
    summary = state["stages"]["outputs"]
    assert summary["done"] and len(summary["tests"]) >= 1 and 0.5 < summary["mean"] <= 1.0
    runs = pd.read_csv(folder / "rank" / "runs.csv") if (folder / "rank" / "runs.csv").is_file() else None
    if runs is not None:
        assert runs["test_accuracy"].isna().all()
    model = Path(summary["model"])
    metrics = json.loads((model / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] in summary["tests"] and (model / "model.onnx").is_file()
    fidelity = pd.read_csv(folder / "fidelity.csv")  # a row per rung where a ranking ran
    assert list(fidelity.columns) == ["rung_epochs", "n", "kendall_tau", "p_value"]
    assert list(fidelity["rung_epochs"]) == ([1, 3] if state["stages"]["rank"]["top"] >= 2 else [])
    assert f"test accuracy over {len(summary['tests'])} seed(s)" in done.stdout

    # Run again: the answer, nothing trained.
    again = run_cli("run", str(space), "--budget", f"{budget:g}s", "--dataset", f"fashion_mnist:{data}",
                    "--results", str(tmp_path / "out"), "--quiet")
    assert again.returncode == 0 and "has ended" in again.stdout and "epoch" not in again.stdout.split("ended")[0]

    facts = open_page(folder / "run.html", tmp_path / "page")
    check_reads_well(facts)
    assert facts.text.index("Winner") < facts.text.index("Final runs") < facts.text.index("Ranking")
    assert f"{100 * summary['mean']:.2f}%" in facts.text


def test_successive_halving_promotes_a_third_and_a_deadline_stops_a_trial_between_epochs(tmp_path: Path) -> None:
    import time as clock

    from harness.search.search_config import search_config
    from harness.search.space import load_space
    from harness.search.study import run_search

    data = tmp_path / "fashion"
    write_fashion_folder(data, n_train=400, n_test=50, mark=100)  # hard: rung-1 accuracies differ
    space_file = tmp_path / "tiny.yaml"
    space_file.write_text(SPACE)
    space = load_space(str(space_file))
    common = dict(dataset=f"fashion_mnist:{data}", epochs=3, pruner="sha", results_dir=str(tmp_path / "out"),
                  device="cpu", precision="fp32", live=False, repeat=True)
    frame = run_search(space, search_config(space, trials=5, study_name="sha", **common), progress=None)
    states = dict(zip(frame["number"], zip(frame["state"], frame["epochs"], strict=True), strict=True))
    assert states[0] == ("COMPLETE", 3)  # the first trial has no rival at rung 1: promoted
    pruned = [n for n, (state, _) in states.items() if state == "PRUNED"]
    assert pruned and all(states[n][1] == 1 for n in pruned), states  # stopped at the first rung
    assert all(e == 3 for state, e in states.values() if state == "COMPLETE"), states
    assert frame.loc[frame["state"] == "PRUNED", "pruned_reason"].str.contains("sha pruner").all()

    # A deadline already past: the trial trains its first epoch, then stops, saying why.
    late = run_search(space, search_config(space, trials=1, study_name="late", deadline=clock.time(), **common),
                      progress=None)
    assert list(late["state"]) == ["PRUNED"] and list(late["epochs"]) == [1]
    assert "search's time is spent" in late["pruned_reason"].iloc[0]
