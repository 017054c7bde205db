"""An image folder made by someone else (tests/support/hostile.py writes it for real: HTML, quotes, commas, a
newline, bytes that are not UTF-8 and 255-byte names, files that are no image, links that loop, a
dangling link, a named pipe): read without hanging, the junk counted in one warning line each, the
names kept in a printable, stable form; and a search, report, train, rank and predict on it, whose
pages show the names as text in a real browser, whose JSON and CSV keep them, and which write
nothing outside the results folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from harness.data import DataRequest
from harness.data.sources.image_folder import read_folder
from harness.errors import DatasetError, DatasetWarning
from tests.support.browser import check_reads_well, open_page
from tests.support.hostile import CLASSES, IMAGES_PER_CLASS, ODD_FILES, SCRIPTS, STORED, colour, image_folder, tree
from tests.support.inprocess import CliResult, run_cli

pytestmark = pytest.mark.usefixtures("one_thread", "cache")  # tests/conftest.py
SPACE = "stages: {count: 1, width: 4, stride: 2, kernel_size: [3, 5]}\ntrain: {epochs: 1, batch_size: 16}\n"
STUDY = f"{SCRIPTS[0]} {SCRIPTS[2]} \"q\" it's"  # path-safe, so allowed; every page must escape it


def warning_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("harness: warning:")]


# --- the reader ----------------------------------------------------------------------------------


def test_a_hostile_folder_is_read_without_hanging_and_says_what_it_skipped(tmp_path: Path) -> None:
    root = image_folder(tmp_path / "hostile")  # with the named pipe: in a process of its own, bounded
    done = subprocess.run([sys.executable, "-m", "harness", "datasets", f"folder:{root}"], capture_output=True,
                          text=True, timeout=180, env={**os.environ, "HARNESS_CACHE": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr
    assert "6 classes" in done.stdout
    per_class = next(line for line in done.stdout.splitlines() if "training images per class" in line)
    assert "caf\\xe9 " in per_class and "new\\nline " in per_class and "L" * 255 in per_class
    lines = warning_lines(done.stderr)
    first = f"{root.resolve()}/{CLASSES[0]}"
    assert lines == [
        f"harness: warning: ignored 1 file(s) that are not images (.xyz) in {root.resolve()}",
        f"harness: warning: did not follow 2 folder link(s) back to a folder already read (a loop): {first}/up, "
        f"{root.resolve()}/loop",
        f"harness: warning: skipped 6 unreadable image file(s): {first}/cut.png, {first}/empty.png, {first}/gone.png "
        "and 3 more",
    ]


def test_names_are_kept_printable_and_labels_follow_the_folders(tmp_path: Path) -> None:
    root = image_folder(tmp_path / "hostile", pipe=False)
    with pytest.warns(DatasetWarning):
        raw = read_folder(DataRequest(path=str(root), progress=False))
    order = sorted(range(len(CLASSES)), key=lambda k: CLASSES[k])  # torchvision's order: sorted folder names
    assert raw.classes == tuple(STORED[k] for k in order)
    assert "caf\\xe9" in raw.classes and all(c.encode("utf-8") for c in raw.classes)  # storable as UTF-8
    counts = raw.train_y.bincount(minlength=len(CLASSES)).tolist()
    assert counts[raw.classes.index(STORED[0])] == IMAGES_PER_CLASS + len(ODD_FILES)  # the odd names are read
    assert sum(counts) == len(CLASSES) * IMAGES_PER_CLASS + len(ODD_FILES)  # each file once, through no link
    for x, y in zip(raw.train_x, raw.train_y.tolist(), strict=True):  # red and green say the class
        k = STORED.index(raw.classes[y])
        assert (int(x[0, 4, 4]), int(x[1, 4, 4])) == colour(k, 0)[:2]


def test_a_folder_with_nothing_readable_is_refused_in_one_line(tmp_path: Path) -> None:
    space = tmp_path / "tiny.yaml"
    space.write_text(SPACE)
    junk = tmp_path.resolve() / "junk"
    for name in ("a", "b"):
        (junk / name).mkdir(parents=True)
        (junk / name / "text.png").write_text("no image")
        (junk / name / "zero.jpg").write_bytes(b"")
    results = tmp_path / "results"
    done = run_cli("search", str(space), "--dataset", f"folder:{junk}", "--results", str(results), "--quiet")
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        f"harness: error: folder dataset: {junk}: none of its 4 image file(s) is readable: {junk}/a/text.png, "
        f"{junk}/a/zero.jpg, {junk}/b/text.png and 1 more")
    assert not results.exists()

    links = tmp_path.resolve() / "links"
    for name in ("a", "b"):
        (links / name).mkdir(parents=True)
        os.symlink("nowhere.png", links / name / "gone.png")
    done = run_cli("search", str(space), "--dataset", f"folder:{links}", "--results", str(results), "--quiet")
    assert done.returncode == 2 and not results.exists()
    assert done.stderr.splitlines()[-1].startswith(f"harness: error: folder dataset: {links} is empty: its class "
                                                   "folders hold no ")
    assert done.stderr.splitlines()[-1].endswith("images (2 unreadable: a/gone.png, b/gone.png)")


def test_class_folders_that_differ_only_by_an_escape_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "twins"
    for name in (os.fsdecode(b"caf\xe9"), "caf\\xe9"):  # the byte 0xe9, and a backslash, x, e, 9
        (root / name).mkdir(parents=True)
        Image.new("L", (4, 4)).save(root / name / "0.png")
    with warnings.catch_warnings(), pytest.raises(DatasetError, match=r"class folders 'caf\\xe9' differ only") as err:
        warnings.simplefilter("ignore", DatasetWarning)
        read_folder(DataRequest(path=str(root), progress=False))
    assert "\n" not in str(err.value)


# --- end to end ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """search, report, train, rank and predict through the CLI on the hostile folder (without the pipe:
    in this process), with a study name that is HTML; what each printed, and the folders."""
    top = tmp_path_factory.mktemp("e2e")
    os.environ["HARNESS_CACHE"] = str(top / "cache")  # module-scoped: the cache fixture is per test
    root = image_folder(top / "hostile", pipe=False)
    space = top / "tiny.yaml"
    space.write_text(SPACE)
    results = top / "results"
    before = tree(top)
    study = results / STUDY
    model = results / "model"
    got: dict[str, object] = {"top": top, "root": root, "results": results, "study": study, "model": model,
                              "before": before}
    data = ("--dataset", f"folder:{root}", "--device", "cpu")
    got["search"] = run_cli("search", str(space), *data, "--study", STUDY, "--trials", "2", "--sampler", "grid",
                            "--results", str(results), "--quiet")
    got["report"] = run_cli("report", str(study))
    got["train"] = run_cli("train", "--from", str(study), "--trial", "0", "--epochs", "1", "--out", str(model), *data,
                           "--quiet")
    got["rank"] = run_cli("rank", "--from", str(study), "--top", "1", "--seeds", "1", "--epochs", "1", *data,
                          "--quiet")
    got["predict"] = run_cli("predict", str(model), str(root / CLASSES[3]))
    return got


def test_every_command_succeeds_and_writes_only_inside_the_results_folder(runs: dict) -> None:
    for name in ("search", "report", "train", "rank", "predict"):
        result: CliResult = runs[name]
        assert result.returncode == 0, (name, result.stderr[-3000:])
    top, results = runs["top"], runs["results"]
    new = {p for p in tree(top) - runs["before"] if not p.startswith("cache")}
    assert new and all(p.split(os.sep)[0] == "results" for p in new), sorted(new)[:5]
    assert sorted(os.listdir(results)) == sorted([STUDY, f"{STUDY}-rank", "model"])
    # The dataset's warnings: one line each, naming the skipped files printably.
    lines = warning_lines(runs["search"].stderr)
    assert len(lines) == 3 and lines[2].startswith("harness: warning: skipped 5 unreadable image file(s): ")
    # predict: one line per image, the class name with its newline escaped.
    out = runs["predict"].stdout.splitlines()
    assert len(out) == IMAGES_PER_CLASS and all(line.count("\t") == 2 for line in out)


def test_json_files_keep_the_class_names(runs: dict) -> None:
    run = json.loads((runs["study"] / "run.json").read_text(encoding="utf-8"))
    assert tuple(run["latest"]["dataset"]["classes"]) == tuple(sorted(STORED, key=lambda s: CLASSES[STORED.index(s)]))
    assert run["latest"]["study"] == STUDY
    model = json.loads((runs["model"] / "model.json").read_text(encoding="utf-8"))
    metrics = json.loads((runs["model"] / "metrics.json").read_text(encoding="utf-8"))
    assert model["classes"] == run["latest"]["dataset"]["classes"]
    assert [r["class"] for r in metrics["val"]["per_class"]] == model["classes"]


def test_csv_files_round_trip_the_class_names_through_pandas(runs: dict) -> None:
    classes = json.loads((runs["model"] / "model.json").read_text(encoding="utf-8"))["classes"]
    table = pd.read_csv(runs["model"] / "per_class.csv", keep_default_na=False)
    assert table.loc[table["split"] == "val", "class"].tolist() == classes  # newline, quotes, commas survive
    assert "new\nline" in classes and "it's \"quoted\", with, commas & <i>" in classes
    trials = pd.read_csv(runs["study"] / "trials.csv")
    assert len(trials) == 2 and set(trials["state"]) == {"COMPLETE"}


@pytest.mark.parametrize("page", ["report", "model", "rank"])
def test_the_pages_show_every_name_as_text_in_a_browser(runs: dict, page: str, tmp_path: Path) -> None:
    path = {"report": runs["study"] / "report.html", "model": runs["model"] / "model.html",
            "rank": runs["results"] / f"{STUDY}-rank" / "rank.html"}[page]
    facts = open_page(path, tmp_path, ("[onerror]", "body script", "body i"))
    check_reads_well(facts)  # every image renders (an injected <img src=x> would not), the console is clean
    assert facts.tops["[onerror]"] is None and facts.tops["body script"] is None and facts.tops["body i"] is None
    text = " ".join(facts.text.split())
    assert " ".join(STUDY.split()) in text or page == "model"
    if page != "rank":  # the ranking names no class
        for name in STORED:
            assert " ".join(name.split()) in text, name[:40]
