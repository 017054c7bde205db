"""Space and spec files made to hurt: YAML aliases that expand without end ("billion laughs", nine
levels of ten), an alias inside itself, nesting thousands deep, a file of megabytes, a named pipe.
Each is refused in one line naming the file and why, exit 2, with nothing written; the refusals run
in a process of their own under a timeout, so that a regression fails instead of hanging."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.yamlfile import MAX_NODES, expanded_size, read_yaml
from tests.support.hostile import tree

TIMEOUT = 120  # s: a refusal takes about 4 (most of it Python and torch starting); a regression never ends


def bomb(levels: int = 9) -> str:
    """a: ten strings; b: ten a's; ... 10**levels strings in a few hundred bytes."""
    names = "abcdefghijklmnop"[: levels + 1]
    lines = [f"{names[0]}: &{names[0]} [" + ", ".join(['"lol"'] * 10) + "]"]
    lines += [f"{n}: &{n} [" + ", ".join([f"*{p}"] * 10) + "]" for p, n in zip(names, names[1:], strict=False)]
    return "\n".join(lines) + "\n"


# What each file holds, and the reason its refusal gives.
CASES = {
    "billion laughs": (bomb() + "stages: {count: 1, width: 8, kernel_size: *j}\n",
                       f"its aliases expand to more than {MAX_NODES:,} values (an alias bomb?)"),
    "alias inside itself": ("stages: &s {count: 2, width: [8, 16], kernel_size: *s}\n",
                            "an alias refers to the list or mapping it stands in (it would never end)"),
    "10,000 levels deep": ("stages: {count: 1, width: " + "[" * 10_000 + "]" * 10_000 + "}\n",
                           "nested more than 64 levels deep (line 1)"),
    "2 MiB": ("stages: {count: 1, width: 8}\n" + "# padding\n" * 210_000,
              "is 2.0 MiB; a YAML file here may have at most 1 MiB"),
}


def harness_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=TIMEOUT,
                          cwd=cwd)


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stdout + done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize("case", CASES)
def test_a_hostile_space_file_is_refused_quickly_with_the_reason(case: str, tmp_path: Path) -> None:
    space = tmp_path / "space.yaml"
    text, reason = CASES[case]
    space.write_text(text)
    before = tree(tmp_path)
    done = harness_cli("search", str(space), "--results", str(tmp_path / "results"), "--trials", "1", "--epochs", "1",
                       "--train-images", "100", "--device", "cpu", "--quiet", cwd=tmp_path)
    assert one_line(done) == f"harness: error: {space}: refused: {reason}"
    assert tree(tmp_path) == before  # no results folder


def test_a_named_pipe_as_a_space_file_is_refused_not_waited_on(tmp_path: Path) -> None:
    pipe = tmp_path / "space.yaml"
    os.mkfifo(pipe)
    assert one_line(harness_cli("show", str(pipe), cwd=tmp_path)) == (
        f"harness: error: {pipe}: refused: not a regular file")


def test_a_hostile_spec_file_is_refused_by_profile(tmp_path: Path) -> None:
    spec = tmp_path / "net.yaml"
    spec.write_text(bomb() + "stages: *j\n")
    line = one_line(harness_cli("profile", str(spec), cwd=tmp_path))
    assert line == f"harness: error: {spec}: refused: its aliases expand to more than {MAX_NODES:,} values (an " \
                   "alias bomb?)"


def test_files_within_the_limits_read_as_yaml_safe_load_reads_them(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("w: &w [8, 16]\nstages: {width: *w, depth: *w}\nhead: {<<: {pool: avg}, dropout: 0.1}\n"
                    + bomb(3))  # 10**4 strings: within MAX_NODES
    import yaml

    assert read_yaml(path) == yaml.safe_load(path.read_text())
    assert expanded_size(yaml.compose(path.read_text())) > 10**4
    for shipped in sorted((Path(__file__).resolve().parents[1] / "search_spaces").glob("*.yaml")):
        assert read_yaml(shipped) == yaml.safe_load(shipped.read_text()), shipped.name
