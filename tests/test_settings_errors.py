"""The API speaks settings, the CLI speaks flags: an error of the library names the setting a
notebook user typed (`storage`, `study_name`, `data_dir`), and the command line prints the same
error with its own flags (`--storage`, `--study`, `--data-dir`), through one table
(harness.cli.flags)."""

from __future__ import annotations

import ast
import pickle
import re
from pathlib import Path

import pytest

import harness
from harness.cli.flags import COMMAND_FLAGS, FLAGS, NO_FLAG, flags_for
from harness.errors import DatasetError, HarnessError, SettingError

ROOT = Path(harness.__file__).parent
SPACE = "stages: {count: 1, width: 4, stride: 2, kernel_size: [3]}\ntrain: {epochs: 1, batch_size: 50}\n"
FORMS = "use one of sqlite:///PATH, journal, journal:PATH, postgresql://USER:PASSWORD@HOST:PORT/DB"


@pytest.fixture
def space(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(SPACE)
    return path


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """`harness ARGS...` in this process: its exit status and what it printed on stderr."""
    from harness.cli.main import main

    code = main(list(args))
    return code, capsys.readouterr().err


# ------------------------------------------------------------------ the same error, two wordings
def test_run_search_with_a_bad_storage_names_the_setting_not_the_flag(tmp_path: Path, space: Path) -> None:
    config = harness.SearchConfig(storage="nonsense", results_dir=str(tmp_path / "results"))
    with pytest.raises(SettingError) as err:
        harness.run_search(harness.load_space(str(space)), config, progress=None)
    assert str(err.value) == f"storage nonsense: not a storage; {FORMS}"
    assert err.value.settings == ("storage",) and "--" not in str(err.value)
    assert not (tmp_path / "results").exists()  # refused before any data is read or folder made


def test_the_cli_prints_the_bad_storage_with_its_flag(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                       space: Path) -> None:
    code, err = cli(capsys, "search", str(space), "--storage", "nonsense", "--results", str(tmp_path),
                    "--device", "cpu")
    assert code == 2 and err == f"harness: error: --storage nonsense: not a storage; {FORMS}\n"


def test_a_missing_storage_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(HarnessError) as err:
        harness.load_trials(tmp_path, storage=f"sqlite:///{tmp_path / 'none.db'}")
    assert str(err.value).startswith("storage sqlite:///") and "--" not in str(err.value)


def test_a_bad_study_name_is_study_name_in_the_api_and_study_in_the_cli(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, space: Path) -> None:
    config = harness.SearchConfig(study_name="a/b", results_dir=str(tmp_path / "results"))
    with pytest.raises(SettingError) as err:
        harness.run_search(harness.load_space(str(space)), config, progress=None)
    assert str(err.value) == ("study name 'a/b' holds a path separator (/ or \\); a study is one folder inside "
                              "results_dir; give another with study_name")
    code, line = cli(capsys, "search", str(space), "--study", "a/b", "--results", str(tmp_path))
    assert code == 2 and line == ("harness: error: study name 'a/b' holds a path separator (/ or \\); a study is one "
                                  "folder inside --results; give another with --study NAME\n")


def test_a_ranking_name_is_name_in_both(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = harness.RankConfig(name="a/b", results_dir=str(tmp_path))
    with pytest.raises(SettingError, match="give another with name$"):
        harness.run_rank(harness.candidates_from_presets(["resnet18"], harness.TrainConfig()), config, progress=None)
    code, line = cli(capsys, "rank", "--presets", "resnet18", "--name", "a/b", "--results", str(tmp_path))
    assert code == 2 and line.endswith("give another with --name NAME\n")


def test_a_missing_dataset_names_data_dir_and_download(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                        space: Path) -> None:
    with pytest.raises(DatasetError) as err:
        harness.load_dataset("mnist", data_dir=tmp_path / "nowhere")
    assert str(err.value).endswith("Give the folder with mnist:PATH or data_dir, or add download=True to fetch "
                                   "it there")
    code, line = cli(capsys, "search", str(space), "--dataset", "mnist", "--data-dir", str(tmp_path / "nowhere"),
                     "--results", str(tmp_path), "--device", "cpu")
    assert code == 2 and line.endswith("Give the folder with mnist:PATH or --data-dir, or add --download to fetch "
                                       "it there\n")


def test_config_checks_name_their_settings() -> None:
    with pytest.raises(SettingError, match="^trials must be at least 1, not 0$"):
        harness.SearchConfig(trials=0).validate()
    with pytest.raises(SettingError, match="^epochs and seconds are two budgets; give one$"):
        harness.RankConfig(epochs=2, seconds=3.0).check()
    with pytest.raises(SettingError) as err:
        harness.SearchConfig(objectives="accuracy,flops", pruner="median").validate()
    assert err.value.worded(flags_for("search")) == (
        "--pruner median needs one objective (Optuna cannot prune a two-objective study); use --pruner pareto "
        "(the default there) or none")
    assert "pruner='pareto'" in str(err.value)


# ------------------------------------------------------------------ the template
def test_the_three_forms_of_a_field() -> None:
    err = SettingError("{storage} x: use {storage='journal'}, {download=True} or give {study_name NAME}; {other}",
                       "storage", "download", "study_name")
    assert str(err) == "storage x: use storage='journal', download=True or give study_name; {other}"
    flags = {"storage": "--storage", "download": "--download", "study_name": "--study"}
    assert err.worded(flags) == "--storage x: use --storage journal, --download or give --study NAME; {other}"
    assert err.worded({"storage": "--storage"}) == ("--storage x: use --storage journal, download=True or give "
                                                    "study_name; {other}")  # a setting without a flag: its name


def test_an_error_without_settings_reads_as_it_was_written() -> None:
    assert HarnessError("a {storage} b").worded(FLAGS) == "a {storage} b"
    assert HarnessError("a", "b").worded(FLAGS) == str(HarnessError("a", "b"))


def test_an_error_keeps_its_settings_through_pickle() -> None:  # a worker's error crosses a process
    err = pickle.loads(pickle.dumps(SettingError("{trials} must be at least 1", "trials")))
    assert type(err) is SettingError and str(err) == "trials must be at least 1"
    assert err.worded(FLAGS) == "--trials must be at least 1"


# ------------------------------------------------------------------ the table
def test_a_setting_can_have_another_flag_in_another_command() -> None:
    assert flags_for("search")["study_name"] == "--study" and flags_for("run")["study_name"] == "--name"
    assert flags_for("rank")["folder"] == "--from" and flags_for("train")["folder"] == "--out"
    assert flags_for("rank")["paths"] == "--spec" and flags_for("train")["spec"] == "--spec"


def _options() -> dict[str, set[str]]:
    """Command -> the option strings of its parser."""
    import argparse

    from harness.cli.parser import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {name: {s for a in p._actions for s in a.option_strings} for name, p in sub.choices.items()}


def test_every_flag_of_the_table_is_a_flag_of_the_cli() -> None:
    options = _options()
    every = set().union(*options.values())
    assert set(FLAGS.values()) <= every, set(FLAGS.values()) - every
    for command, flags in COMMAND_FLAGS.items():
        assert set(flags.values()) <= options[command], (command, set(flags.values()) - options[command])


def _named_settings() -> dict[str, set[str]]:
    """Setting -> the library files whose errors name it: SettingError's arguments after the
    message, and any error's `settings=(...)`, where they are written as strings."""
    found: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        if path.relative_to(ROOT).parts[0] == "cli":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            args = node.args[1:] if name == "SettingError" else []
            args += [v for k in node.keywords if k.arg == "settings" for v in getattr(k.value, "elts", [])]
            for a in args:
                if isinstance(a, ast.Constant) and isinstance(a.value, str):
                    found.setdefault(a.value, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_setting_a_library_error_names_has_a_flag_or_says_it_has_none() -> None:
    named = _named_settings()
    assert {"storage", "study_name", "data_dir", "download", "patience", "trials", "sampler"} <= set(named)
    known = set(FLAGS) | set().union(*COMMAND_FLAGS.values()) | NO_FLAG
    assert set(named) <= known, {s: named[s] for s in set(named) - known}


# store/tracking.py still words its MLflow errors with --mlflow.
NOT_YET = {"store/tracking.py"}


def test_no_library_error_names_a_flag() -> None:
    flagged = []
    for path in ROOT.rglob("*.py"):
        where = str(path.relative_to(ROOT))
        if where.startswith("cli/") or where in NOT_YET:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and node.exc is not None:
                flagged += [f"{where}:{node.lineno}" for c in ast.walk(node.exc) if isinstance(c, ast.Constant)
                            and isinstance(c.value, str) and re.search(r"(^|[^\w-])--[a-z]", c.value)]
    assert not flagged, flagged
