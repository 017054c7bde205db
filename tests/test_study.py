"""The study through the Python API: trials recorded, failures kept with reasons, resume, objectives."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pandas as pd
import pytest
import torch

import harness
from harness.search.search_config import SearchConfig, counted
from harness.search.study import run_search

SPACE = {
    "stem": {"width": 8},
    "stages": {"count": 2, "width": {"each": [8, 16]}, "stride": 2,
               "kernel_size": {"choices": [3, 5], "per_stage": True}, "dilation": [1, 2]},
    "train": {"epochs": 2, "batch_size": 64},
}


def _study(folder: Path) -> optuna.Study:
    return optuna.load_study(study_name=folder.name, storage=f"sqlite:///{(folder / 'study.db').resolve()}")


def test_search_records_every_trial_and_writes_results(tmp_path: Path, tiny_data: harness.ImageData) -> None:
    space = harness.space_from_dict(SPACE, default_name="tiny")
    frame = run_search(space, SearchConfig(trials=3, results_dir=str(tmp_path), pruner="none"),
                       data=tiny_data, progress=None, argv=["test"])
    folder = tmp_path / "tiny"
    assert len(frame) == 3
    assert set(frame["state"]) == {"COMPLETE"}
    for col in ("s1.kernel_size", "s2.kernel_size", "dilation", "accuracy", "val_loss", "params",
                "flops", "receptive_field", "train_seconds", "failure_reason"):
        assert col in frame.columns, col
    assert frame["accuracy"].between(0, 1).all()
    # The recorded parameter count is the model's own count.
    for _, row in frame.iterrows():
        spec, _ = space.build({k: row[k] for k in space.searched})
        model = harness.build_model(spec, num_classes=10)
        assert row["params"] == sum(p.numel() for p in model.parameters())
        assert row["spec_id"] == spec.spec_id
        assert len(json.loads(row["history"])) == 2  # one accuracy per epoch, for pruning
    csv = pd.read_csv(folder / "trials.csv")
    assert list(csv["number"]) == [0, 1, 2]
    assert (folder / "acc_vs_flops.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    run = json.loads((folder / "run.json").read_text())
    assert {"python", "torch", "torchvision", "optuna", "fvcore"} <= set(run["latest"]["versions"])
    assert run["latest"]["seed"] == 0 and run["latest"]["command"] == ["test"]
    assert harness.load_trials(folder)["number"].tolist() == [0, 1, 2]


def test_failing_trials_are_recorded_and_the_study_goes_on(tmp_path: Path, tiny_data: harness.ImageData) -> None:
    # Five stride-2 max-pool stages cannot work on 32x32 once the map is 1x1; a learning rate of
    # 1e30 makes the loss non-finite. Both must be recorded with a reason, and the study goes on.
    space = harness.space_from_dict({
        "stages": {"count": 6, "width": 8, "stride": 2, "downsample": "maxpool",
                   "kernel_size": 3},
        "train": {"epochs": 1, "lr": [1.0e-3, 1.0e9], "optimizer": "sgd"},
    }, default_name="failing")
    frame = run_search(space, SearchConfig(trials=3, results_dir=str(tmp_path), pruner="none"),
                       data=tiny_data, progress=None, argv=["test"])
    assert len(frame) == 3 and (frame["state"] == "FAIL").all()
    assert frame["failure_reason"].str.contains("invalid spec").all()
    assert frame["failure_reason"].str.contains("smaller than the stride").all()

    space = harness.space_from_dict({
        "stages": {"count": 1, "width": 8, "kernel_size": 3},
        "train": {"epochs": 1, "lr": 1.0e30, "optimizer": "sgd", "schedule": "constant"},
    }, default_name="nan")
    frame = run_search(space, SearchConfig(trials=2, results_dir=str(tmp_path)),
                       data=tiny_data, progress=None, argv=["test"])
    assert (frame["state"] == "FAIL").all()
    assert frame["failure_reason"].str.contains("non-finite loss").all()
    assert frame["params"].notna().all()  # costs are recorded even when training fails


def test_resume_runs_only_the_missing_trials(tmp_path: Path, tiny_data: harness.ImageData) -> None:
    space = harness.space_from_dict(SPACE, default_name="resume")
    config = SearchConfig(trials=2, results_dir=str(tmp_path), pruner="none")
    first = run_search(space, config, data=tiny_data, progress=None, argv=["test"])
    # An interrupted trial (its process died) stays RUNNING in the storage: it must not count.
    study = _study(tmp_path / "resume")
    study.ask()
    again = run_search(space, SearchConfig(trials=4, results_dir=str(tmp_path), pruner="none"),
                       data=tiny_data, progress=None, argv=["test"])
    study = _study(tmp_path / "resume")
    assert sum(counted(t) for t in study.trials) == 4
    assert len(study.trials) == 5  # 2 + the interrupted one + 2 new
    # The first run's trials are kept as they were.
    kept = again.set_index("number").loc[first["number"], ["accuracy", "spec_id"]]
    assert kept.reset_index(drop=True).equals(first[["accuracy", "spec_id"]])
    # The same command with N already reached runs nothing.
    third = run_search(space, SearchConfig(trials=4, results_dir=str(tmp_path)),
                       data=tiny_data, progress=None, argv=["test"])
    assert len(third) == 5


def test_resumed_sampler_does_not_repeat_the_first_runs_draws(tmp_path: Path, tiny_data: harness.ImageData) -> None:
    space = harness.space_from_dict(
        {**SPACE, "stages": {**SPACE["stages"], "width": {"each": [[4, 8, 12, 16], [8, 16, 24, 32]]}}},
        default_name="draws",
    )
    run_search(space, SearchConfig(trials=2, epochs=1, results_dir=str(tmp_path)),
               data=tiny_data, progress=None, argv=["test"])
    frame = run_search(space, SearchConfig(trials=4, epochs=1, results_dir=str(tmp_path)),
                       data=tiny_data, progress=None, argv=["test"])
    ids = frame["spec_id"].tolist()
    assert ids[2:] != ids[:2]


def test_changed_space_or_budget_is_refused_not_mixed(tmp_path: Path, tiny_data: harness.ImageData) -> None:
    space = harness.space_from_dict(SPACE, default_name="fixed")
    run_search(space, SearchConfig(trials=1, results_dir=str(tmp_path)),
               data=tiny_data, progress=None, argv=["test"])
    before = (tmp_path / "fixed" / "trials.csv").read_bytes()
    with pytest.raises(harness.HarnessError, match="epochs"):
        run_search(space, SearchConfig(trials=2, epochs=3, results_dir=str(tmp_path)),
                   data=tiny_data, progress=None, argv=["test"])
    assert (tmp_path / "fixed" / "trials.csv").read_bytes() == before


def test_two_objectives_accuracy_and_flops(tmp_path: Path, tiny_data: harness.ImageData) -> None:
    space = harness.space_from_dict(SPACE, default_name="multi")
    frame = run_search(space, SearchConfig(trials=3, epochs=1, results_dir=str(tmp_path),
                                           objectives="accuracy,flops"),
                       data=tiny_data, progress=None, argv=["test"])
    study = _study(tmp_path / "multi")
    assert len(study.directions) == 2
    for t in study.trials:
        assert t.values[0] == pytest.approx(t.user_attrs["accuracy"])
        assert t.values[1] == t.user_attrs["flops"]
    front = harness.pareto_front(frame)
    assert 1 <= len(front) <= 3
    assert [t.number for t in study.best_trials]  # Optuna's own front is non-empty


def test_pareto_front_keeps_only_non_dominated_trials() -> None:
    frame = pd.DataFrame({
        "state": ["COMPLETE"] * 5 + ["FAIL"],
        "flops": [10, 20, 30, 40, 15, 1],
        "accuracy": [0.5, 0.4, 0.7, 0.7, 0.6, None],
    })
    front = harness.pareto_front(frame)
    assert front["flops"].tolist() == [10, 15, 30]


def test_evaluate_spec_is_seeded(tiny_data: harness.ImageData) -> None:
    space = harness.space_from_dict(SPACE, default_name="seeded")
    spec, config = space.build({"s1.kernel_size": 3, "s2.kernel_size": 5, "dilation": 1})
    a = harness.evaluate_spec(spec, tiny_data, config, device="cpu", seed=7)
    b = harness.evaluate_spec(spec, tiny_data, config, device="cpu", seed=7)
    assert a.result.val_loss == b.result.val_loss
    assert a.costs.params == sum(p.numel() for p in harness.build_model(spec).parameters())
    assert torch.isfinite(torch.tensor(a.result.train_loss))
