"""How the commands talk to the terminal: the exit statuses, `say` (one flushed line, the progress
callback the API takes), `quiet_optuna`, `interrupted` (the Ctrl-C line), `run_in_folder` (a study's
whole run, Ctrl-C answered) and the one-line form of dataset, tracker and storage warnings."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

EXIT_USAGE = 2  # a user's mistake: a bad file, key, value or name
EXIT_INTERRUPTED = 130  # Ctrl-C, after saving what finished


def say(line: str) -> None:
    """Print `line` at once (a search or ranking prints while it runs); bytes of a file name that are
    not UTF-8 as `\\xNN` (harness.names.stored_name): a terminal cannot print them as they are."""
    from harness.names import stored_name

    print(stored_name(line), flush=True)


def quiet_optuna() -> None:
    """Keep Optuna to its errors: our own line per trial replaces its log lines (and its warning per
    failed trial, whose reason is in our line and in trials.csv)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)


def interrupted(what: str | None = None) -> int:
    """Say that the finished `what` (trials, runs; None: whatever finished) are saved and how to
    resume; the exit status of Ctrl-C."""
    saved = f"finished {what} are saved" if what else "what finished is saved"
    print(f"\ninterrupted: {saved}; run the same command again to resume.", file=sys.stderr)
    return EXIT_INTERRUPTED


def run_in_folder(folder: Path, run: Callable[[], object], what: str) -> int:
    """Call `run` (a search's or a budget's whole run) with Optuna quiet and the machine's faults named
    in `folder` (harness.store.faults.in_folder): 0 when it ends, the Ctrl-C status (saying that the
    finished `what` are saved) when it is interrupted."""
    from harness.store.faults import in_folder

    quiet_optuna()
    try:
        with in_folder(folder):
            run()
    except KeyboardInterrupt:
        return interrupted(what)
    return 0


def show_dataset_warnings_as_lines() -> None:
    """Print a DatasetWarning, TrackerWarning or StorageWarning as one "harness: warning: ..." line
    (not Python's file:line form)."""
    import warnings

    from harness.errors import DatasetWarning, StorageWarning, TrackerWarning

    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
        if issubclass(category, (DatasetWarning, TrackerWarning, StorageWarning)):
            print(f"harness: warning: {message}", file=sys.stderr)
        else:
            shown(message, category, filename, lineno, file, line)

    warnings.showwarning = show
