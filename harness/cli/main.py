"""The `harness` console script (also `python -m harness`): `main` parses the command line, runs
the command's function from its family's module (study: search, show, export, report; model:
export --onnx, predict; zoo: profile, presets; data: datasets; rank) and turns a user's mistake
into one line.

A user's mistake (a bad file, key, value or name) prints one line and exits with status 2;
Ctrl-C stops after saving what finished and exits with 130.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from harness.cli import data, model, rank, study, train, zoo
from harness.cli.console import EXIT_USAGE, show_dataset_warnings_as_lines
from harness.cli.parser import build_parser
from harness.errors import HarnessError

# Command name -> its function, called with the parsed arguments and the command line (which a
# search or a ranking records in run.json and hands to its workers).
COMMANDS: dict[str, Callable[[argparse.Namespace, Sequence[str]], int]] = {
    "search": study.cmd_search,
    "show": study.cmd_show,
    "export": study.cmd_export,
    "report": study.cmd_report,
    "predict": model.cmd_predict,
    "profile": zoo.cmd_profile,
    "presets": zoo.cmd_presets,
    "datasets": data.cmd_datasets,
    "rank": rank.cmd_rank,
    "train": train.cmd_train,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `harness` console script: the command's exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    show_dataset_warnings_as_lines()
    try:
        return COMMANDS[args.command](args, argv)
    except HarnessError as err:
        print(f"harness: error: {err}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
