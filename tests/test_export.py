"""`harness export`: a trial's spec from the storage, or rebuilt from trials.csv and space.yaml,
is the trial's architecture (same spec_id), profiles like it, and bad input gets one line."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest
import yaml

from harness.data import load_dataset
from harness.search.search_config import SearchConfig
from harness.search.space import load_space
from harness.search.study import run_search
from harness.zoo.specfile import load_spec
from tests.support.inprocess import CliResult, run_cli

SPACE = """
stem: {width: 8}
stages:
  count: 2
  width: {each: [8, 16]}
  stride: 2
  downsample: maxpool
  kernel_size: {choices: [3, 5], per_stage: true}
  block: [plain, bottleneck]
  expansion: [0.25, 0.5]
train: {epochs: 1, batch_size: 250}
"""


def harness_cli(*args: str) -> CliResult:
    return run_cli(*args)  # in this process: see tests/support/inprocess.py


def export(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`harness export ...` in this process (the CLI's own entry point), as (status, stdout, stderr)."""
    from harness.cli.main import main

    code = main(["export", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def study_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("export")
    (root / "tiny.yaml").write_text(SPACE)
    full = load_dataset("default")
    data = dataclasses.replace(full, train_x=full.train_x[:1000], train_y=full.train_y[:1000])
    run_search(load_space(root / "tiny.yaml"), SearchConfig(trials=4, sampler="random", seed=2, device="cpu",
                                                             results_dir=str(root / "results")),
               data=data, progress=None)
    return root / "results" / "tiny"


def test_exported_spec_is_the_trials_architecture(study_folder: Path, tmp_path: Path, capsys) -> None:
    table = pd.read_csv(study_folder / "trials.csv")
    for number, spec_id in zip(table["number"], table["spec_id"], strict=True):
        code, out, err = export(capsys, str(study_folder), "--trial", str(number))
        assert code == 0, err
        path = tmp_path / f"spec{number}.yaml"
        path.write_text(out)
        assert load_spec(str(path)).spec_id == spec_id
        assert f"spec_id {spec_id}" in out
    _, out, _ = export(capsys, str(study_folder), "--trial", "0", "--json")
    assert yaml.safe_load(out)["stages"][0]["width"] == 8


def test_export_from_trials_csv_alone_rebuilds_the_same_spec(study_folder: Path, tmp_path: Path, capsys) -> None:
    copy = tmp_path / "tiny"
    copy.mkdir()
    for name in ("trials.csv", "space.yaml"):
        (copy / name).write_text((study_folder / name).read_text())
    table = pd.read_csv(copy / "trials.csv")
    for number, spec_id in zip(table["number"], table["spec_id"], strict=True):
        code, out, err = export(capsys, str(copy), "--trial", str(number))
        assert code == 0, err
        assert f"spec_id {spec_id}" in out


def test_an_exported_spec_profiles(study_folder: Path, tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(harness_cli("export", str(study_folder), "--trial", "1").stdout)
    out = harness_cli("profile", str(path), "--input-size", "32", "--num-classes", "10", "--json")
    assert out.returncode == 0, out.stderr
    assert yaml.safe_load(out.stdout)["params"] == int(pd.read_csv(study_folder / "trials.csv")["params"][1])


@pytest.mark.parametrize(("args", "fragment"), [
    (["--trial", "99"], "no trial 99 (the study has trials 0 to 3)"),
    (["--trial", "0", "--study", "other"], "no study named 'other'"),
])
def test_bad_exports_get_one_line(study_folder: Path, args: list[str], fragment: str, capsys) -> None:
    code, _, err = export(capsys, str(study_folder), *args)
    assert code == 2 and fragment in err and err.count("\n") == 1


def test_export_of_a_missing_folder(tmp_path: Path) -> None:
    out = harness_cli("export", str(tmp_path / "nope"), "--trial", "0")
    assert out.returncode == 2 and "no such results folder" in out.stderr
