"""--mlflow end to end against real MLflow stores (SQLite, MLflow 3's recommended local store), read
back through MLflow's own client: a study's parent run and one child run per trial (params, per-epoch
metrics, spec.yaml, accuracy and costs, a failed trial's reason), backfill and resume without
duplicates, a ranking likewise, workers sharing one parent run, an unwritable URI refused with one
line, and the store going down mid-search: one warning, the search finishes, the next run catches up.

Tiny networks on a 256-image subset for 1 or 2 epochs: what is checked is what reaches MLflow."""

from __future__ import annotations

import json
import shutil
import socket
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from harness.data import DataOptions
from harness.errors import HarnessError, TrackerWarning
from tests.support.inprocess import run_cli

mlflow = pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402

# MLflow's own SQLAlchemy code, on a newer SQLAlchemy (not ours to fix; hidden outside tests anyway).
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated")

# Grid over 4 points: stride 16 makes the second stage's map vanish, so half the trials fail (with a
# reason, before training) and half train; which is which follows the grid's order.
TINY = """\
name: tiny
stem: {width: 8}
stages:
  count: 2
  width: {each: [8, 16]}
  stride: {choices: [2, 16]}
  kernel_size: {choices: [3, 5]}
  downsample: maxpool
  block: plain
train: {epochs: 2, batch_size: 128}
"""
# The report at the end is left out (--no-report): it draws a dozen plots and is not what is checked.
FAST = ("--sampler", "grid", "--train-images", "256", "--device", "cpu", "--no-report")


@pytest.fixture(autouse=True)
def no_plot(monkeypatch: pytest.MonkeyPatch) -> None:
    """The results folder's plot, drawn after the first trial and at the end of every search, takes
    about a second on 2 cores and is not what is checked here: an empty file stands in for it."""
    import harness.report.plots

    monkeypatch.setattr(harness.report.plots, "plot_accuracy_vs_flops", lambda frame, path, **_: path.write_bytes(b""))


def store(folder: Path) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")


def runs_of(client: MlflowClient, experiment: str) -> tuple[Any, list[Any]]:
    """The experiment's one parent run and its child runs, by trial number."""
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1, [r.info.run_name for r in parents]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert len(children) == len(runs) - 1
    return parents[0], sorted(children, key=lambda r: int(r.data.tags["harness.trial"]))


def copy_store(study: dict[str, Any], folder: Path) -> None:
    """A copy of the study's store in `folder`, where a search's default store goes: making a new
    one (MLflow's schema migrations) takes seconds on 2 cores, a copy opens at once."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(study["folder"] / "mlflow.db", folder / "mlflow.db")


def search(space: Path, results: Path, *more: str) -> Any:
    out = run_cli("search", str(space), *FAST, "--results", str(results), *more)
    assert out.returncode == 0, out.stderr
    return out


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A study of 3 trials run with --mlflow (the store in its folder)."""
    root = tmp_path_factory.mktemp("mlflow")
    space = root / "tiny.yaml"
    space.write_text(TINY)
    results = root / "results"
    out = search(space, results, "--trials", "3", "--mlflow")
    return {"space": space, "results": results, "folder": results / "tiny", "out": out}


def test_a_study_is_a_parent_run_with_one_child_run_per_trial(study: dict[str, Any]) -> None:
    folder = study["folder"]
    assert (folder / "mlflow.db").is_file() and (folder / "mlartifacts").is_dir()
    assert "mlflow" not in study["out"].stderr.lower(), study["out"].stderr  # no MLflow log lines
    client = store(folder)
    parent, children = runs_of(client, "tiny")
    p = parent.data
    assert parent.info.status == "FINISHED" and p.tags["harness.kind"] == "search"
    assert {"sampler": "grid", "pruner": "median", "trials": "3", "epochs": "2", "dataset": "default",
            "objectives": "accuracy", "seed": "0", "train_images": "256"}.items() <= p.params.items()
    assert "trials.csv" in [f.path for f in client.list_artifacts(parent.info.run_id)]

    from harness.search.export import trial_spec
    from harness.zoo.specfile import spec_text

    frame = pd.read_csv(folder / "trials.csv")
    assert [int(c.data.tags["harness.trial"]) for c in children] == frame["number"].tolist() == [0, 1, 2]
    assert set(frame["state"]) == {"COMPLETE", "FAIL"}
    for child, (_, row) in zip(children, frame.iterrows(), strict=True):
        d = child.data
        assert child.info.run_name == f"trial {row['number']}" and d.tags["state"] == row["state"]
        assert d.params["stride"] == str(row["stride"]) and d.params["kernel_size"] == str(row["kernel_size"])
        assert d.params["seed"] == str(row["seed"])
        artifact = mlflow.artifacts.load_text(f"{child.info.artifact_uri}/spec.yaml")
        assert artifact == spec_text(trial_spec(folder, int(row["number"])))
        if row["state"] == "FAIL":
            assert child.info.status == "FAILED" and "vanish" in d.tags["failure_reason"]
            assert d.tags["failure_reason"] == row["failure_reason"] and "accuracy" not in d.metrics
            continue
        assert child.info.status == "FINISHED" and d.tags["label"] == row["label"]
        for name in ("accuracy", "balanced_accuracy", "macro_f1", "flops", "params", "latency_ms"):
            assert d.metrics[name] == pytest.approx(row[name]), name
        curve = json.loads(row["curve"])
        for name in ("val_accuracy", "val_loss", "train_loss"):
            history = client.get_metric_history(child.info.run_id, name)
            assert [m.step for m in history] == [1, 2]
            assert [m.value for m in history] == pytest.approx([e[name] for e in curve])


def test_running_again_logs_only_what_is_new_into_the_same_parent(study: dict[str, Any]) -> None:
    client = store(study["folder"])
    parent, before = runs_of(client, "tiny")
    # Trial 2's child as a tracker that went down while writing it leaves one: still RUNNING.
    client.update_run(before[2].info.run_id, status="RUNNING")
    search(study["space"], study["results"], "--trials", "4", "--mlflow")
    again, children = runs_of(client, "tiny")
    assert again.info.run_id == parent.info.run_id and again.info.status == "FINISHED"
    assert [c.data.tags["harness.trial"] for c in children] == ["0", "1", "2", "3"]
    assert [c.info.run_id for c in children[:2]] == [c.info.run_id for c in before[:2]]  # kept as they were
    assert children[2].info.run_id != before[2].info.run_id  # the half-written one, written again
    assert children[2].info.status in ("FINISHED", "FAILED") and children[2].data.tags["state"]
    # MLflow params cannot change: the first run's stay, the latest value is a tag.
    assert again.data.params["trials"] == "3" and again.data.tags["latest.trials"] == "4"


def test_a_ranking_is_a_parent_run_with_one_child_run_per_seed(study: dict[str, Any]) -> None:
    folder = study["folder"]
    uri = f"sqlite:///{folder / 'mlflow.db'}"  # a URI given: the study's own store, beside the study
    out = run_cli("rank", "--from", str(folder), "--top", "1", "--seeds", "2", "--epochs", "1", "--train-images",
                  "256", "--device", "cpu", "--mlflow", uri)
    assert out.returncode == 0, out.stderr
    rank_folder = folder.parent / "tiny-rank"
    assert not (rank_folder / "mlflow.db").exists()
    client = store(folder)
    parent, children = runs_of(client, "tiny-rank")
    assert parent.data.tags["harness.kind"] == "rank" and parent.info.status == "FINISHED"
    assert parent.data.params["seeds"] == "2" and parent.data.params["study"] == str(folder)
    runs = pd.read_csv(rank_folder / "runs.csv")
    assert len(children) == len(runs) == 2 and runs["candidate"].nunique() == 1
    for child in children:
        d = child.data
        assert child.info.status == "FINISHED" and d.tags["state"] == "COMPLETE"
        assert {"candidate", "seed_index", "seed", "origin", "train.epochs"} <= set(d.params)
        assert child.info.run_name == f"{d.params['candidate']} seed {d.params['seed_index']}"
        row = runs[(runs["candidate"] == d.params["candidate"]) & (runs["seed_index"] == int(d.params["seed_index"]))]
        assert d.metrics["accuracy"] == pytest.approx(row["accuracy"].item())
        assert [m.step for m in client.get_metric_history(child.info.run_id, "val_loss")] == [1]
        assert "spec.yaml" in [f.path for f in client.list_artifacts(child.info.run_id)]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # free once closed: nothing listens there


@pytest.mark.parametrize("kind", ["sqlite-under-a-file", "server-not-listening"])
def test_a_uri_that_cannot_be_written_gets_one_line_and_exit_2(kind: str, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    uri = {"sqlite-under-a-file": f"sqlite:///{tmp_path / 'file' / 'mlflow.db'}",
           "server-not-listening": f"http://127.0.0.1:{closed_port()}"}[kind]
    space = tmp_path / "tiny.yaml"
    space.write_text(TINY)
    out = run_cli("search", str(space), *FAST, "--trials", "1", "--results", str(tmp_path), "--mlflow", uri)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    message = out.stderr.strip()
    assert message.startswith(f"harness: error: --mlflow {uri}: MLflow cannot write there (")
    assert len(message.splitlines()) == 1
    assert not (tmp_path / "tiny" / "trials.csv").exists()  # refused before any trial


def test_a_ranking_with_a_uri_that_cannot_be_written_runs_nothing(tmp_path: Path) -> None:
    uri = f"http://127.0.0.1:{closed_port()}"
    out = run_cli("rank", "--presets", "resnet18", "--train-images", "256", "--device", "cpu",
                  "--results", str(tmp_path), "--mlflow", uri)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert out.stderr.startswith(f"harness: error: --mlflow {uri}: MLflow cannot write there (")
    assert not (tmp_path / "rank" / "runs.csv").exists()


def test_without_mlflow_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.store.tracking import import_mlflow

    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if not installed
    with pytest.raises(HarnessError, match=r"pip install 'harness\[mlflow\]'"):
        import_mlflow()


def test_the_store_going_down_mid_search_is_one_warning_and_the_next_run_catches_up(tmp_path: Path,
                                                                                     study: dict[str, Any]) -> None:
    from harness.search.search_config import SearchConfig
    from harness.search.space import load_space
    from harness.search.study import run_search

    space_file = tmp_path / "tiny.yaml"
    space_file.write_text(TINY)
    space = load_space(space_file)
    config = SearchConfig(trials=3, sampler="grid", epochs=1, device="cpu", results_dir=str(tmp_path),
                          study_name="down", data_options=DataOptions(train_images=256), mlflow="folder",
                          report=False)
    db = tmp_path / "down" / "mlflow.db"
    copy_store(study, db.parent)
    header: list[bytes] = []

    def progress(line: str) -> None:
        if line.startswith("[  2/3]"):  # trial 1 ended: the store breaks once trial 0 is in it
            client = store(db.parent)
            experiment = client.get_experiment_by_name("down").experiment_id
            deadline = time.monotonic() + 30
            while not [r for r in client.search_runs([experiment], "tags.`harness.trial` = '0'")
                       if r.info.status in ("FINISHED", "FAILED")]:
                assert time.monotonic() < deadline, "trial 0 never reached MLflow"
                time.sleep(0.05)
            with db.open("r+b") as f:  # the store breaks for real: SQLite no longer reads the file
                header.append(f.read(100))
                f.seek(0)
                f.write(b"\0" * 100)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = run_search(space, config, progress=progress)
    assert len(frame) == 3 and frame["state"].isin(["COMPLETE", "FAIL"]).all()  # every trial ended
    down = [w for w in caught if issubclass(w.category, TrackerWarning)]
    assert len(down) == 1, [str(w.message) for w in caught]
    assert f"MLflow at sqlite:///{db} is not answering (" in str(down[0].message)
    assert str(down[0].message).endswith("): trials go on without it")
    with db.open("r+b") as f:  # back up: the next run logs what the store missed
        f.write(header[0])
    client = store(db.parent)
    assert [r.data.tags["harness.trial"] for r in runs_of(client, "down")[1]] == ["0"]
    run_search(space, config, progress=None)
    parent, children = runs_of(client, "down")
    assert [c.data.tags["harness.trial"] for c in children] == ["0", "1", "2"]
    assert parent.info.status == "FINISHED"


def test_workers_log_into_the_parent_run_their_starting_process_made(tmp_path: Path, study: dict[str, Any]) -> None:
    """What `--workers N` does, in one process: the starting process makes the parent run, each
    worker (worker index > 0) logs its trials into it, the starting process ends it."""
    import dataclasses

    from harness.search.mlflow_study import finish_workers, open_tracker
    from harness.search.search_config import SearchConfig, epochs_for
    from harness.search.space import load_space
    from harness.search.study import run_search
    from harness.store.storage import resolve_storage

    space_file = tmp_path / "tiny.yaml"
    space_file.write_text(TINY)
    space = load_space(space_file)
    folder = tmp_path / "workers"
    copy_store(study, folder)
    ref = resolve_storage("journal", folder)
    config = SearchConfig(trials=2, sampler="grid", epochs=1, device="cpu", results_dir=str(tmp_path),
                          study_name="workers", storage=ref.url, report=False, mlflow="folder",
                          data_options=DataOptions(train_images=256))
    tracker = open_tracker(space, config, folder, ref.display, epochs_for(space, config.epochs))
    run_search(space, dataclasses.replace(config, worker=1), progress=None)  # what worker 1 runs
    parent, children = runs_of(store(folder), "workers")  # one parent: the worker found its starter's
    assert parent.info.status == "RUNNING" and len(children) == 2  # a worker leaves the parent to its starter
    finish_workers(tracker, ref, "workers", folder, "FINISHED")
    parent, children = runs_of(store(folder), "workers")
    assert parent.info.status == "FINISHED" and [c.data.tags["harness.trial"] for c in children] == ["0", "1"]
