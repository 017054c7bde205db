"""Final training, measured cost and per-class metrics: `harness train` (checkpoints, resume after
SIGKILL, the model folder and model.html, opened in a headless browser), latency and memory per trial
with their constraints and objectives, and the metrics against scikit-learn's on the same predictions."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn import metrics as skm
from torch.optim.optimizer import register_optimizer_step_pre_hook

from harness.cli.main import main
from harness.data import load_dataset
from harness.errors import HarnessError, InvalidValueError
from harness.final.model_folder import load_model
from harness.final.train import FinalConfig, predict_logits, train_final
from harness.search.constraints import Constraints, parse_bytes, parse_duration
from harness.search.search_config import SearchConfig
from harness.search.space import space_from_dict
from harness.search.study import run_search
from harness.train.loop import TrainConfig
from harness.train.metrics import report
from harness.zoo.specfile import load_spec
from tests.support.browser import check_reads_well, open_page

REPO = Path(__file__).resolve().parent.parent
SPEC = ("stem: {width: 8}\nstages:\n  - {block: plain, width: 16, stride: 2}\n"
        "  - {block: residual, width: 32, stride: 2}\n")
SPACE = {"stem": {"width": 8},
         "stages": {"count": 2, "width": {"each": [8, 16]}, "stride": 2, "kernel_size": [3, 5], "block": "plain"},
         "train": {"epochs": 1, "batch_size": 128}}


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture()
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SPEC)
    return path


def sklearn_figures(y: np.ndarray, logits: np.ndarray, k: int) -> dict[str, object]:
    pred = logits.argmax(1)
    labels = list(range(k))
    return {
        "accuracy": skm.accuracy_score(y, pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
        "macro_f1": skm.f1_score(y, pred, average="macro", labels=sorted(set(y) | set(pred)), zero_division=0),
        "precision": skm.precision_score(y, pred, average=None, labels=labels, zero_division=0),
        "recall": skm.recall_score(y, pred, average=None, labels=labels, zero_division=0),
        "f1": skm.f1_score(y, pred, average=None, labels=labels, zero_division=0),
        "confusion": skm.confusion_matrix(y, pred, labels=labels),
        "top5": skm.top_k_accuracy_score(y, logits, k=5, labels=labels),
    }


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_metrics_equal_scikit_learns_on_imbalanced_predictions_with_an_absent_class(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    k = 8
    y = torch.multinomial(torch.tensor([40.0, 20, 10, 5, 5, 3, 1, 0]), 400, replacement=True, generator=g)
    logits = torch.randn(400, k, generator=g) + 1.5 * torch.nn.functional.one_hot(y, k)
    got = report(logits, y, [f"c{i}" for i in range(k)])
    want = sklearn_figures(y.numpy(), logits.numpy(), k)
    for name in ("accuracy", "balanced_accuracy", "macro_f1"):
        assert got[name] == pytest.approx(want[name], abs=1e-12), name
    assert got["top5_accuracy"] == pytest.approx(want["top5"], abs=1e-12)
    for name in ("precision", "recall", "f1"):
        assert np.allclose([r[name] for r in got["per_class"]], want[name], atol=1e-12), name
    assert np.array_equal(np.array(got["confusion"]), want["confusion"])
    assert [r["support"] for r in got["per_class"]][-1] == 0  # the absent class is listed, with no images


def test_the_calibration_error_is_the_binned_gap_between_confidence_and_accuracy() -> None:
    # Confidence 0.9 on every image, right on 60% of them: ECE = |0.6 - 0.9| = 0.3, one bin.
    logits = torch.log(torch.tensor([[0.9, 0.1]] * 10))
    y = torch.tensor([0] * 6 + [1] * 4)
    assert report(logits, y, ["a", "b"])["ece"] == pytest.approx(0.3, abs=1e-6)


def test_durations_and_sizes_parse_and_bad_ones_name_the_value() -> None:
    assert parse_duration("2ms") == 2 and parse_duration("500us") == 0.5 and parse_duration("0.01s") == 10
    assert parse_bytes("4G") == 4 * 2**30 and parse_bytes("512M") == 512 * 2**20
    assert parse_bytes("1.5GiB") == 1.5 * 2**30
    for bad in ("2 parsecs", "-1ms", "0", ""):
        with pytest.raises(InvalidValueError, match="duration"):
            parse_duration(bad)
    with pytest.raises(InvalidValueError, match="size"):
        parse_bytes("4 gallons")


def test_latency_throughput_memory_and_per_class_metrics_are_recorded_for_every_trial(tmp_path: Path, digits) -> None:
    space = space_from_dict(SPACE, default_name="small")
    frame = run_search(space, SearchConfig(trials=3, device="cpu", results_dir=str(tmp_path), sampler="random",
                                           repeat=True), data=digits, progress=None)
    done = frame[frame["state"] == "COMPLETE"]
    assert len(done) == 3
    assert (done["latency_ms"] > 0).all() and (done["throughput"] > 0).all() and (done["memory"] > 0).all()
    assert (done["speed_seconds"] > 0).all()
    assert done["balanced_accuracy"].between(0, 1).all() and done["macro_f1"].between(0, 1).all()
    csv = (tmp_path / "small" / "trials.csv").read_text().splitlines()[0].split(",")
    assert {"latency_ms", "throughput", "memory", "balanced_accuracy", "macro_f1"} <= set(csv)


@pytest.mark.parametrize("bound", [{"max_latency": 1e-6}, {"max_memory": 1.0}])
def test_a_latency_or_memory_bound_refuses_the_network_before_any_training_step(tmp_path: Path, digits,
                                                                                bound: dict) -> None:
    space = space_from_dict(SPACE, default_name="small")
    steps = []
    hook = register_optimizer_step_pre_hook(lambda *a: steps.append(1))
    try:
        frame = run_search(space, SearchConfig(trials=2, device="cpu", results_dir=str(tmp_path), sampler="random",
                                               constraints=Constraints(**bound)), data=digits, progress=None)
    finally:
        hook.remove()
    assert frame["infeasible"].notna().all()
    words = "latency" if "max_latency" in bound else "training memory"
    assert all(f"{words} > max" in reason for reason in frame["infeasible"])
    assert frame["epochs"].isna().all() and frame["accuracy"].isna().all()
    assert len(steps) == 2  # one memory-measuring step per trial (on a copy), no training step


def test_latency_is_an_objective_minimised_beside_accuracy(tmp_path: Path, digits) -> None:
    import optuna

    space = space_from_dict(SPACE, default_name="small")
    run_search(space, SearchConfig(trials=2, device="cpu", results_dir=str(tmp_path), sampler="random",
                                   objectives="accuracy,latency", pruner="none"), data=digits, progress=None)
    study = optuna.load_study(study_name="small", storage=f"sqlite:///{tmp_path / 'small' / 'study.db'}")
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    for t in study.trials:
        assert t.values[1] == pytest.approx(t.user_attrs["latency_ms"]) and t.values[1] > 0


def test_the_search_maximises_the_metric_asked_for(tmp_path: Path, digits) -> None:
    import optuna

    space = space_from_dict(SPACE, default_name="small")
    run_search(space, SearchConfig(trials=2, device="cpu", results_dir=str(tmp_path), sampler="random",
                                   metric="macro_f1"), data=digits, progress=None)
    study = optuna.load_study(study_name="small", storage=f"sqlite:///{tmp_path / 'small' / 'study.db'}")
    for t in study.trials:
        assert t.value == pytest.approx(t.user_attrs["macro_f1"])
    with pytest.raises(HarnessError, match="unknown metric 'f2'"):
        SearchConfig(metric="f2").validate()


def _train(folder: Path, spec_file: Path, digits, **kw) -> object:
    config = TrainConfig(epochs=4, batch_size=64, lr=5e-3)
    return train_final(load_spec(str(spec_file)), digits, config, folder, FinalConfig(device="cpu", seed=3),
                       progress=None, **kw)


KILL = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from harness.data import load_dataset
    from harness.final.train import FinalConfig, train_final
    from harness.train.loop import TrainConfig
    from harness.zoo.specfile import load_spec
    def stop(epoch):
        if epoch == int(sys.argv[3]):
            os.kill(os.getpid(), signal.SIGKILL)
    train_final(load_spec(sys.argv[2]), load_dataset("digits"), TrainConfig(epochs=4, batch_size=64, lr=5e-3),
                Path(sys.argv[1]), FinalConfig(device="cpu", seed=3), progress=None, on_epoch=stop)
""")


def test_train_resumes_after_sigkill_with_the_result_of_an_uninterrupted_run(tmp_path: Path, spec_file: Path,
                                                                           digits) -> None:
    whole = _train(tmp_path / "whole", spec_file, digits)
    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-c", KILL, str(killed), str(spec_file), "2"], env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == -9, run.stderr  # killed by SIGKILL after epoch 2's checkpoint
    assert (killed / "checkpoint" / "state.pt").is_file() and not (killed / "model.safetensors").exists()
    resumed = _train(killed, spec_file, digits)
    assert resumed.resumed_from == 2 and resumed.epochs == 4
    assert [h["train_loss"] for h in resumed.metrics["history"]] == [h["train_loss"] for h in whole.metrics["history"]]
    assert resumed.metrics["val"] == whole.metrics["val"]
    a, b = load_model(tmp_path / "whole").model.state_dict(), load_model(killed).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_kill_during_the_checkpoint_stops_after_it_and_the_run_resumes(tmp_path: Path, spec_file: Path,
                                                                        digits) -> None:
    """SIGTERM sent to this process while epoch 1's checkpoint and line are written (on_epoch runs
    last in that step): the step finishes, then training stops (KeyboardInterrupt) before epoch 2."""

    def kill(epoch: int) -> None:
        if epoch == 1:
            os.kill(os.getpid(), signal.SIGTERM)

    handler = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path, spec_file, digits, on_epoch=kill)
    assert signal.getsignal(signal.SIGTERM) == handler
    state = torch.load(tmp_path / "checkpoint" / "state.pt", weights_only=False)
    assert state["epoch"] == 1 and [h["epoch"] for h in state["history"]] == [1]
    assert not (tmp_path / "model.safetensors").exists()
    resumed = _train(tmp_path, spec_file, digits)
    assert resumed.resumed_from == 1 and resumed.epochs == 4


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory, digits) -> tuple[Path, object]:
    """(the folder, train_final's result) of SPEC trained on digits, with its last 180 training images
    held out as a test split (digits has none), so that the page shows test figures too."""
    spec_file = tmp_path_factory.mktemp("spec") / "small.yaml"
    spec_file.write_text(SPEC)
    data = dataclasses.replace(digits, train_x=digits.train_x[:-180], train_y=digits.train_y[:-180],
                               test_x=digits.train_x[-180:], test_y=digits.train_y[-180:])
    folder = tmp_path_factory.mktemp("model") / "m"
    return folder, _train(folder, spec_file, data)


def test_the_model_folder_holds_weights_spec_metrics_plots_and_page(model: tuple[Path, object], digits) -> None:
    folder, result = model
    for name in ("model.safetensors", "spec.yaml", "model.json", "metrics.json", "confusion.png", "curves.png",
                 "model.html"):
        assert (folder / name).is_file() and (folder / name).stat().st_size > 0, name
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["best_epoch"] == result.best_epoch
    best = max(metrics["history"], key=lambda h: h["val_accuracy"])
    assert best["epoch"] == result.best_epoch  # the kept weights are the best validation epoch's
    trained = load_model(folder)
    from harness.data.loader import Normalize

    logits = predict_logits(trained.model, digits.val_x, Normalize(digits, torch.device("cpu")), 256,
                            torch.device("cpu"))
    want = sklearn_figures(digits.val_y.numpy(), logits.numpy(), 10)
    assert metrics["val"]["accuracy"] == pytest.approx(want["accuracy"])
    assert metrics["val"]["balanced_accuracy"] == pytest.approx(want["balanced_accuracy"])
    assert metrics["val"]["macro_f1"] == pytest.approx(want["macro_f1"])
    assert np.allclose([r["f1"] for r in metrics["val"]["per_class"]], want["f1"])
    assert metrics["val"]["accuracy"] > 0.8  # digits are easy: it learned
    assert "top5_accuracy" in metrics["val"] and "ece" in metrics["val"]
    assert metrics["test"]["images"] == 180
    html = (folder / "model.html").read_text()
    assert "Confusion matrix" in html and "balanced accuracy" in html and "data:image/png;base64" in html


def test_the_model_page_reads_well_in_a_headless_browser(model: tuple[Path, object], tmp_path: Path) -> None:
    folder, _ = model
    facts = open_page(folder / "model.html", tmp_path, ("#best", "#metrics", "#per-class", "#record"))
    check_reads_well(facts)
    assert facts.images == 2  # the confusion matrix, the learning curves
    # The text holds the table values as printed: the test accuracy first, each split, each class.
    metrics = json.loads((folder / "metrics.json").read_text())
    test, val = metrics["test"], metrics["val"]
    assert (f"Test accuracy {test['accuracy']:.2%} (balanced {test['balanced_accuracy']:.2%}, macro F1 "
            f"{test['macro_f1']:.4f}) on 180 images; validation accuracy {val['accuracy']:.2%}.") in facts.text
    assert f"test\t180\t{test['accuracy']:.2%}\t{test['balanced_accuracy']:.2%}" in facts.text
    assert f"val\t{val['images']}\t{val['accuracy']:.2%}" in facts.text
    assert "Per class (test split)" in facts.text and len(test["per_class"]) == 10
    for r in test["per_class"]:
        row = [str(r["class"]), f"{r['precision']:.3f}", f"{r['recall']:.3f}", f"{r['f1']:.3f}", str(r["support"])]
        assert "\t".join(row) in facts.text, row
    # The answer first (the accuracy, the metrics, the figures); the per-class table, then the record last.
    assert facts.top("#best") < facts.top("#metrics") < facts.top("img")
    assert facts.images_bottom is not None and facts.images_bottom < facts.top("#per-class") < facts.top("#record")


def test_harness_train_from_a_study_by_trial_and_its_bad_inputs(tmp_path: Path, capsys, digits) -> None:
    space = tmp_path / "small.yaml"
    import yaml

    space.write_text(yaml.safe_dump({**SPACE, "dataset": "digits"}))
    assert main(["search", str(space), "--trials", "2", "--results", str(tmp_path), "--device", "cpu",
                 "--sampler", "random"]) == 0
    capsys.readouterr()
    out = tmp_path / "model"
    assert main(["train", "--from", str(tmp_path / "small"), "--trial", "1", "--epochs", "1", "--out", str(out),
                 "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "small trial 1" in printed and "val: accuracy" in printed
    assert json.loads((out / "model.json").read_text())["origin"] == "small trial 1"
    for argv, words in (
        (["--from", str(tmp_path / "small"), "--trial", "7"], "no completed trial 7"),
        (["--from", str(tmp_path / "small"), "--candidate", "x"], "is a study, not a ranking"),
        (["--from", str(tmp_path / "nowhere")], "no such results folder"),
        ([], "one of --from FOLDER, --spec FILE or --preset NAME"),
        (["--preset", "resnet18", "--spec", "x.yaml"], "not --spec and --preset"),
    ):
        assert main(["train", *argv, "--out", str(tmp_path / "other")]) == 2
        err = capsys.readouterr().err.strip()
        assert words in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "other").exists()


def test_a_checkpoint_of_another_training_is_refused(tmp_path: Path, spec_file: Path, digits) -> None:
    _train(tmp_path / "m", spec_file, digits)
    with pytest.raises(HarnessError, match="checkpoint of another training"):
        train_final(load_spec(str(spec_file)), digits, TrainConfig(epochs=2), tmp_path / "m",
                    FinalConfig(device="cpu"), progress=None)


def test_the_report_plots_accuracy_vs_latency_and_latency_vs_flops_with_kendalls_tau(tmp_path: Path,
                                                                                    digits) -> None:
    from harness.report.build import build_report
    from harness.report.plots import latency_flops_table

    three = {**SPACE, "stages": {**SPACE["stages"], "kernel_size": [3, 5, 7]}}
    frame = run_search(space_from_dict(three, default_name="small"),
                       SearchConfig(trials=3, device="cpu", results_dir=str(tmp_path), sampler="grid"),
                       data=digits, progress=None)
    table, tau, _ = latency_flops_table(frame)
    assert len(table) == 3 and -1 <= tau <= 1
    build_report(tmp_path / "small")
    plots_dir = tmp_path / "small" / "plots"
    assert (plots_dir / "accuracy_vs_latency_ms.png").is_file() and (plots_dir / "latency_vs_flops.png").is_file()
    html = (tmp_path / "small" / "report.html").read_text()
    assert "Latency vs FLOPs" in html and "Accuracy vs latency" in html
