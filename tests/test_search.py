"""Search that spends compute wisely, end to end on the embedded dataset: constraints checked
before any training step, grid covering a space once, duplicates reused, pruning for one and for
two objectives, time budgets, learning curves stored for every trial."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch  # noqa: F401

from harness.data import load_dataset
from harness.errors import HarnessError, InvalidValueError
from harness.search.constraints import Constraints, parse_count
from harness.search.pruning import ParetoPruner
from harness.search.search_config import SearchConfig
from harness.search.study import run_search
from harness.train.loop import TrainConfig, train_model
from harness.train.steps import time_factor
from tests.support.tiny import TINY, StepCounter, tiny_space


@pytest.fixture(scope="module")
def full_data():
    # Two fifths of the default dataset: enough for lr 0.01 to pull clearly away from 1e-7 by epoch 2.
    full = load_dataset("default")
    import dataclasses

    return dataclasses.replace(full, train_x=full.train_x[:2000], train_y=full.train_y[:2000])


def test_infeasible_trials_run_no_training_step_and_are_recorded(tmp_path: Path, data) -> None:
    # 1.2M FLOPs: the residual 5x5 network (1.69M) breaks it, the other three meet it.
    space = tiny_space(constraints={"max_flops": "1.2M"})
    config = SearchConfig(trials=4, sampler="grid", device="cpu", results_dir=str(tmp_path))
    with StepCounter() as counter:
        frame = run_search(space, config, data=data, progress=None)
    infeasible = frame[frame["infeasible"].notna()]
    assert len(infeasible) == 1 and (infeasible["flops"] > 1.2e6).all()
    assert "FLOPs > max 1.2M" in infeasible["infeasible"].iloc[0]
    assert infeasible["accuracy"].isna().all() and infeasible["epochs"].isna().all()
    feasible = frame[frame["infeasible"].isna()]
    assert (feasible["flops"] <= 1.2e6).all() and feasible["accuracy"].notna().all()
    # Exactly the steps of the three feasible trials: 2 epochs x 1000 // 250 batches each.
    # 3 trained trials x 2 epochs x 4 steps, and one memory-measuring step (harness.train.speed)
    # for each of them: the infeasible trial is refused before it is measured.
    assert counter.steps == 3 * 2 * 4 + 3
    # Optuna sees the violation (positive) for the sampler's constraints_func.
    import optuna

    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tmp_path / 'tiny' / 'study.db'}")
    violations = {t.number: t.constraints["max_flops"] for t in study.trials}
    assert sum(v > 0 for v in violations.values()) == 1


def test_grid_covers_each_architecture_exactly_once(tmp_path: Path, data) -> None:
    space = tiny_space(train={"epochs": 1, "batch_size": 250})
    frame = run_search(space, SearchConfig(trials=50, sampler="grid", device="cpu", results_dir=str(tmp_path)),
                       data=data, progress=None)
    assert len(frame) == 4 == space.architecture_count()  # capped at the grid's size
    assert frame["spec_id"].is_unique and set(frame["state"]) == {"COMPLETE"}


def test_grid_refuses_a_continuous_space(tmp_path: Path, data) -> None:
    space = tiny_space(train={"epochs": 1, "lr": {"low": 1e-4, "high": 1e-2, "log": True}})
    with pytest.raises(HarnessError, match="train.lr"):
        run_search(space, SearchConfig(trials=2, sampler="grid", device="cpu", results_dir=str(tmp_path)),
                   data=data, progress=None)


def test_a_duplicate_architecture_is_reused_not_trained_again(tmp_path: Path, data) -> None:
    space = tiny_space(stages={**TINY["stages"], "kernel_size": 3, "block": "plain"})  # one network
    with StepCounter() as counter:
        frame = run_search(space, SearchConfig(trials=3, device="cpu", results_dir=str(tmp_path)),
                           data=data, progress=None)
    assert counter.steps == 2 * 4 + 1  # one trial trained (and its memory measured in one step)
    assert frame["reused_from"].tolist()[1:] == [0, 0] and frame["accuracy"].nunique() == 1
    with StepCounter() as counter:
        run_search(space, SearchConfig(trials=4, device="cpu", results_dir=str(tmp_path), repeat=True),
                   data=data, progress=None)
    assert counter.steps == 2 * 4 + 1  # --repeat: the fourth trial trained again


def test_learning_curves_are_stored_for_every_trial(tmp_path: Path, data) -> None:
    space = tiny_space(train={"epochs": 3, "batch_size": 250})
    frame = run_search(space, SearchConfig(trials=2, device="cpu", results_dir=str(tmp_path)), data=data,
                       progress=None)
    for cell in frame["curve"]:
        curve = json.loads(cell)
        assert [c["epoch"] for c in curve] == [1, 2, 3]
        assert all({"train_loss", "val_loss", "val_accuracy", "seconds"} <= set(c) for c in curve)
    csv = (tmp_path / "tiny" / "trials.csv").read_text()
    assert "val_loss" in csv and "curve" in csv.splitlines()[0]


def test_the_median_pruner_stops_hopeless_trials(tmp_path: Path, full_data) -> None:
    # Half the trials learn at a useful rate, half at 1e-7 (hopeless); the median pruner decides
    # at epoch 3 of 4, after 5 trials. Random sampling (seeded) mixes them.
    space = tiny_space(stages={**TINY["stages"], "kernel_size": 7, "block": "plain"},
                       train={"epochs": 4, "batch_size": 64, "lr": [0.01, 1e-7]})
    frame = run_search(space, SearchConfig(trials=10, device="cpu", results_dir=str(tmp_path), sampler="random",
                                           repeat=True, seed=1), data=full_data, progress=None)
    pruned = frame[frame["state"] == "PRUNED"]
    assert len(pruned) >= 1 and (pruned["train.lr"] == 1e-7).all()
    assert frame.loc[frame["state"] == "COMPLETE", "train.lr"].eq(0.01).any()
    assert pruned["pruned_reason"].str.contains("pruned after epoch").all()


def test_two_objective_study_prunes_with_the_pareto_policy(tmp_path: Path, full_data) -> None:
    # Cheap good networks first (lr 0.01), then expensive hopeless ones (lr 1e-7, wider):
    # a hopeless one costs more and is beaten by the cheap ones at epoch 2.
    space = tiny_space(stages={**TINY["stages"], "kernel_size": 7, "block": "plain",
                               "width": {"each": [[8, 32], [16, 64]]}},
                       train={"epochs": 3, "batch_size": 64, "lr": [0.01, 1e-7]})
    config = SearchConfig(trials=8, device="cpu", results_dir=str(tmp_path), objectives="accuracy,flops",
                          sampler="random", repeat=True, seed=0,
                          pareto=ParetoPruner(margin=0.05, warmup=1, min_trials=2))
    frame = run_search(space, config, data=full_data, progress=None)
    pruned = frame[frame["state"] == "PRUNED"]
    assert len(pruned) >= 1, frame[["state", "train.lr", "flops", "accuracy"]]
    assert (pruned["train.lr"] == 1e-7).any() and pruned["epochs"].max() < 3
    assert pruned["pruned_reason"].str.contains("beaten by").all()


def test_pruner_must_fit_the_number_of_objectives(tmp_path: Path, data) -> None:
    space = tiny_space()
    with pytest.raises(HarnessError, match="two-objective"):
        run_search(space, SearchConfig(pruner="pareto", results_dir=str(tmp_path)), data=data, progress=None)
    with pytest.raises(HarnessError, match="needs one objective"):
        run_search(space, SearchConfig(pruner="median", objectives="accuracy,flops", results_dir=str(tmp_path)),
                   data=data, progress=None)


# ------------------------------------------------------------------ time budgets
def test_seconds_stops_training_on_time(data) -> None:
    from harness import ArchSpec, StageSpec, StemSpec, build_model

    spec = ArchSpec(stem=StemSpec(width=8), stages=(StageSpec(width=8, stride=2, downsample="maxpool"),))
    model = build_model(spec, num_classes=10, input_size=(32, 32))
    result = train_model(model, data, TrainConfig(seconds=1.5, batch_size=50), seed=0)
    # The time per step of the epochs before the first evaluation (a tenth of the budget or more).
    step = result.history[0].seconds / (result.history[0].epoch * (len(data.train_y) // 50))
    assert 1.5 <= result.train_seconds <= 1.5 + 3 * step + 0.2
    assert len(result.history) >= 1 and result.history[-1].seconds == result.train_seconds


def test_time_factor_warms_up_then_anneals() -> None:
    assert time_factor("onecycle", 0.0, 0.2) == pytest.approx(0.04)
    assert time_factor("onecycle", 0.2, 0.2) == pytest.approx(1.0)
    assert time_factor("cosine", 0.6, 0.2) == pytest.approx(0.5)
    assert time_factor("cosine", 1.0, 0.2) == pytest.approx(0.0)
    assert time_factor("constant", 0.7, 0.2) == 1.0


# ------------------------------------------------------------------ constraints
@pytest.mark.parametrize(("text", "value"), [("5e6", 5e6), ("5M", 5e6), ("300k", 3e5), ("1.5G", 1.5e9), (42, 42.0)])
def test_counts_parse_with_suffixes(text: object, value: float) -> None:
    assert parse_count(text) == value


@pytest.mark.parametrize("text", ["-1", "0", "five", "5X", True])
def test_bad_counts_are_refused(text: object) -> None:
    with pytest.raises(InvalidValueError):
        parse_count(text)


def test_command_line_bounds_override_the_space_file() -> None:
    space = Constraints(max_flops=1e6, max_params=1e4)
    merged = space.merged(Constraints(max_flops=2e6))
    assert merged == Constraints(max_flops=2e6, max_params=1e4)


def test_cli_search_with_constraints_sampler_and_seconds(tmp_path: Path) -> None:
    space = Path(__file__).resolve().parents[1] / "search_spaces" / "kernel_size.yaml"
    out = subprocess.run([sys.executable, "-m", "harness", "search", str(space), "--trials", "3", "--seconds", "1",
                          "--sampler", "random", "--max-flops", "4M", "--results", str(tmp_path), "--device", "cpu"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    import pandas as pd

    frame = pd.read_csv(tmp_path / "kernel_size" / "trials.csv")
    assert len(frame) == 3
    trained = frame[frame["infeasible"].isna()]
    assert (trained["flops"] <= 4e6).all() and (trained["train_seconds"] < 2.5).all()
    bad = subprocess.run([sys.executable, "-m", "harness", "search", str(space), "--max-flops", "lots"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--max-flops" in bad.stderr and "Traceback" not in bad.stderr
