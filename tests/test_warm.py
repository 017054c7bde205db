"""Warm start (--warm-start FOLDER --warm-top K): an earlier study's best architectures begin a new
one: copied as finished trials when data and budget are the same (no training step runs for them),
queued to run first otherwise, with only the parameters the new space has; applied once per study;
bad folders are one line, exit 2."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from harness.errors import HarnessError
from harness.search.search_config import SearchConfig
from harness.search.study import run_search
from tests.support.inprocess import run_cli
from tests.support.tiny import TINY, StepCounter, tiny_space

STEPS_PER_TRIAL = 2 * 4 + 1  # 2 epochs of 4 batches of 250, and one step measuring memory


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory, data) -> Path:
    """An earlier study: the tiny space's 4 architectures, each trained once (grid)."""
    results = tmp_path_factory.mktemp("first")
    run_search(tiny_space(), SearchConfig(trials=4, device="cpu", results_dir=str(results), sampler="grid"),
               data=data, progress=None)
    return results / "tiny"


def _study(folder: Path) -> optuna.Study:
    return optuna.load_study(study_name=folder.name, storage=f"sqlite:///{folder / 'study.db'}")


def _best(folder: Path, k: int) -> list[optuna.trial.FrozenTrial]:
    done = _study(folder).get_trials(states=(TrialState.COMPLETE,))
    return sorted(done, key=lambda t: -t.user_attrs["accuracy"])[:k]


def test_same_data_and_budget_copies_the_best_and_trains_only_the_rest(first: Path, data, tmp_path: Path) -> None:
    lines: list[str] = []
    with StepCounter() as counter:
        frame = run_search(tiny_space(), SearchConfig(trials=3, device="cpu", results_dir=str(tmp_path),
                                                      warm_start=str(first), warm_top=2),
                           data=data, progress=lines.append)
    assert counter.steps == STEPS_PER_TRIAL  # only the third trial trained
    best = _best(first, 2)
    copies = frame[frame["copied_from"].notna()]
    assert len(copies) == 2 and (frame["state"] == "COMPLETE").all()
    assert copies["accuracy"].tolist() == [t.user_attrs["accuracy"] for t in best]
    assert copies["copied_from"].tolist() == [f"{first} trial {t.number}" for t in best]
    study = _study(tmp_path / "tiny")
    copied = study.get_trials()[:2]
    assert [t.params for t in copied] == [t.params for t in best]
    assert [t.values for t in copied] == [t.values for t in best]
    assert [t.intermediate_values for t in copied] == [t.intermediate_values for t in best]
    assert any(line.startswith(f"warm start from {first}: 2 of its best trials copied") for line in lines)
    # Where the time went counts the one trial trained here, not the copies.
    assert any("time per trained trial (mean of 1)" in line for line in lines)

    # Run again, one more trial: the warm start is not added twice.
    lines.clear()
    frame = run_search(tiny_space(), SearchConfig(trials=4, device="cpu", results_dir=str(tmp_path),
                                                  warm_start=str(first), warm_top=2), data=data, progress=lines.append)
    assert len(frame) == 4 and frame["copied_from"].notna().sum() == 2
    assert any("was added when this study began (2 copied, 0 queued)" in line for line in lines)


def test_another_budget_queues_the_best_to_run_first(first: Path, data, tmp_path: Path) -> None:
    with StepCounter() as counter:
        frame = run_search(tiny_space(), SearchConfig(trials=2, epochs=1, device="cpu", results_dir=str(tmp_path),
                                                      warm_start=str(first), warm_top=2),
                           data=data, progress=None)
    assert counter.steps == 2 * (4 + 1)  # both trained, at the new budget
    assert frame["copied_from"].isna().all() and frame["warm_start_from"].tolist() == [str(first)] * 2
    assert [t.params for t in _study(tmp_path / "tiny").get_trials()] == [t.params for t in _best(first, 2)]


def test_only_the_parameters_the_new_space_has_carry_over(first: Path, data, tmp_path: Path) -> None:
    # kernel size 5 is not in this space, 7 is new; the block choice carries over.
    space = tiny_space(stages={**TINY["stages"], "kernel_size": [3, 7]}, name="other")
    lines: list[str] = []
    frame = run_search(space, SearchConfig(trials=4, device="cpu", results_dir=str(tmp_path),
                                           warm_start=str(first), warm_top=4, sampler="random"),
                       data=data, progress=lines.append)
    old = {(t.params["block"], t.params["kernel_size"]) for t in _best(first, 4)}
    assert len(frame) == 4
    trials = _study(tmp_path / "other").get_trials()
    copied = [t for t in trials if "copied_from" in t.user_attrs]
    queued = [t for t in trials if "warm_start_from" in t.user_attrs]
    # the two k3 architectures are the same experiment here: copied; the two k5 ones keep their block only
    assert {(t.params["block"], t.params["kernel_size"]) for t in copied} == {(b, k) for b, k in old if k == 3}
    assert len(queued) == 2 and {t.params["block"] for t in queued} == {"plain", "residual"}
    assert (f"warm start from {first}: 2 of its best trials copied as finished (same data and budget: not "
            "trained again); 2 queued to run first; dropped (not in this space, or a value it does not allow): "
            "kernel_size") in lines


def test_bad_warm_start_folders_are_refused(first: Path, data, tmp_path: Path) -> None:
    config = SearchConfig(trials=2, device="cpu", results_dir=str(tmp_path))
    with pytest.raises(HarnessError, match="no such results folder"):
        run_search(tiny_space(), dataclasses.replace(config, warm_start=str(tmp_path / "nope")), data=data,
                   progress=None)
    assert list(tmp_path.iterdir()) == []  # refused before anything was written
    other = {"stem": {"width": {"choices": [4, 8]}}, "stages": {"count": 1, "width": 8}, "train": {"epochs": 1}}
    from harness.search.space import space_from_dict

    with pytest.raises(HarnessError, match="none of its parameters .*block, kernel_size.* is in this space"):
        run_search(space_from_dict(other, default_name="stems"), dataclasses.replace(config, warm_start=str(first)),
                   data=data, progress=None)
    with pytest.raises(HarnessError, match="this study's own folder"):
        run_search(tiny_space(), dataclasses.replace(config, results_dir=str(first.parent), warm_start=str(first)),
                   data=data, progress=None)
    (tmp_path / "csv_only").mkdir()
    (tmp_path / "csv_only" / "trials.csv").write_text("number,state,accuracy\n0,COMPLETE,0.5\n")
    with pytest.raises(HarnessError, match="only a trials.csv there"):
        run_search(tiny_space(), dataclasses.replace(config, warm_start=str(tmp_path / "csv_only")), data=data,
                   progress=None)


def test_the_command_line_says_one_line_and_exits_2(tmp_path: Path) -> None:
    space = tmp_path / "tiny.yaml"
    import yaml

    space.write_text(yaml.safe_dump(TINY))
    done = run_cli("search", str(space), "--results", str(tmp_path / "r"), "--warm-start", str(tmp_path / "nope"),
                   "--trials", "1", "--train-images", "200")
    assert done.returncode == 2
    assert done.stderr == f"harness: error: --warm-start {tmp_path / 'nope'}: no such results folder\n"
    bad = run_cli("search", str(space), "--warm-start", str(tmp_path), "--warm-top", "0")
    assert bad.returncode == 2 and "--warm-top" in bad.stderr
