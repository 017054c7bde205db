"""Study and ranking names that would leave the results folder (a path separator, `..`, `.`, an
absolute path, empty, a NUL or newline, bytes that are not UTF-8, over 255 bytes), from --study,
--name, a space file's stem, a space's `name:` and a storage's study name: each refused in one line,
exit 2, before anything is read or written; and a name with HTML, which is path-safe, allowed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import harness
from harness.errors import HarnessError
from harness.names import check_folder_name, printable, stored_name
from harness.rank.candidates import StudyInfo
from harness.rank.ranking import RankConfig
from harness.rank.runs import run_rank
from harness.search.search_config import SearchConfig
from harness.search.study import run_search
from tests.support.hostile import SCRIPTS, tree
from tests.support.inprocess import run_cli

SPACE = "stages: {count: 1, width: 4, stride: 2, kernel_size: [3]}\ntrain: {epochs: 1, batch_size: 50}\n"
# Bounded, should a regression let the command run: one trial of one epoch on 100 images.
SMALL = ("--trials", "1", "--epochs", "1", "--train-images", "100", "--device", "cpu", "--quiet")
BAD = {
    "slash": ("a/b", "holds a path separator"),
    "up": ("..", "is not a folder of its own"),
    "up and over": ("../outside", "holds a path separator"),
    "here": (".", "is not a folder of its own"),
    "absolute": ("/tmp/elsewhere", "holds a path separator"),
    "backslash": ("a\\b", "holds a path separator"),
    "empty": ("", "is empty"),
    "blank": ("   ", "is empty"),
    "nul": ("a\x00b", "holds a control character"),
    "newline": ("a\nb", "holds a control character"),
    "not utf-8": (os.fsdecode(b"caf\xe9"), "is not valid UTF-8"),
    "256 bytes": ("x" * 256, "is 256 bytes long; a folder name may have at most 255"),
    "256 bytes of e-acute": ("\u00e9" * 128, "is 256 bytes long"),
}


@pytest.fixture
def space(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(SPACE)
    return path


def refused(result, fragment: str, what: str = "study name") -> None:  # noqa: ANN001
    """Exit 2 and one line that says which name and why."""
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"harness: error: {what}") and fragment in lines[0], lines[0]
    assert lines[0].isprintable()


@pytest.mark.parametrize("case", BAD)
def test_search_refuses_a_study_name_that_is_not_one_folder_before_writing_anything(case: str, space: Path,
                                                                                   tmp_path: Path) -> None:
    name, fragment = BAD[case]
    before = tree(tmp_path)
    result = run_cli("search", str(space), "--study", name, "--results", str(tmp_path / "results"), *SMALL)
    refused(result, fragment)
    assert tree(tmp_path) == before  # no results folder, nothing beside it


@pytest.mark.parametrize("case", ["up and over", "here", "nul", "256 bytes"])
def test_rank_refuses_such_a_name_before_training(case: str, tmp_path: Path) -> None:
    name, fragment = BAD[case]
    before = tree(tmp_path)
    result = run_cli("rank", "--presets", "resnet18", "--name", name, "--results", str(tmp_path / "results"),
                     "--seeds", "1", "--epochs", "1", "--train-images", "100", "--device", "cpu", "--quiet")
    refused(result, fragment, "ranking name")
    assert tree(tmp_path) == before


def test_a_space_files_stem_and_a_spaces_name_are_checked_too(tmp_path: Path) -> None:
    dots = tmp_path / "..yaml"  # its stem is "."
    dots.write_text(SPACE)
    before = tree(tmp_path)
    result = run_cli("search", str(dots), "--results", str(tmp_path / "results"), *SMALL)
    refused(result, "is not a folder of its own", "study name (the space file's stem)")
    assert tree(tmp_path) == before
    # A space built in code has no file: its name: is the study's, and is checked the same way.
    space = harness.space_from_dict({"name": "../escaped", "stages": {"count": 1, "width": 4, "stride": 2}},
                                    default_name="x")
    with pytest.raises(HarnessError, match=r"study name \(the space's name:\) '../escaped' holds a path separator"):
        run_search(space, SearchConfig(results_dir=str(tmp_path / "results"), trials=1, epochs=1), progress=None)
    assert tree(tmp_path) == before and not (tmp_path.parent / "escaped").exists()


def test_a_ranking_named_after_a_storages_study_is_checked(tmp_path: Path) -> None:
    # A study name read from a storage anyone may have written: "<study>-rank" must be one folder too.
    study = StudyInfo(name="../../outside", folder=tmp_path / "s", dataset="default", split=None, image_size=None)
    with pytest.raises(HarnessError, match=r"ranking name '../../outside-rank' holds a path separator"):
        run_rank([], RankConfig(results_dir=str(tmp_path / "results")), study=study, progress=None)
    assert not (tmp_path / "results").exists()


def test_html_in_a_name_is_path_safe_and_allowed() -> None:
    for name in (SCRIPTS[0], SCRIPTS[2], "it's \"quoted\"", "x" * 255, "caf\u00e9", "-starts-with-a-dash"):
        assert check_folder_name(name) == name


def test_names_from_the_file_system_get_one_printable_stable_form() -> None:
    raw = os.fsdecode(b"caf\xe9 \xff")
    assert stored_name(raw) == "caf\\xe9 \\xff" == stored_name(raw)  # the same on every call, UTF-8 storable
    assert stored_name("new\nline, \"quoted\"") == "new\nline, \"quoted\""  # kept: CSV and JSON quote them
    assert printable("new\nline\ttab\x00nul\u200b" + raw) == "new\\nline\\ttab\\x00nul\\u200bcaf\\xe9 \\xff"
