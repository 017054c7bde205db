"""The `harness` console script (also `python -m harness`): `main` parses the command line, runs
the command's function from its family's module (study: search, show, export, report; model:
export --onnx, predict; zoo: profile, presets; data: datasets; rank; train; dashboard) and turns
a user's mistake into one line.

A user's mistake (a bad file, key, value or name) prints one line and exits with status 2 (a setting
the library's message names, like `storage`, as this command's flag: harness.cli.flags), and so
does a fault of the machine (a full disk, a read-only or foreign folder, a damaged storage: see
harness.store.faults) or any other OSError; Ctrl-C stops after saving what finished and exits with 130.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from harness.cli.console import EXIT_USAGE, interrupted, show_dataset_warnings_as_lines
from harness.cli.flags import error_line
from harness.cli.parser import build_parser, command_of
from harness.errors import HarnessError
from harness.signals import interrupted_by

# Command name -> "module:function", called with the parsed arguments and the command line (which
# a search or a ranking records in run.json and hands to its workers). Imported when run, so that a
# command loads only its own family (and `harness --help` none).
COMMANDS: dict[str, str] = {
    "search": "harness.cli.study_commands:cmd_search",
    "show": "harness.cli.study_commands:cmd_show",
    "export": "harness.cli.study_commands:cmd_export",
    "report": "harness.cli.study_commands:cmd_report",
    "predict": "harness.cli.model_commands:cmd_predict",
    "profile": "harness.cli.zoo:cmd_profile",
    "presets": "harness.cli.zoo:cmd_presets",
    "datasets": "harness.cli.data:cmd_datasets",
    "rank": "harness.cli.rank:cmd_rank",
    "train": "harness.cli.train_command:cmd_train",
    "dashboard": "harness.cli.dashboard_command:cmd_dashboard",
    "run": "harness.cli.budget:cmd_run",
}


def command(name: str) -> Callable[[argparse.Namespace, Sequence[str]], int]:
    """The function that runs the command `name`."""
    module, function = COMMANDS[name].split(":")
    return getattr(importlib.import_module(module), function)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `harness` console script: the command's exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    name = command_of(argv)
    args = build_parser([name] if name else []).parse_args(argv)
    show_dataset_warnings_as_lines()
    try:
        return command(args.command)(args, argv)
    except HarnessError as err:  # worded with this command's flags: --storage, not the API's storage
        print(f"harness: error: {error_line(err, args.command)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # where a command has no handler of its own (a second Ctrl-C, say)
        return interrupted()
    except Exception as err:  # a full disk, a folder not ours: one line, not a traceback
        if interrupted_by(err):  # a stop that a library wrapped in an exception of its own
            return interrupted()
        line = _fault_line(err)
        if line is None:
            raise
        print(f"harness: error: {line}", file=sys.stderr)
        return EXIT_USAGE


def _fault_line(err: Exception) -> str | None:
    """One line for a fault of the machine that no command turned into a HarnessError (naming the
    file it met), or for any OSError; None for anything else (a bug: its traceback is wanted)."""
    from harness.store.faults import describe

    line = describe(err)
    if line is None and isinstance(err, OSError):
        name = f": {err.filename}" if err.filename else ""
        line = f"{err.strerror or err}{name}"
    return line


if __name__ == "__main__":
    sys.exit(main())
