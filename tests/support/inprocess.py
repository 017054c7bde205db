"""The CLI run in this process, through the console script's own entry point (harness.cli.main.main):
the same exit status, stdout and stderr as `python -m harness ...`, without a Python start (about
4 s on 2 cores) per call. Tests of what only a real process shows (signals, the console script,
run.json's command) start one instead."""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass
class CliResult:
    """What a command left: its exit status and what it printed."""

    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str, cwd: Path | None = None) -> CliResult:
    """`harness ARGS...` in this process; argparse's exit (bad options, --help) is its status."""
    from harness.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    here = Path.cwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as stop:  # argparse's usage errors and --help
                code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 2)
    finally:
        os.chdir(here)
    return CliResult(code, out.getvalue(), err.getvalue())
