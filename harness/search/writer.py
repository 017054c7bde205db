"""What a search writes into its results folder besides the storage: trials.csv and the
accuracy-vs-FLOPs plot (rebuilt from the study, after each trial by `ResultsWriter`), space.yaml
and its record in run.json."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import yaml

from harness.files import atomic_write, write_text
from harness.search.progress import trial_line
from harness.search.tally import Tally
from harness.store.provenance import append_run_record, describe_device, safe_command, versions
from harness.store.record import filters
from harness.store.table import TrialsTable

# The results folder's plot is redrawn after a trial at most this often (s), and no more than
# this share of the time goes to drawing it; trials.csv after every trial. Drawing takes about
# 0.5 s at 100 trials and 1 s at 10,000 (2 cores): a redraw after every brief trial would cost
# more than the trial.
PLOT_EVERY_S = 30.0
PLOT_SHARE = 0.02

if TYPE_CHECKING:
    import optuna
    import torch
    from optuna.trial import FrozenTrial

    from harness.data import ImageData
    from harness.data.loader import Placement
    from harness.search.search_config import SearchConfig
    from harness.search.space import SearchSpace
    from harness.store.tracking import Tracker


def write_results(study: optuna.Study, folder: Path, plot: bool = True,
                  table: TrialsTable | None = None) -> pd.DataFrame:
    """Rewrite trials.csv and (with `plot`) acc_vs_flops.png in `folder` from the study; return
    the table (`table`: the one kept since the last call, so that only new rows are built)."""
    table = (table or TrialsTable()).update(study)
    write_text(folder / "trials.csv", table.csv_text())
    frame = table.frame()
    if plot:
        draw_plot(frame, study.study_name, folder)
    return frame


def draw_plot(frame: pd.DataFrame, study_name: str, folder: Path) -> float:
    """Draw acc_vs_flops.png in `folder` from the trials table; the seconds it took."""
    from harness.report.plots import plot_accuracy_vs_flops

    start = time.perf_counter()
    plot_accuracy_vs_flops(frame, folder / "acc_vs_flops.png", title=f"{study_name}: accuracy vs FLOPs")
    return time.perf_counter() - start


def write_run_info(folder: Path, space: SearchSpace, config: SearchConfig, data: ImageData,
                   device: torch.device, argv: list[str], placement: Placement | None = None,
                   storage: str | None = None) -> None:
    """Copy the space file to space.yaml and append this run's record to run.json (`storage`: the
    storage as it may be shown, password hidden)."""
    target = folder / "space.yaml"
    if space.path:
        if not target.exists() or Path(space.path).resolve() != target.resolve():
            text = Path(space.path).read_text()
            atomic_write(target, lambda p: p.write_text(text))  # workers may copy it at once
    else:
        atomic_write(target, lambda p: p.write_text(yaml.safe_dump(space.raw, sort_keys=False)))
    record = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": safe_command(argv),
        "storage": storage,
        "worker": config.worker,
        "space": space.path,
        "study": folder.name,
        "dataset": {"ref": config.dataset, **data.info(), "summary": data.describe(),
                    "options": dataclasses.asdict(config.data_options),
                    "placement": placement.describe() if placement else None},
        "trials": config.trials,
        "epochs": config.epochs,
        "seconds": config.seconds,
        "timeout": config.timeout,
        "objectives": config.objectives,
        "seed": config.seed,
        "sampler": config.sampler,
        "pruner": config.pruner_name(),  # the pruner in effect, the default resolved
        "recipe": recipe(space, config),
        "device": describe_device(device),
        "precision": config.precision,
        "deterministic": config.deterministic,
        "versions": versions(),
    }
    append_run_record(folder / "run.json", record)


def recipe(space: SearchSpace, config: SearchConfig) -> dict[str, Any]:
    """The training recipe a search's trials share: the space's train section (values, or how a
    searched one varies) with this run's overrides (epochs, seconds, augmentation) applied."""
    out = dict(space.raw.get("train") or {})
    for name in ("epochs", "seconds", "crop_padding", "flip"):
        if getattr(config, name) is not None:
            out[name] = getattr(config, name)
    return out


class ResultsWriter:
    """After each trial: print its line and rewrite the results folder (trials.csv each time, from
    a TrialsTable that builds only the new rows; the plot when due, see PLOT_EVERY_S), so an
    interrupted run still leaves usable files, and hand the trial to the MLflow tracker (which
    logs it in the background); `finish` brings the plot up to date."""

    def __init__(self, folder: Path, total: int, say: Callable[[str], None],
                 check_stop: Callable[[], None], tracker: Tracker | None = None) -> None:
        self.folder, self.total, self.say, self.check_stop = folder, total, say, check_stop
        self.tracker = tracker
        self.table = TrialsTable()
        self.tally = Tally()  # the trials ended so far, counted once
        self.write_seconds: list[float] = []  # per trial: rewriting the results folder (s)
        self.plot_seconds = 0.0  # the last drawing (s)
        # time.monotonic() of the last drawing. A resumed run finds the plot its last run drew
        # at its end (finish): the first redraw waits like any other.
        self.plotted_at: float | None = time.monotonic() if (folder / "acc_vs_flops.png").is_file() else None
        self.plot_stale = False

    def prepare(self, study: optuna.Study) -> None:
        """Build the table's rows and lines for the trials so far: once, before the first trial
        of a run (a resumed study of 10,000 trials: about 2 s on 2 cores)."""
        self.table.update(study).csv_text()

    def plot_due(self, now: float) -> bool:
        """Whether to redraw the plot after this trial: the first time, then after PLOT_EVERY_S
        and after as long as keeps drawing under PLOT_SHARE of the time."""
        if self.plotted_at is None:
            return True
        return now - self.plotted_at >= max(PLOT_EVERY_S, self.plot_seconds / PLOT_SHARE)

    def finish(self, study: optuna.Study) -> None:
        """Redraw the plot if trials ended since it was last drawn."""
        if self.plot_stale:
            try:
                write_results(study, self.folder, table=self.table)
            except OSError as err:  # in a finally: the trials are in the storage; say so, do not mask
                import warnings

                from harness.errors import StorageWarning
                from harness.store.faults import describe

                warnings.warn(f"the last plot was not drawn: {describe(err, self.folder) or err}", StorageWarning,
                              stacklevel=2)

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if filters.is_surplus(trial):
            return  # not a trial of the study: nothing to say or write
        start = time.perf_counter()
        self.table.update(study)
        done = self.tally.ended(self.table.trials)
        self.say(trial_line(trial, done, self.total))
        now = time.monotonic()
        plot = self.plot_due(now)
        # A full or read-only disk stops the search here, in one line (harness.store.faults): the
        # storage holds every ended trial, and the same command resumes once there is space.
        write_text(self.folder / "trials.csv", self.table.csv_text())
        if plot:
            self.plot_seconds = draw_plot(self.table.frame(), study.study_name, self.folder)
            self.plotted_at = now
        self.plot_stale = not plot
        if self.tracker is not None:
            self.tracker.log(trial)  # queued: never waits for MLflow, never fails the trial
        self.write_seconds.append(time.perf_counter() - start)
        self.check_stop()
