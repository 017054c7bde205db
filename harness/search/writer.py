"""What a search writes into its results folder besides the storage: trials.csv and the
accuracy-vs-FLOPs plot (rebuilt from the study, after each trial by `ResultsWriter`), space.yaml
and its record in run.json."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import yaml

from harness.files import atomic_write
from harness.search.config import counted
from harness.search.progress import trial_line
from harness.store.provenance import append_run_record, describe_device, safe_command, versions
from harness.store.trials import trials_frame

# The results folder's plot is redrawn after a trial at most this often (s); trials.csv after
# every trial. Drawing takes about 0.2 s, as long as a tenth of a brief GPU trial.
PLOT_EVERY_S = 30.0

if TYPE_CHECKING:
    import optuna
    import torch
    from optuna.trial import FrozenTrial

    from harness.data import ImageData
    from harness.data.loader import Placement
    from harness.search.config import SearchConfig
    from harness.search.space import SearchSpace
    from harness.store.tracking import Tracker


def write_results(study: optuna.Study, folder: Path, plot: bool = True) -> pd.DataFrame:
    """Rewrite trials.csv and (with `plot`) acc_vs_flops.png in `folder` from the study; return
    the table."""
    from harness.report.plots import plot_accuracy_vs_flops

    frame = trials_frame(study)
    atomic_write(folder / "trials.csv", lambda p: frame.to_csv(p, index=False))
    if not plot:
        return frame
    title = f"{study.study_name}: accuracy vs FLOPs"
    atomic_write(folder / "acc_vs_flops.png",
                  lambda p: plot_accuracy_vs_flops(frame, p, title=title))
    return frame


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
        "objectives": config.objectives,
        "seed": config.seed,
        "pruner": config.pruner,
        "device": describe_device(device),
        "precision": config.precision,
        "deterministic": config.deterministic,
        "versions": versions(),
    }
    append_run_record(folder / "run.json", record)


class ResultsWriter:
    """After each trial: print its line and rewrite the results folder (trials.csv each time, the
    plot at most every PLOT_EVERY_S), so an interrupted run still leaves usable files, and hand the
    trial to the MLflow tracker (which logs it in the background); `finish` brings the plot up to date."""

    def __init__(self, folder: Path, total: int, say: Callable[[str], None],
                 check_stop: Callable[[], None], tracker: Tracker | None = None) -> None:
        self.folder, self.total, self.say, self.check_stop = folder, total, say, check_stop
        self.tracker = tracker
        self.write_seconds: list[float] = []  # per trial: rewriting the results folder (s)
        self.plotted_at: float | None = None  # time.monotonic() of the last drawing
        self.plot_stale = False

    def finish(self, study: optuna.Study) -> None:
        """Redraw the plot if trials ended since it was last drawn."""
        if self.plot_stale:
            with contextlib.suppress(OSError):
                write_results(study, self.folder)

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if trial.user_attrs.get("surplus"):
            return  # not a trial of the study: nothing to say or write
        done = sum(counted(t) for t in study.get_trials(deepcopy=False))
        self.say(trial_line(trial, done, self.total))
        start = time.perf_counter()
        now = time.monotonic()
        plot = self.plotted_at is None or now - self.plotted_at >= PLOT_EVERY_S
        with contextlib.suppress(OSError):  # a full disk must not kill the study; the db has it all
            write_results(study, self.folder, plot=plot)
        if plot:
            self.plotted_at = now
        self.plot_stale = not plot
        if self.tracker is not None:
            self.tracker.log(trial)  # queued: never waits for MLflow, never fails the trial
        self.write_seconds.append(time.perf_counter() - start)
        self.check_stop()
