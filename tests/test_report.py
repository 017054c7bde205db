"""`harness report`: tables, plots and one self-contained HTML page, from trials tables made here
(every awkward shape a study can have), from a real tiny study, and opened in a headless browser."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
import pytest
from PIL import Image

import harness
import harness.report.build
from harness.cli.main import main
from harness.report.build import build_report
from harness.report.contents import Report
from harness.report.figures import heatmap_pairs
from harness.report.study_tables import leaderboard_rows
from harness.search.search_config import SearchConfig
from harness.search.study import run_search
from harness.store.record import catalogue
from tests.support.browser import check_reads_well, open_page, screenshot

# --- tables made here ------------------------------------------------------------------------


def trial(number: int, state: str = "COMPLETE", **values: Any) -> dict[str, Any]:
    return {"number": number, "state": state, **values}


def write_table(folder: Path, rows: list[dict[str, Any]], params: list[str], run: dict[str, Any] | None = None) -> Path:
    """A results folder holding only trials.csv (and run.json when given), in trials_frame's column order."""
    folder.mkdir(parents=True, exist_ok=True)
    columns = ["number", "state", *params, *catalogue.columns(), "history", "curve"]
    pd.DataFrame(rows, columns=columns).to_csv(folder / "trials.csv", index=False)
    if run is not None:
        (folder / "run.json").write_text(json.dumps({"runs": [run], "latest": run}))
    return folder


def curve(accuracies: list[float]) -> dict[str, str]:
    """history and curve columns as trials_frame writes them (JSON)."""
    points = [{"epoch": i + 1, "train_loss": 2.0 - a, "val_loss": 2.1 - a, "val_accuracy": a, "seconds": 1.0 + i}
              for i, a in enumerate(accuracies)]
    return {"history": json.dumps(accuracies), "curve": json.dumps(points)}


def trained(number: int, kernel: int, dilation: int, accuracy: float, flops: float, params: int,
            state: str = "COMPLETE", **extra: Any) -> dict[str, Any]:
    epochs = 3 if state == "COMPLETE" else 1
    history = [accuracy * (0.6 + 0.4 * (e + 1) / epochs) for e in range(epochs)]
    return trial(number, state, kernel_size=kernel, dilation=dilation, accuracy=accuracy, flops=flops,
                 params=params, epochs=epochs, train_seconds=2.5,
                 label=f"plain w8-16 k{kernel}-{kernel} d{dilation}-{dilation}", **curve(history), **extra)


def many_trials() -> list[dict[str, Any]]:
    """24 trials over kernel size x dilation: mostly complete, some pruned, one failed, one infeasible."""
    rows = []
    for n in range(24):
        k, d = (3, 5, 7)[n % 3], (1, 2)[(n // 3) % 2]
        acc = 0.55 + 0.04 * k + 0.03 * d + 0.01 * ((n * 7) % 5)
        state = "PRUNED" if n % 7 == 6 else "COMPLETE"
        rows.append(trained(n, k, d, round(min(acc, 0.99), 3), 1e5 * k * k * (1 + n % 4), 500 * k * k + 10 * n,
                            state=state))
    rows.append(trial(24, "FAIL", kernel_size=7, dilation=2, failure_reason="out of memory: CUDA out of memory"))
    rows.append(trial(25, "COMPLETE", kernel_size=7, dilation=2, accuracy=0.0, flops=9e7, params=99,
                      infeasible="flops 9e+07 > max 5e+07", label="plain w64"))
    return rows


# --- checks on a report ----------------------------------------------------------------------


def check_png(data: bytes) -> None:
    """A valid PNG of a real figure: decodes, has a size, is not one flat colour."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    Image.open(io.BytesIO(data)).verify()
    image = Image.open(io.BytesIO(data)).convert("RGB")
    assert image.width >= 200 and image.height >= 150
    low, high = image.convert("L").getextrema()
    assert high - low > 100, "a blank image"
    assert len(image.getcolors(maxcolors=1 << 20) or []) > 16, "too few colours for a figure"


def check_page(folder: Path) -> str:
    """report.html embeds every image as a PNG data URI and refers to nothing outside itself."""
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    refs = re.findall(r"""\b(?:src|href|srcset|action|data)\s*=\s*["']?([^"'\s>]*)""", page, flags=re.I)
    images = re.findall(r"<img\b[^>]*>", page, flags=re.I)
    assert len(refs) == len(images), refs  # the only references are the images' own
    for ref in refs:
        assert ref.startswith("data:image/png;base64,"), ref[:80]
        check_png(base64.b64decode(ref.split(",", 1)[1], validate=True))
    lowered = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]*", "", page).lower()
    for outside in ("http", "url(", "@import", "<script", "<link", "<iframe", "file:"):
        assert outside not in lowered, outside
    return page


def report_cli(folder: Path, capsys: pytest.CaptureFixture[str], *extra: str,
               monkeypatch: pytest.MonkeyPatch | None = None) -> tuple[str, Report | None]:
    """`harness report FOLDER` in this process; its output and (with monkeypatch) the Report it built."""
    built: list[Report] = []
    if monkeypatch is not None:
        monkeypatch.setattr(harness.report.build, "build_report",
                            lambda *a, **k: built.append(build_report(*a, **k)) or built[-1])
    assert main(["report", str(folder), *extra]) == 0
    out = capsys.readouterr().out
    assert f"wrote {folder / 'report.html'}" in out
    return out, (built[0] if built else None)


# --- reports from tables ---------------------------------------------------------------------


SPACE_YAML = """# Kernel size and dilation of a 2-stage plain CNN.
name: kernels
stages:
  count: 2
  width: {each: [8, 16]}
  kernel_size: [3, 5, 7]
  dilation: [1, 2]
train: {epochs: 3, batch_size: 128}
"""
RUN = {"started": "2025-01-01T00:00:00+00:00", "study": "kernels", "trials": 26, "epochs": 3, "seed": 0,
       "command": ["harness", "search", "search_spaces/kernels.yaml", "--trials", "26", "--results",
                   "/a/rather/long/path/to/the/results/folder/of/a/user/who/keeps/things/deep/in/folders"],
       "objectives": "accuracy", "pruner": "median", "sampler": "tpe", "timeout": None, "seconds": None,
       "recipe": {"epochs": 3, "batch_size": 128},
       "dataset": {"ref": "default", "summary": "default: 5000 train / 1000 val images, 3x32x32, 10 classes",
                   "source": "generated", "augment": {"crop_padding": 0, "flip": False}},
       "device": {"type": "cpu", "name": "x86_64", "cores": 2},
       "versions": {"python": "3.11", "torch": "2.4.0", "optuna": "5.0.0", "pandas": "2.2.0"}}


@pytest.fixture(scope="module")
def full_report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    """26 trials (`many_trials`) with a run.json and a space.yaml, as a search leaves them: every table and plot."""
    folder = write_table(tmp_path_factory.mktemp("full") / "kernels", many_trials(), ["kernel_size", "dilation"],
                         RUN)
    (folder / "space.yaml").write_text(SPACE_YAML)
    return build_report(folder)


def test_a_full_table_gets_every_table_and_plot(full_report: Report) -> None:
    folder = full_report.folder
    drawn = {p.name for p in full_report.drawn}
    expected = {"accuracy_vs_flops", "accuracy_vs_params", "importance", "history", "learning_curves",
                "heatmap_kernel_size_dilation"}
    for param in ("kernel_size", "dilation"):
        expected |= {f"effect_{param}", f"edf_{param}", f"edf_{param}_flop_normalised"}
    assert drawn == expected, [(p.name, p.reason) for p in full_report.not_drawn]
    assert {p.stem for p in (folder / "plots").glob("*.png")} == expected
    page = check_page(folder)
    assert page.count("<img ") == len(expected)
    importance = pd.read_csv(folder / "importance.csv")
    assert set(importance["param"]) == {"kernel_size", "dilation"}
    assert importance["importance"].sum() == pytest.approx(1.0)
    assert "trials.csv (each parameter categorical" in full_report.importance_note
    board = (folder / "leaderboard.md").read_text()
    assert "plain w64" not in board  # the infeasible trial
    assert len([line for line in board.splitlines() if re.match(r"\| \d+ \|", line)]) == 10  # --top default
    front = pd.read_csv(folder / "pareto.csv")
    assert set(front["front"]) == {"flops", "params"} and 25 not in set(front["number"])


def test_hand_checked_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [
        trained(0, 3, 1, 0.50, 1.0e6, 1000),
        trained(1, 5, 1, 0.70, 2.0e6, 1500),
        trained(2, 5, 2, 0.60, 3.0e6, 1200),  # dominated by trial 1 on FLOPs, not on params
        trained(3, 3, 2, 0.80, 4.0e6, 4000),
        trained(4, 5, 1, 0.70, 2.0e6, 1500, reused_from=1),  # the same experiment as trial 1
        trial(5, "COMPLETE", kernel_size=7, dilation=1, accuracy=0.0, flops=9e6, params=100,
              infeasible="flops 9e+06 > max 5e+06", label="too big"),
        trained(6, 3, 1, 0.30, 1.0e6, 1000, state="PRUNED"),
        trial(7, "FAIL", kernel_size=7, dilation=2, failure_reason="invalid spec: too small"),
        trial(8, "RUNNING", kernel_size=7, dilation=1),
    ]
    folder = write_table(tmp_path / "hand", rows, ["kernel_size", "dilation"])
    out, _ = report_cli(folder, capsys, "--top", "3")
    assert "from " + str(folder / "trials.csv") in out

    board = (folder / "leaderboard.md").read_text().splitlines()
    table = [line for line in board if line.startswith("| ")]
    assert table[0] == ("| rank | trial | accuracy | params | FLOPs | acc/GFLOP | architecture | kernel_size "
                        "| dilation | reused by |")
    assert table[1:] == [
        "| 1 | 3 | 80.00% | 4k | 4M | 200 | plain w8-16 k3-3 d2-2 | 3 | 2 | - |",
        "| 2 | 1 | 70.00% | 1.5k | 2M | 350 | plain w8-16 k5-5 d1-1 | 5 | 1 | 4 |",
        "| 3 | 2 | 60.00% | 1.2k | 3M | 200 | plain w8-16 k5-5 d2-2 | 5 | 2 | - |",
    ]
    assert "9 trials: 6 complete, 1 pruned, 1 failed, 1 running, 1 infeasible, 1 reused" in "\n".join(board)

    front = pd.read_csv(folder / "pareto.csv")
    assert list(front.columns[:6]) == ["front", "number", "accuracy", "flops", "params", "label"]
    assert front[front["front"] == "flops"]["number"].tolist() == [0, 1, 3]
    assert front[front["front"] == "params"]["number"].tolist() == [0, 2, 1, 3]

    # Importance: Optuna's default evaluator on a study built from the four trained first runs,
    # each parameter categorical over its observed values.
    dists = {"kernel_size": optuna.distributions.CategoricalDistribution([3, 5]),
             "dilation": optuna.distributions.CategoricalDistribution([1, 2])}
    study = optuna.create_study(direction="maximize")
    for k, d, acc in ((3, 1, 0.5), (5, 1, 0.7), (5, 2, 0.6), (3, 2, 0.8)):
        study.add_trial(optuna.trial.create_trial(params={"kernel_size": k, "dilation": d},
                                                  distributions=dists, value=acc))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few trials: Optuna says so
        expected = optuna.importance.get_param_importances(study)
    got = pd.read_csv(folder / "importance.csv")
    assert dict(zip(got["param"], got["importance"], strict=True)) == pytest.approx(expected)

    page = check_page(folder)
    assert "still running (1 trial in progress)" in page
    assert "Best: trial 3, 80.00% validation accuracy" in page


@pytest.mark.parametrize("case", ["one trial", "all failed", "one-valued parameter", "two objectives",
                                  "running", "nothing ended yet"])
def test_awkward_tables_degrade_gracefully(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    params = ["kernel_size", "dilation"]
    run = None
    if case == "one trial":
        rows = [trained(0, 3, 1, 0.6, 1e6, 1000)]
    elif case == "all failed":
        rows = [trial(n, "FAIL", kernel_size=3, dilation=1 + n % 2, failure_reason="non-finite loss: nan")
                for n in range(3)]
    elif case == "one-valued parameter":
        params = ["kernel_size", "width"]
        rows = [trial(n, "COMPLETE", kernel_size=(3, 5)[n % 2], width=16, accuracy=0.5 + 0.05 * n,
                      flops=1e6 * (n + 1), params=1000 + n, label=f"net {n}", **curve([0.4, 0.5 + 0.05 * n]))
                for n in range(5)]
    elif case == "two objectives":
        rows = [trained(n, (3, 5, 7)[n % 3], 1 + n % 2, 0.5 + 0.04 * n, 1e6 * (5 - n % 5), 900 + 50 * n)
                for n in range(8)]
        run = {"started": "2025-01-01T00:00:00+00:00", "study": "two",
               "command": ["harness", "search", "space.yaml", "--objectives", "accuracy,flops", "--sampler",
                           "nsga2"],
               "objectives": "accuracy,flops", "pruner": None, "trials": 8, "epochs": 2, "seed": 0,
               "dataset": {"ref": "default", "summary": "default: 5000 train / 1000 val images, 3x32x32, "
                           "10 classes", "source": "generated", "augment": {"crop_padding": 0, "flip": False}},
               "device": {"type": "cpu", "name": "x86_64", "cores": 2},
               "versions": {"python": "3.11", "optuna": "5.0.0"}}
    elif case == "running":
        rows = [trained(n, (3, 5)[n % 2], 1 + n // 2 % 2, 0.6 + 0.03 * n, 1e6 * (n + 1), 1000 + n) for n in range(4)]
        rows += [trial(4, "RUNNING", kernel_size=3, dilation=2, flops=2e6, params=1200, **curve([0.3])),
                 trial(5, "RUNNING", kernel_size=5, dilation=1)]
    else:  # a search that has just started
        rows = [trial(0, "RUNNING", kernel_size=3, dilation=1)]
    folder = write_table(tmp_path / case.replace(" ", "_"), rows, params, run)
    out, report = report_cli(folder, capsys, monkeypatch=monkeypatch)
    assert report is not None
    page = check_page(folder)
    assert (folder / "leaderboard.md").is_file() and (folder / "pareto.csv").is_file()
    assert pd.read_csv(folder / "trials.csv").shape[0] == len(rows)
    for plot in report.not_drawn:  # every missing figure is named on the page with its reason
        assert plot.reason and plot.reason in page.replace("&#x27;", "'").replace("&quot;", '"')
    drawn = {p.name for p in report.drawn}
    assert page.count("<img ") == len(drawn)
    if case in ("all failed", "nothing ended yet", "one trial"):
        assert not (folder / "importance.csv").exists() and "not computed" in report.importance_note
    if case == "all failed":
        assert drawn == set() and "Every trial failed" in page and "non-finite loss: nan (3 trials)" in page
        assert "No trial has completed yet" in (folder / "leaderboard.md").read_text()
        assert pd.read_csv(folder / "pareto.csv").empty
    if case == "one trial":
        assert {"accuracy_vs_flops", "accuracy_vs_params", "history", "learning_curves"} <= drawn
    if case == "one-valued parameter":
        assert "effect_kernel_size" in drawn and "effect_width" not in drawn
        assert "width took one value (16)" in page
        assert pd.read_csv(folder / "importance.csv")["param"].tolist() == ["kernel_size"]
    if case == "two objectives":
        assert "accuracy,flops" in page and "nsga2" in page and "heatmap_kernel_size_dilation" in drawn
    if case in ("running", "nothing ended yet"):
        assert "still running" in page
    if case == "running":
        assert "accuracy_vs_flops" in drawn and "RUNNING" not in (folder / "leaderboard.md").read_text()


def test_heatmap_pairs_kernel_with_dilation_first_then_the_two_most_important() -> None:
    params = ["s1.kernel_size", "s2.kernel_size", "s1.dilation", "s2.dilation", "width"]
    assert heatmap_pairs(params, ["width", "s2.dilation"]) == [
        ("s1.kernel_size", "s1.dilation"), ("s2.kernel_size", "s2.dilation"), ("width", "s2.dilation")]
    assert heatmap_pairs(["kernel_size", "dilation"], ["dilation", "kernel_size"]) == [("kernel_size", "dilation")]
    assert heatmap_pairs(["kernel_size"], []) == []


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "garbage").mkdir()
    (tmp_path / "garbage" / "trials.csv").write_text("")
    cases = {
        str(tmp_path / "missing"): ([], "no such results folder"),
        str(tmp_path / "empty"): ([], "no study.db or trials.csv"),
        str(tmp_path / "garbage"): ([], "not a trials table"),
        str(tmp_path / "out"): (["--storage", f"sqlite:///{tmp_path / 'none.db'}", "--study", "x"], "no such file"),
    }
    for folder, (extra, message) in cases.items():
        assert main(["report", folder, *extra]) == 2, folder
        err = capsys.readouterr().err
        assert err.startswith("harness: error: ") and message in err and err.count("\n") == 1, err


# --- a real tiny study ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = harness.load_dataset("default")
    data = dataclasses.replace(data, train_x=data.train_x[:1000], train_y=data.train_y[:1000])
    space = harness.space_from_dict({
        "stages": {"count": 2, "width": [8, 16], "stride": 2, "downsample": "maxpool", "kernel_size": [3, 5]},
        "train": {"epochs": 1, "batch_size": 250},
    }, default_name="tiny")
    results = tmp_path_factory.mktemp("results")
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    run_search(space, SearchConfig(trials=3, results_dir=str(results), pruner="none", sampler="grid"),
               data=data, progress=None, argv=["harness", "search", "tiny.yaml", "--sampler", "grid"])
    return results / "tiny"


def test_report_of_a_real_study_through_the_cli(tiny_study: Path) -> None:
    (tiny_study / "trials.csv").unlink()  # rewritten from the storage
    done = subprocess.run([sys.executable, "-m", "harness", "report", str(tiny_study)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"from the storage {tiny_study / 'study.db'}" in done.stdout
    for name in ("trials.csv", "leaderboard.md", "pareto.csv", "importance.csv", "report.html"):
        assert (tiny_study / name).is_file(), name
        assert f"wrote {tiny_study / name}" in done.stdout
    assert len(pd.read_csv(tiny_study / "trials.csv")) == 3
    importance = pd.read_csv(tiny_study / "importance.csv")
    assert set(importance["param"]) <= {"width", "kernel_size"} and len(importance) >= 1
    page = check_page(tiny_study)
    assert "from the study&#x27;s storage" in page
    assert "sampler</th><td>grid" in page and "default: 1000 train / 1000 val images" in page
    assert "stages:" in page  # the space file
    assert page.count("<img ") >= 5


def test_report_from_a_storage_url_and_errors(tiny_study: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tiny_study / 'study.db'}"
    assert main(["report", str(tmp_path / "elsewhere"), "--storage", url, "--study", "nope"]) == 2
    err = capsys.readouterr().err
    assert err == f"harness: error: no study named 'nope' in {url} (it holds tiny)\n"
    assert main(["report", str(tiny_study), "--study", "nope"]) == 2
    assert "no study named 'nope'" in capsys.readouterr().err
    html = build_report(tmp_path / "elsewhere", frame=harness.load_trials(tiny_study)).html
    assert html == tmp_path / "elsewhere" / "report.html"
    check_page(tmp_path / "elsewhere")


# --- a real browser --------------------------------------------------------------------------


def test_the_report_reads_well_in_a_headless_browser(full_report: Report, tmp_path: Path) -> None:
    facts = open_page(full_report.html, tmp_path, ("#best", "#accuracy_vs_flops", "#leaderboard", "#record",
                                                   "#space", "#versions"))
    check_reads_well(facts)
    assert facts.images == len(full_report.drawn)
    # The text holds the table values as the page prints them: the best trial and the front, each
    # leaderboard row.
    assert "Best: trial 17, 93.00% validation accuracy at 9.8M FLOPs and 24.7k params (plain w8-16 k7-7 d2-2)." \
        in facts.text
    assert ("Pareto front, accuracy vs FLOPs: trial 12 (74.00% at 900k), trial 9 (76.00% at 1.8M), trial 4 (84.00% at "
            "2.5M), trial 8 (87.00% at 4.9M), trial 17 (93.00% at 9.8M).") in facts.text
    header, rows = leaderboard_rows(full_report.frame)
    assert len(rows) == 10 and "\t".join(header) in facts.text
    for row in rows:
        assert "\t".join(row) in facts.text, row
    assert "sampler\ttpe" in facts.text and "name: kernels" in facts.text  # the record, the space
    # The answer first: the best trial, then the accuracy-vs-FLOPs figure (the first image), the leaderboard;
    # the study's record, its space and the versions after every figure, at the end.
    assert facts.top("#best") < facts.top("img") == facts.top("#accuracy_vs_flops") < facts.top("#leaderboard")
    assert facts.images_bottom is not None and facts.images_bottom < facts.top("#record")
    assert facts.top("#record") < facts.top("#space") < facts.top("#versions")

    # Drawn as it is written (no probe): the figures' colours (text and tables are grey) show that the
    # images were painted, not only decoded.
    shot, console = screenshot(full_report.html, tmp_path / "shot")
    assert not console, console
    check_png(shot.read_bytes())
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    saturated = int(((pixels.max(axis=2) - pixels.min(axis=2)) > 60).sum())
    assert saturated > 20_000, saturated
