"""`harness rank`: candidates re-trained over seeds as a resumable study, honest statistics, files,
and rank.html opened in a headless browser.

The data is an image folder written here (train/, val/ and test/ PNGs: noisy colour classes, so a
network learns them partly and seeds differ), read through the real folder loader.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from scipy import stats

from harness.cli.main import main
from harness.data import DataOptions
from harness.rank.candidates import Candidate, combine, from_presets, from_study, with_budget
from harness.rank.rank_tables import fidelity_table, loss_over_first, rank_table, runs_frame
from harness.rank.ranking import RankConfig, Ranking
from harness.rank.report import summary_line, table_rows, write_ranking
from harness.rank.runs import plan_runs, run_rank
from harness.rank.stats import kendall
from harness.train.loop import TrainConfig
from harness.zoo.spec import ArchSpec, StageSpec, StemSpec
from tests.support.browser import check_reads_well, open_page

COLOURS = {"red": (200, 60, 60), "green": (60, 180, 60), "blue": (60, 60, 200)}


def write_split(folder: Path, per_class: int, rng: np.random.Generator) -> None:
    for name, colour in COLOURS.items():
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            noise = rng.normal(0, 70, size=(8, 8, 3))
            pixels = np.clip(np.array(colour) + noise, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / name / f"{i:03d}.png")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("rankdata")
    rng = np.random.default_rng(0)
    for split, n in (("train", 40), ("val", 12), ("test", 12)):
        write_split(root / "images" / split, n, rng)
    return f"folder:{root / 'images'}"


pytestmark = pytest.mark.usefixtures("cache")  # tests/conftest.py: each test its own decode cache


def spec(width: int, kernel: int = 3) -> ArchSpec:
    stage = StageSpec(block="plain", width=width, stride=2, kernel_size=kernel)
    return ArchSpec(stem=StemSpec(width=8), stages=(stage,))


def spec_files(folder: Path) -> list[Path]:
    paths = []
    for name, s in (("narrow", spec(4)), ("middle", spec(8, 5)), ("wide", spec(16))):
        path = folder / f"{name}.yaml"
        path.write_text(yaml.safe_dump(s.to_dict(compact=True)))
        paths.append(path)
    return paths


def rank_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["rank", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


TINY = ["--epochs", "2", "--device", "cpu"]


# ------------------------------------------------------------------------------------------ end to end


def test_three_specs_three_seeds_end_to_end(dataset: str, tmp_path: Path, capsys) -> None:
    files = spec_files(tmp_path)
    common = [*(a for f in files for a in ("--spec", str(f))), "--dataset", dataset, "--results",
              str(tmp_path / "out"), *TINY]
    folder = tmp_path / "out" / "rank"
    # First one seed each: the means, but no interval, P(best) or group anywhere (issue 15: not "P(best) 100%").
    code, out, err = rank_cli(capsys, *common, "--seeds", "1")
    assert code == 0, err
    assert "1 seed per candidate: no confidence interval, P(best) or top group (needs at least 2 seeds; " \
           "give --seeds 3)" in out and "100.0%" not in out and "P(best) 100" not in out
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("rank "))
    header = re.split(r"\s{2,}", lines[start].strip())  # cmd_rank's columns are 2 or more spaces apart
    printed = [dict(zip(header, re.split(r"\s{2,}", line.strip()), strict=True)) for line in lines[start + 1:start + 4]]
    assert [(r["val CI"], r["P(best)"], r["group"]) for r in printed] == [("-", "-", "-")] * 3
    table = pd.read_csv(folder / "rank.csv")
    assert len(table) == 3 and (table["n"] == 1).all() and table["mean"].notna().all()
    assert table[["ci_low", "ci_high", "prob_best", "group", "top"]].isna().all().all()
    md = (folder / "rank.md").read_text()
    assert "1 seed per candidate." in md and "100.0%" not in md
    assert "1 seed per candidate: no confidence interval" in (folder / "rank.html").read_text()

    # Then three: the two missing seeds of each are run, and the statistics appear.
    args = [*common, "--seeds", "3"]
    code, out, err = rank_cli(capsys, *args)
    assert code == 0, err
    assert "3 run(s) already ended; 6 to run" in out
    runs = pd.read_csv(folder / "runs.csv")
    assert len(runs) == 9 and (runs["state"] == "COMPLETE").all()
    assert sorted(runs.groupby("candidate").size().tolist()) == [3, 3, 3]
    assert runs["test_accuracy"].between(0, 1).all() and runs["accuracy"].between(0, 1).all()
    assert (runs["images_per_second"] > 0).all()
    # Seed index i is one seed for every candidate; seeds differ between indices.
    assert runs.groupby("seed_index")["seed"].nunique().eq(1).all() and runs["seed"].nunique() == 3

    table = pd.read_csv(folder / "rank.csv")
    assert list(table["rank"]) == [1, 2, 3]
    assert table["mean"].is_monotonic_decreasing
    for _, row in table.iterrows():  # the table's statistics are those of the runs it shows
        acc = runs.loc[runs["candidate"] == row["candidate"], "accuracy"].to_numpy()
        assert row["mean"] == pytest.approx(acc.mean()) and row["std"] == pytest.approx(acc.std(ddof=1))
        half = stats.t.ppf(0.975, 2) * acc.std(ddof=1) / np.sqrt(3)
        assert row["ci_low"] == pytest.approx(max(0.0, acc.mean() - half))
        test = runs.loc[runs["candidate"] == row["candidate"], "test_accuracy"].to_numpy()
        assert row["test_mean"] == pytest.approx(test.mean()) and row["test_n"] == 3
    assert table["prob_best"].sum() == pytest.approx(1.0)
    assert table["top"].iloc[0]
    assert table["params"].nunique() == 3

    pairwise = pd.read_csv(folder / "pairwise.csv")
    assert len(pairwise) == 3 and pairwise["p_holm"].ge(pairwise["p"]).all()
    md = (folder / "rank.md").read_text()
    assert "| 1 | " in md and "Welch" in md and "test acc" in md
    page = (folder / "rank.html").read_text()
    assert page.count("data:image/png;base64,") == 2  # accuracy per candidate, accuracy vs FLOPs
    assert (folder / "plots" / "rank_accuracy.png").stat().st_size > 10_000
    assert "Best by mean validation accuracy" in out and str(folder / "rank.md") in out

    # The same command again finds every run ended: nothing is trained, the numbers stay.
    code, out, _ = rank_cli(capsys, *args)
    assert code == 0 and "[  1/" not in out and "to run" not in out
    again = pd.read_csv(folder / "runs.csv")
    pd.testing.assert_frame_equal(again, runs)


def test_same_seeds_give_the_same_numbers_on_cpu(dataset: str, tmp_path: Path) -> None:
    cands = [Candidate(name=f"w{w}", spec=spec(w), train=TrainConfig(epochs=2), origin="test") for w in (4, 8)]
    config = RankConfig(dataset=dataset, seeds=2, device="cpu", results_dir=str(tmp_path))
    first = run_rank(cands, RankConfig(**{**config.__dict__, "name": "a"}), progress=None)
    second = run_rank(cands, RankConfig(**{**config.__dict__, "name": "b"}), progress=None)
    cols = ["candidate", "seed", "accuracy", "test_accuracy", "val_loss", "train_loss", "params", "flops"]
    pd.testing.assert_frame_equal(first.runs[cols], second.runs[cols])
    other = run_rank(cands, RankConfig(**{**config.__dict__, "name": "c", "seed": 1}), progress=None)
    assert not np.array_equal(other.runs["val_loss"].to_numpy(), first.runs["val_loss"].to_numpy())


def test_a_killed_ranking_resumes_without_repeating_finished_runs(dataset: str, tmp_path: Path) -> None:
    files = spec_files(tmp_path)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "harness", "rank", *(a for f in files for a in ("--spec", str(f))),
           "--dataset", dataset, "--seeds", "3", "--results", str(out), "--epochs", "12", "--device", "cpu"]
    env = {**os.environ, "HARNESS_CACHE": str(tmp_path / "cache")}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    db = out / "rank" / "rank.db"
    finished: list[int] = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists():
            with sqlite3.connect(db) as con:
                try:
                    finished = [r[0] for r in con.execute("select number from trials where state = 'COMPLETE'")]
                except sqlite3.OperationalError:  # tables not created yet
                    finished = []
            if len(finished) >= 2:
                break
        time.sleep(0.1)
    assert proc.poll() is None, f"the ranking ended before it could be killed: {proc.stderr.read()}"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    with sqlite3.connect(db) as con:
        before = [r[0] for r in con.execute("select number from trials where state = 'COMPLETE'")]
        running = [r[0] for r in con.execute("select number from trials where state = 'RUNNING'")]
    assert 2 <= len(before) < 9 and len(running) <= 1  # killed mid-run (or between two runs)

    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"{len(before)} run(s) already ended; {9 - len(before)} to run" in done.stdout
    runs = pd.read_csv(out / "rank" / "runs.csv")
    assert len(runs) == 9 and not runs.duplicated(["candidate", "seed_index"]).any()
    assert set(before) <= set(runs["number"])  # the finished runs were kept, not run again
    assert not set(running) & set(runs["number"])  # the killed run was run again as a new trial


def test_ranking_a_study_measures_fidelity_and_keeps_its_budget(dataset: str, tmp_path: Path, capsys) -> None:
    space = tmp_path / "tiny.yaml"
    space.write_text("stem: {width: 8}\nstages:\n  count: 1\n  width: [4, 8, 16]\n  stride: 2\n"
                     "  kernel_size: [3, 7]\ntrain: {epochs: 1, batch_size: 32}\n")
    assert main(["search", str(space), "--dataset", dataset, "--trials", "5", "--sampler", "grid", "--epochs", "2",
                 "--device", "cpu", "--results", str(tmp_path / "results")]) == 0
    capsys.readouterr()
    code, out, err = rank_cli(capsys, "--from", str(tmp_path / "results" / "tiny"), "--top", "4", "--seeds", "2",
                              "--budget-factor", "2", "--spec", str(spec_files(tmp_path)[1]), "--device", "cpu")
    assert code == 0, err
    folder = tmp_path / "results" / "tiny-rank"  # beside the study, under the same --results
    info = json.loads((folder / "run.json").read_text())["latest"]
    assert info["budget"] == "4 epochs"  # the search's --epochs 2, times 2; also for the spec file
    assert info["dataset"]["ref"] == dataset  # the study's dataset, without --dataset
    table = pd.read_csv(folder / "rank.csv")
    assert len(table) == 5 and table["origin"].str.startswith("spec file").sum() == 1
    trials = pd.read_csv(tmp_path / "results" / "tiny" / "trials.csv").set_index("number")
    of_study = table[table["search_trial"].notna()]
    assert len(of_study) == 4
    for _, row in of_study.iterrows():  # each trial's brief accuracy, and its own architecture
        trial = trials.loc[int(row["search_trial"])]
        assert row["search_accuracy"] == pytest.approx(trial["accuracy"]) and row["spec_id"] == trial["spec_id"]
    # The four best trials of the search, by its accuracy: none left out was better.
    left_out = trials[(trials["state"] == "COMPLETE") & ~trials.index.isin(of_study["search_trial"])]
    assert of_study["search_accuracy"].min() >= left_out["accuracy"].max()
    fidelity = pd.read_csv(folder / "fidelity.csv").set_index("predictor")
    n, tau, _ = kendall(of_study["search_accuracy"], of_study["mean"])
    assert fidelity.loc["search accuracy (one brief run)", "tau"] == pytest.approx(tau)
    assert fidelity.loc["params", "n"] == 5
    assert "fidelity: Kendall's tau" in out
    assert (folder / "plots" / "rank_fidelity.png").is_file()

    # From trials.csv and space.yaml alone (no study.db), the same candidates and training configs.
    bare = tmp_path / "bare" / "tiny"
    bare.mkdir(parents=True)
    for name in ("trials.csv", "space.yaml", "run.json"):
        shutil.copy(tmp_path / "results" / "tiny" / name, bare / name)
    with_db, _, _ = from_study(tmp_path / "results" / "tiny", top=4)
    without, info, base = from_study(bare, top=4)
    assert [(c.name, c.key, c.search_accuracy) for c in without] == [(c.name, c.key, c.search_accuracy)
                                                                      for c in with_db]
    assert base.epochs == 2 and info.dataset == dataset


def test_racing_adds_seeds_only_to_the_top_group(dataset: str, tmp_path: Path) -> None:
    train = TrainConfig(epochs=4, batch_size=16)
    cands = [Candidate(name=f"k{k}", spec=spec(8, k), train=train, origin="test") for k in (3, 5)]
    # A network that cannot learn in time (near chance, 1/3): out of the race after the first seeds.
    cands.append(Candidate(name="tiny", spec=spec(1), train=TrainConfig(epochs=1, lr=1e-6), origin="test"))
    config = RankConfig(dataset=dataset, seeds=3, race=True, max_seeds=5, device="cpu", results_dir=str(tmp_path))
    ranking = run_rank(cands, config, progress=None)
    table = ranking.table.set_index("candidate")
    top = table[table["top"].fillna(False).astype(bool)].index.tolist()
    assert "tiny" not in top and table.loc["tiny", "n"] == 3
    if len(top) > 1:  # still tied: every member raced to the cap
        assert all(table.loc[name, "n"] == 5 for name in top)
    assert ranking.info["race"] is True


# ------------------------------------------------------------------------------------------ planning


def _ended(accs: dict[str, list[float]], cands: list[Candidate]) -> dict:
    by_name = {c.name: c.key for c in cands}
    return {by_name[n]: {i: {"state": "COMPLETE", "accuracy": a} for i, a in enumerate(v)} for n, v in accs.items()}


def _cands(n: int) -> list[Candidate]:
    return [Candidate(name=f"c{i}", spec=spec(4 + i), train=TrainConfig(), origin="test") for i in range(n)]


def test_plan_runs_fills_the_first_seeds_then_races_the_tied() -> None:
    cands = _cands(3)
    config = RankConfig(seeds=3, race=True, max_seeds=5)
    # Seed by seed: every candidate's first seed before any second one (a stopped ranking has them all).
    assert plan_runs(cands, {}, config) == [(c, i) for i in range(3) for c in cands]
    partial = _ended({"c0": [0.5, 0.6], "c1": [0.5, 0.5, 0.5]}, cands)
    assert plan_runs(cands, partial, config) == [(cands[2], 0), (cands[2], 1), (cands[0], 2), (cands[2], 2)]
    # c0 and c1 overlap, c2 is far below: one more seed each for c0 and c1.
    tied = _ended({"c0": [0.80, 0.82, 0.78], "c1": [0.79, 0.83, 0.77], "c2": [0.10, 0.11, 0.12]}, cands)
    assert plan_runs(cands, tied, config) == [(cands[0], 3), (cands[1], 3)]
    assert plan_runs(cands, tied, RankConfig(seeds=3)) == []  # no racing: done after the first seeds
    capped = _ended({"c0": [0.80, 0.82, 0.78, 0.8, 0.81], "c1": [0.79, 0.83, 0.77, 0.8, 0.8], "c2": [0.1] * 3}, cands)
    assert plan_runs(cands, capped, config) == []
    clear = _ended({"c0": [0.90, 0.91, 0.92], "c1": [0.50, 0.51, 0.52], "c2": [0.10, 0.11, 0.12]}, cands)
    assert plan_runs(cands, clear, config) == []  # one candidate leads: the race is over
    failed = {cands[0].key: {0: {"state": "FAIL"}, 1: {"state": "FAIL"}, 2: {"state": "FAIL"}}}
    assert (cands[0], 0) not in plan_runs(cands, failed, config)  # a failed run is not retried


def test_combine_ranks_each_experiment_once_and_names_uniquely() -> None:
    a = Candidate(name="x", spec=spec(4), train=TrainConfig(), origin="one")
    same = Candidate(name="y", spec=spec(4), train=TrainConfig(), origin="two")
    other = Candidate(name="x", spec=spec(8), train=TrainConfig(), origin="three")
    out, notes = combine([a, same, other])
    assert [c.name for c in out] == ["x", "x (2)"] and "same experiment" in notes[0]
    longer = with_budget(a, factor=5)
    assert longer.train.epochs == 20 and longer.key != a.key
    timed = with_budget(Candidate(name="t", spec=spec(4), train=TrainConfig(seconds=2.0), origin=""), factor=3)
    assert timed.train.seconds == 6.0
    assert with_budget(timed, epochs=7).train.seconds is None


# ------------------------------------------------------------------------------------------ tables


def _runs(accs: dict[str, list[float]], cands: list[Candidate], curves: bool = False) -> pd.DataFrame:
    ended = {}
    for c in cands:
        if c.name not in accs:
            continue
        ended[c.key] = {}
        for i, a in enumerate(accs[c.name]):
            run = {"state": "COMPLETE", "accuracy": a, "params": 100 * (1 + len(c.name)), "flops": 1000,
                   "images_per_second": 10.0, "train_seconds": 1.0, "epochs": 2}
            if curves:
                run["curve"] = [{"train_loss": 2.0 - a}, {"train_loss": 1.0 - a}, {"train_loss": 0.0}]
            ended[c.key][i] = run
    return runs_frame(cands, ended)


def test_rank_table_orders_by_mean_and_puts_failed_candidates_last() -> None:
    cands = _cands(4)
    runs = _runs({"c0": [0.2, 0.3, 0.25], "c1": [0.9, 0.95, 0.93], "c2": [0.5, 0.52, 0.48]}, cands)
    failed = pd.DataFrame([{"candidate": "c3", "seed_index": 0, "state": "FAIL", "failure_reason": "non-finite loss"}])
    table, pairwise = rank_table(pd.concat([runs, failed], ignore_index=True), cands)
    assert table["candidate"].tolist() == ["c1", "c2", "c0", "c3"]
    assert table["rank"].tolist()[:3] == [1, 2, 3] and pd.isna(table["rank"].iloc[3])
    assert table.iloc[3]["failure_reason"] == "non-finite loss" and table.iloc[3]["failed"] == 1
    assert table.iloc[0]["prob_best"] == 1.0 and table["group"].tolist()[:3] == ["a", "b", "c"]
    assert len(pairwise) == 3 and pairwise["significant"].all()
    # A t interval past [0, 1] is cut there.
    wide = rank_table(_runs({"c0": [0.0, 0.9], "c1": [0.1, 1.0]}, cands[:2]), cands[:2])[0]
    assert wide["ci_low"].min() == 0.0 and wide["ci_high"].max() == 1.0


def test_fidelity_taus_are_oriented_so_that_plus_one_agrees() -> None:
    cands = [Candidate(name=f"c{i}", spec=spec(4 + i), train=TrainConfig(), origin="test", search_accuracy=s)
             for i, s in enumerate([0.1, 0.2, 0.3, 0.4])]
    runs = _runs({"c0": [0.1, 0.11], "c1": [0.2, 0.21], "c2": [0.3, 0.31], "c3": [0.4, 0.41]}, cands, curves=True)
    table, _ = rank_table(runs, cands, loss_epochs=2)
    fidelity = fidelity_table(table, loss_epochs=2).set_index("predictor")
    assert fidelity.loc["search accuracy (one brief run)", "tau"] == pytest.approx(1.0)
    assert fidelity.loc["training loss, first 2 epochs", "tau"] == pytest.approx(1.0)  # lower loss = better
    assert loss_over_first(json.dumps([{"train_loss": 1.5}, {"train_loss": 0.5}, {"train_loss": 9}]), 2) == 2.0
    assert loss_over_first(None, 2) != loss_over_first(None, 2)  # NaN


def test_kendall_matches_scipy_and_drops_missing_values() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=12), rng.normal(size=12)
    n, tau, p = kendall(a, b)
    ref = stats.kendalltau(a, b, variant="b")
    assert (n, tau, p) == (12, pytest.approx(ref.statistic), pytest.approx(ref.pvalue))
    n, tau, _ = kendall([1.0, 2.0, float("nan"), 4.0], [1.0, 2.0, 3.0, 4.0])
    assert n == 3 and tau == pytest.approx(1.0)


# ------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(("args", "fragment"), [
    ([], "nothing to rank"),
    (["--top", "3", "--presets", "resnet18"], "--from FOLDER"),
    (["--presets", "resnet19"], "resnet18"),  # an unknown preset lists the valid ones
    (["--spec", "no/such.yaml"], "no such file"),
    (["--from", "no/such/folder"], "no such results folder"),
    (["--presets", "resnet18", "--race", "--max-seeds", "2", "--seeds", "3"], "--max-seeds"),
])
def test_bad_input_gets_one_line(args: list[str], fragment: str, capsys) -> None:
    code, out, err = rank_cli(capsys, *args)
    assert code == 2 and fragment in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_candidate_that_cannot_run_on_the_data_is_refused_before_training(dataset: str, tmp_path: Path,
                                                                             capsys) -> None:
    code, _, err = rank_cli(capsys, "--presets", "resnet18,squeezenet1_1", "--dataset", dataset, "--results",
                            str(tmp_path), *TINY)
    errors = [line for line in err.splitlines() if line.startswith("harness: error:")]
    assert code == 2 and len(errors) == 1 and "squeezenet1_1 (preset)" in errors[0] and "vanish" in errors[0]
    assert "resnet18" not in errors[0]  # only the candidate that cannot run is named
    assert not (tmp_path / "rank" / "rank.db").exists()


def test_presets_candidates_use_the_given_training_config() -> None:
    train = TrainConfig(epochs=7)
    (c,) = from_presets(["resnet18"], train)
    assert c.train.epochs == 7 and c.origin == "preset"


def test_rank_config_refuses_bad_values(tmp_path: Path) -> None:
    from harness.errors import HarnessError

    for bad in ({"seeds": 0}, {"epochs": 3, "seconds": 2.0}, {"alpha": 1.5}):
        with pytest.raises(HarnessError):
            run_rank(_cands(1), RankConfig(results_dir=str(tmp_path), **bad), progress=None)
    with pytest.raises(HarnessError, match="nothing to rank"):
        run_rank([], RankConfig(results_dir=str(tmp_path), data_options=DataOptions()), progress=None)


# ------------------------------------------------------------------------------------------ the page


@pytest.fixture(scope="module")
def written_ranking(tmp_path_factory: pytest.TempPathFactory) -> Ranking:
    """Four candidates of a study over three seeds each, with made-up runs (nothing trained), written as
    `harness rank` writes them: rank.html and its three figures."""
    cands = [Candidate(name=f"trial {i}", spec=spec(4 * 2 ** (i % 3), 3 + 2 * i), train=TrainConfig(epochs=2),
                       origin="kernels trial", search_accuracy=0.5 + 0.05 * i, search_trial=i) for i in range(4)]
    ended = {c.key: {s: {"state": "COMPLETE", "accuracy": 0.6 + 0.08 * i + 0.01 * s, "test_accuracy": 0.58 + 0.08 * i,
                         "params": 1000 * 4 ** (i % 3), "flops": 2e5 * 4 ** (i % 3) * (1 + i), "epochs": 2,
                         "images_per_second": 900.0 - 100 * i, "train_seconds": 1.5,
                         "curve": [{"train_loss": 2.0 - 0.1 * i}, {"train_loss": 1.0 - 0.1 * i}]}
                     for s in range(3)} for i, c in enumerate(cands)}
    runs = runs_frame(cands, ended)
    table, pairwise = rank_table(runs, cands)
    info = {"command": ["harness", "rank", "--from", "results/kernels", "--top", "4"], "budget": "2 epochs",
            "dataset": {"ref": "default", "summary": "default: 5000 train / 1000 val / 1000 test images"},
            "seeds": 3, "race": False, "alpha": 0.05, "confidence": 0.95, "study": "results/kernels",
            "device": {"type": "cpu", "name": "x86_64"}, "versions": {"python": "3.11", "torch": "2.4.0"}}
    folder = tmp_path_factory.mktemp("ranking") / "kernels-rank"
    ranking = Ranking(folder=folder, candidates=cands, runs=runs, table=table, pairwise=pairwise,
                      fidelity=fidelity_table(table), info=info,
                      notes=["the search trained each trial on a 600-image subset; these runs train on 5000 images"])
    write_ranking(ranking)
    return ranking


def test_the_ranking_page_reads_well_in_a_headless_browser(written_ranking: Ranking, tmp_path: Path) -> None:
    facts = open_page(written_ranking.folder / "rank.html", tmp_path, ("#best", "#ranking", "#record", "#versions"))
    check_reads_well(facts)
    assert facts.images == 3  # accuracy per candidate, accuracy vs FLOPs, brief search vs ranking
    # The text holds the table values: the summary, and every candidate's row with its mean as printed.
    assert summary_line(written_ranking) in facts.text
    assert "Best by mean validation accuracy: trial 3 (85.00% ± 1.00, P(best) 100%)" in facts.text
    header, rows = table_rows(written_ranking.table)
    assert "\t".join(header) in facts.text and [r[1] for r in rows] == ["trial 3", "trial 2", "trial 1", "trial 0"]
    for row in rows:
        assert "\t".join(row) in facts.text, row
    assert "600-image subset" in facts.text and "torch 2.4.0" in facts.text
    # The answer first (the summary, the ranking, then its figures); the record with the versions last.
    assert facts.top("#best") < facts.top("#ranking") < facts.top("img")
    assert facts.images_bottom is not None and facts.images_bottom < facts.top("#record") <= facts.top("#versions")
