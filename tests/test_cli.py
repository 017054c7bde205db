"""The command line as a user meets it: the main job end to end, Ctrl-C and kill then resume,
and every kind of bad input answered with one line and exit status 2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from harness.cli.main import main
from tests.support.inprocess import run_cli

ROOT = Path(__file__).resolve().parents[1]
KERNEL_SPACE = ROOT / "search_spaces" / "kernel_size.yaml"


def harness_cli(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)


def start_cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "harness", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for_trials(csv: Path, n: int, proc: subprocess.Popen[str], timeout: float = 240) -> None:
    """Wait until trials.csv lists at least n finished trials."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"search ended early: {proc.communicate()}")
        if csv.exists():
            try:
                states = pd.read_csv(csv)["state"]
            except (pd.errors.EmptyDataError, KeyError):
                states = pd.Series(dtype=str)
            if states.isin(["COMPLETE", "PRUNED", "FAIL"]).sum() >= n:
                return
        time.sleep(0.2)
    raise AssertionError("timed out waiting for trials")


# Trials train on a stratified 512-image subset of the 5,000 training images: what these tests check
# (files, lines, resuming, refusals) does not depend on how much a trial learns.
SUBSET = ("--train-images", "512")


def test_search_end_to_end(tmp_path: Path) -> None:
    out = harness_cli("search", str(KERNEL_SPACE), "--trials", "2", "--epochs", "1", *SUBSET,
                      "--results", str(tmp_path), "--device", "cpu")
    assert out.returncode == 0, out.stderr
    folder = tmp_path / "kernel_size"
    frame = pd.read_csv(folder / "trials.csv")
    assert len(frame) == 2 and set(frame["state"]) == {"COMPLETE"}
    for col in ("number", "state", "s1.kernel_size", "s3.dilation", "accuracy", "val_loss", "params",
                "flops", "receptive_field", "train_seconds", "failure_reason"):
        assert col in frame.columns
    assert set(frame["s1.kernel_size"]) <= {3, 5, 7, 9}
    png = (folder / "acc_vs_flops.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert (folder / "space.yaml").read_text() == KERNEL_SPACE.read_text()
    run = json.loads((folder / "run.json").read_text())["latest"]
    assert run["command"][:2] == ["harness", "search"] and run["device"]["type"] == "cpu"
    # One progress line per trial, then the leaderboard.
    assert out.stdout.count("trial ") >= 2 and "top 2 by validation accuracy" in out.stdout
    assert "Pareto front, accuracy vs FLOPs: trial " in out.stdout
    assert "Traceback" not in out.stderr


def test_show_prints_parameters_count_and_a_sample() -> None:
    out = harness_cli("show", str(KERNEL_SPACE))
    assert out.returncode == 0, out.stderr
    assert "s1.kernel_size" in out.stdout and "s3.dilation" in out.stdout
    assert "distinct architectures: 512" in out.stdout
    assert "params " in out.stdout and "FLOPs " in out.stdout and "receptive field" in out.stdout


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["ctrl-c", "kill", "kill-9"])
def test_interrupted_search_resumes_to_exactly_n_trials(tmp_path: Path, stop: signal.Signals) -> None:
    # 3 trials: one to finish before the stop, one to be interrupted, one that only the resumed run starts.
    args = ("search", str(KERNEL_SPACE), "--trials", "3", "--epochs", "2", *SUBSET, "--results", str(tmp_path),
            "--device", "cpu")
    csv = tmp_path / "kernel_size" / "trials.csv"
    proc = start_cli(*args)
    wait_for_trials(csv, 1, proc)
    os.kill(proc.pid, stop)
    _, err = proc.communicate(timeout=60)
    if stop != signal.SIGKILL:  # SIGKILL cannot be handled: the process just dies
        assert proc.returncode == 130 and "run the same command again to resume" in err
        assert "Traceback" not in err
    first = pd.read_csv(csv)
    finished = first[first["state"] == "COMPLETE"]
    assert 1 <= len(finished) < 3

    out = harness_cli(*args)
    assert out.returncode == 0, out.stderr
    assert "resuming" in out.stdout
    frame = pd.read_csv(csv)
    interrupted = frame["failure_reason"].astype("string").fillna("").str.startswith("interrupted")
    ended = frame["state"].isin(["COMPLETE", "PRUNED"]) | (frame["state"].eq("FAIL") & ~interrupted)
    assert ended.sum() == 3
    # The trials finished before the interruption are kept, unchanged.
    kept = frame.set_index("number").loc[finished["number"]]
    assert kept["accuracy"].tolist() == finished["accuracy"].tolist()
    assert kept["spec_id"].tolist() == finished["spec_id"].tolist()


def _space(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return path


BASE = KERNEL_SPACE.read_text()
BAD_SPACES = {
    "not-yaml": ("stages: [1, 2\n", "not valid YAML"),
    "unknown-key": (BASE.replace("  depth: 1", "  deepth: 1"), "stages.deepth"),
    "wrong-type": (BASE.replace("  depth: 1", "  depth: deep"), "stages.depth"),
    "empty-choices": (BASE.replace("{choices: [1, 2], per_stage: true}", "[]"), "stages.dilation"),
    "even-kernel": (BASE.replace("[3, 5, 7, 9]", "[3, 4]"), "stages.kernel_size"),
    "non-positive-kernel": (BASE.replace("[3, 5, 7, 9]", "[-1, 3]"), "stages.kernel_size"),
    "dilation-below-1": (BASE.replace("{choices: [1, 2], per_stage: true}", "0"), "stages.dilation"),
    "unknown-dataset": (BASE.replace("dataset: default", "dataset: imagenet"), "dataset"),
    # Issue 18's: a padding mode, a shift, a severity, attention heads that divide no width.
    "unknown-padding": (BASE.replace("  depth: 1", "  depth: 1\n  padding: mirror"), "stages.padding"),
    "unknown-shift": (BASE.replace("\nsearch:", "\nsearch:\n  robustness: [noise, fog]"), "search.robustness"),
    "severity-6": (BASE.replace("\nsearch:", "\nsearch:\n  robustness: {severity: 6}"), "search.robustness.severity"),
    "heads-3": (BASE.replace("  depth: 1", "  depth: 1\n  block: attention\n  heads: 3"), "stages.heads"),
}


@pytest.fixture(scope="module")
def existing_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results folder from a real (tiny) run, which bad input must leave untouched."""
    results = tmp_path_factory.mktemp("results")
    out = harness_cli("search", str(KERNEL_SPACE), "--trials", "1", "--epochs", "1", *SUBSET,
                      "--results", str(results), "--device", "cpu")
    assert out.returncode == 0, out.stderr
    return results


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("case", sorted(BAD_SPACES))
def test_bad_space_file_gets_one_line_and_exit_2(case: str, tmp_path: Path, existing_results: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    text, key = BAD_SPACES[case]
    path = _space(tmp_path, text)
    before = _snapshot(existing_results)
    # In-process (the same main() the console script calls), to spare a Python start per case.
    code = main(["search", str(path), "--study", "kernel_size", "--results", str(existing_results)])
    out = capsys.readouterr()
    assert code == 2
    assert "Traceback" not in out.err and out.out == ""
    message = out.err.strip()
    assert message.startswith("harness: error:") and len(message.splitlines()) == 1
    assert str(path) in message and key in message
    assert _snapshot(existing_results) == before


def test_missing_file_unknown_dataset_and_zero_trials(tmp_path: Path, existing_results: Path) -> None:
    before = _snapshot(existing_results)
    results = ("--results", str(existing_results))
    # In-process, through the console script's entry point (argparse's own refusal included).
    missing = run_cli("search", str(tmp_path / "nope.yaml"), *results)
    dataset = run_cli("search", str(KERNEL_SPACE), "--dataset", "imagenet", *results)
    zero = run_cli("search", str(KERNEL_SPACE), "--trials", "0", *results)
    for out in (missing, dataset, zero):
        assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "nope.yaml: no such file" in missing.stderr
    assert "unknown dataset 'imagenet'" in dataset.stderr and "default, folder" in dataset.stderr
    assert "--trials" in zero.stderr and "at least 1" in zero.stderr
    assert _snapshot(existing_results) == before
