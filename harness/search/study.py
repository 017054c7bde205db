"""The Optuna study: storage, sampler, pruner, objectives, failures recorded, resume to N trials.

`run_search` is the whole main job: load the data once, run trials until the study has N ended
trials (complete, pruned, or failed with a recorded reason), and rewrite the results folder after
each one. A trial that was interrupted (Ctrl-C, kill) is not counted, so the same command run
again runs only what is missing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import signal
import socket
import sys
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import torch
from optuna.trial import FrozenTrial, TrialState

from harness.data import DEFAULT_DATASET, DataOptions, ImageData
from harness.data.loader import place_dataset
from harness.errors import HarnessError
from harness.report.build import build_report
from harness.search.constraints import Constraints
from harness.search.progress import overhead_line, print_leaderboard, trial_line
from harness.search.pruning import Curve, ParetoPruner
from harness.search.samplers import grid_size, grid_trials, make_pruner, make_sampler
from harness.search.space import OBJECTIVES, Fixed, SearchSpace
from harness.search.writer import write_results, write_run_info
from harness.store.storage import (
    HEARTBEAT_INTERVAL_S,
    SQLiteLock,
    StorageRef,
    fail_orphans,
    open_storage,
    resolve_storage,
)
from harness.store.trials import trials_frame
from harness.train.evaluate import budget_key, describe_failure, evaluate_spec, metrics_row
from harness.train.loop import EpochMetrics, Overheads, TrainConfig, resolve_device
from harness.zoo.measure import Costs

DEFAULT_TRIALS = 12
# The results folder's plot is redrawn after a trial at most this often (s); trials.csv after
# every trial. Drawing takes about 0.2 s, as long as a tenth of a brief GPU trial.
PLOT_EVERY_S = 30.0
POLL_S = 1.0  # a worker with nothing to start waits this long before looking again (s)


class TrialFailedError(Exception):
    """Raised by the objective after recording why a trial failed; Optuna marks it FAIL and goes on."""


class SurplusTrialError(Exception):
    """Raised when another worker took the study's last place first: the trial is dropped unrun."""


@dataclass(frozen=True)
class SearchConfig:
    """Everything about a search that is not the space: budget, data, device, seed, where to write,
    how to sample, prune and constrain."""

    dataset: str = DEFAULT_DATASET
    trials: int = DEFAULT_TRIALS
    epochs: int | None = None  # None: the space's train.epochs
    seconds: float | None = None  # training time per trial instead of epochs (s)
    timeout: float | None = None  # stop starting trials after this many seconds of this run
    device: str = "auto"
    seed: int = 0
    study_name: str | None = None  # None: the space file's stem
    results_dir: str = "results"
    objectives: str = "accuracy"
    sampler: str = "tpe"
    pruner: str | None = None  # None: median for one objective, pareto for two
    pareto: ParetoPruner = ParetoPruner()  # the two-objective pruning policy's options
    constraints: Constraints = Constraints()  # over the space file's `constraints:`
    repeat: bool = False  # train an architecture again even when the study already trained it
    data_options: DataOptions = DataOptions()
    data_memory: float | None = None  # bytes the data may take on the device; None: half its free memory
    crop_padding: int | None = None  # overrides the space's train.crop_padding (None: keep it)
    flip: bool | None = None  # overrides the space's train.flip (None: keep it)
    storage: str | None = None  # None: $HARNESS_STORAGE, else results/<study>/study.db (see harness.store.storage)
    heartbeat: int = HEARTBEAT_INTERVAL_S  # seconds between a running trial's heartbeats
    worker: int = 0  # this process's index among the study's workers (varies the sampler's seed)
    report: bool = True  # write the report at the end (workers leave it to the process that started them)
    compile: bool = False  # train through torch.compile (its start-up is each trial's warm-up)

    def pruner_name(self) -> str:
        """The pruner in effect: the one asked for, else median (one objective) or pareto (two)."""
        if self.pruner is not None:
            return self.pruner
        return "median" if self.objectives == "accuracy" else "pareto"


def study_name_for(space: SearchSpace, name: str | None) -> str:
    """The study name: the one given, else the space file's stem, else the space's name."""
    if name:
        return name
    return Path(space.path).stem if space.path else space.name


def counted(trial: FrozenTrial) -> bool:
    """Whether a trial counts towards --trials: it ended on its own (not interrupted, not surplus)."""
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and "failure_reason" in trial.user_attrs


def taken(trial: FrozenTrial) -> bool:
    """Whether a trial holds one of the --trials places: it ended, or it is running or queued."""
    return counted(trial) or trial.state in (TrialState.RUNNING, TrialState.WAITING)


def _fingerprint(space: SearchSpace, config: SearchConfig, epochs: int, data: ImageData) -> dict[str, Any]:
    """What must not change between runs of one study, or its trials would not compare."""
    blob = json.dumps(space.raw, sort_keys=True, default=str)
    c, h, w = data.input_shape
    return {
        "space_sha1": hashlib.sha1(blob.encode()).hexdigest()[:12],
        "dataset": config.dataset,
        "image_size": f"{c}x{h}x{w}",
        "split": data.split_id,
        "train_subset": f"{data.train_subset[0]} images ({data.train_subset[2]})" if data.train_subset else None,
        "epochs": epochs,
        "objectives": config.objectives,
        "augment": [config.crop_padding, config.flip],
        "seconds": config.seconds,
        "constraints": space.constraints.merged(config.constraints).as_dict(),
    }


def _check_resumable(study: optuna.Study, fingerprint: dict[str, Any], folder: Path) -> None:
    old = study.user_attrs.get("fingerprint")
    if old is None:
        study.set_user_attr("fingerprint", fingerprint)
        return
    # Keys that an older harness did not record are not compared (and are recorded from now on).
    changed = [f"{k} ({old[k]} -> {v})" for k, v in fingerprint.items() if k in old and old[k] != v]
    if not changed and set(fingerprint) - set(old):
        study.set_user_attr("fingerprint", {**fingerprint, **old})
    if changed:
        raise HarnessError(
            f"{folder} holds a study run with a different {', '.join(changed)}; its trials would "
            "not compare. Give this run its own --study NAME (or --results DIR)."
        )


class StopOnSignal:
    """While active, Ctrl-C (SIGINT) and kill (SIGTERM) raise KeyboardInterrupt and stay requested.

    Python swallows an exception raised while a finalizer runs (and prints it as "Exception
    ignored in ..."), so a Ctrl-C that lands during garbage collection would be lost; `check()`,
    called between epochs and trials, raises it again, and the swallowed one is not printed.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}
        self._unraisable_hook = sys.unraisablehook

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():  # signals only work there
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
            sys.unraisablehook = self._unraisable
        return self

    def _unraisable(self, unraisable: Any) -> None:
        if self.requested and issubclass(unraisable.exc_type, KeyboardInterrupt):
            return  # swallowed by a finalizer; check() raises it again
        self._unraisable_hook(unraisable)

    def _handle(self, signum: int, frame: object) -> None:
        self.requested = True
        raise KeyboardInterrupt

    def check(self) -> None:
        """Raise KeyboardInterrupt if a stop was asked for."""
        if self.requested:
            raise KeyboardInterrupt

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        if self._previous:
            sys.unraisablehook = self._unraisable_hook


def run_search(
    space: SearchSpace,
    config: SearchConfig = SearchConfig(),
    *,
    data: ImageData | None = None,
    progress: Callable[[str], None] | None = print,
    argv: list[str] | None = None,
) -> pd.DataFrame:
    """Run (or resume) the study until it has `config.trials` ended trials; return the trials table.

    Writes results/<study>/: study.db, trials.csv, acc_vs_flops.png, space.yaml, run.json.
    """
    say = progress or (lambda _: None)
    if config.objectives not in OBJECTIVES:
        raise HarnessError(f"unknown objectives {config.objectives!r}; valid: {', '.join(OBJECTIVES)}")
    if config.trials < 1:
        raise HarnessError(f"--trials must be at least 1, not {config.trials}")
    if config.epochs is not None and config.epochs < 1:
        raise HarnessError(f"--epochs must be at least 1, not {config.epochs}")
    pruner_name = config.pruner_name()
    if pruner_name == "pareto" and config.objectives == "accuracy":
        raise HarnessError("--pruner pareto is the two-objective policy; with one objective use median, "
                           "hyperband or sha")
    if pruner_name not in ("pareto", "none") and config.objectives != "accuracy":
        raise HarnessError(f"--pruner {pruner_name} needs one objective (Optuna cannot prune a "
                           "two-objective study); use --pruner pareto (the default there) or none")
    if config.seconds is not None and config.seconds <= 0:
        raise HarnessError(f"--seconds must be positive, not {config.seconds}")
    if config.sampler == "grid":
        grid_size(space)  # refuses a space that cannot be enumerated, saying why
        # The grid ends the study itself when every point was run (BruteForceSampler).
        config = dataclasses.replace(config, trials=min(config.trials, grid_trials(space)))
    device = resolve_device(config.device)
    if data is None:
        data = config.data_options.load(config.dataset, progress=progress is not None)
    data, placement = place_dataset(data, device, config.data_memory)
    name = study_name_for(space, config.study_name)
    folder = Path(config.results_dir) / name
    space_epochs = space.params["train.epochs"]
    epochs = config.epochs or (space_epochs.value if isinstance(space_epochs, Fixed) else None)
    multi = config.objectives != "accuracy"

    folder.mkdir(parents=True, exist_ok=True)
    ref = resolve_storage(config.storage, folder)
    with SQLiteLock(ref):
        study, storage_text = _open_study(space, config, ref, name, folder, multi, pruner_name, epochs)
        _check_resumable(study, _fingerprint(space, config, epochs or 0, data), folder)
        write_run_info(folder, space, config, data, device, argv=argv if argv is not None else sys.argv,
                       placement=placement, storage=ref.display)
        ended_before = sum(counted(t) for t in study.get_trials(deepcopy=False))
        remaining = config.trials - ended_before
        worker = f" (worker {config.worker})" if config.worker else ""
        say(f"study {name!r}{worker} in {folder}: {data.describe()}, device {device} ({placement.describe()}), "
            f"{space.architecture_count() or 'infinitely many'} architectures{storage_text}")
        if ended_before:
            say(f"resuming: {ended_before} trial(s) already ended, {max(0, remaining)} to run")
        if remaining > 0:
            with StopOnSignal() as stop:
                constraints = space.constraints.merged(config.constraints)
                objective = _Objective(space, data, device, config, epochs, multi, stop.check,
                                       stream=not placement.resident, constraints=constraints)
                on_trial_end = _Writer(folder, config.trials, say, stop.check)
                try:
                    run_trials(study, objective, config.trials, on_trial_end, stop.check, config.timeout)
                finally:
                    on_trial_end.finish(study)  # also when interrupted: the plot shows every trial
            frame = trials_frame(study)  # the files were rewritten after the last trial
            line = overhead_line(frame, on_trial_end.write_seconds)
            if line:
                say(line)
        else:
            frame = write_results(study, folder)
    if config.report:
        print_leaderboard(frame, say)
        say(f"results: {folder / 'trials.csv'}, {folder / 'acc_vs_flops.png'} (run.json, space.yaml"
            f"{', study.db' if ref.kind == 'sqlite' and ref.path == (folder / 'study.db').resolve() else ''})")
        with contextlib.suppress(OSError):  # a full disk must not fail a finished search
            say(f"report: {build_report(folder, study=study).html}")
    return frame


def _open_study(space: SearchSpace, config: SearchConfig, ref: StorageRef, name: str, folder: Path, multi: bool,
                pruner_name: str, epochs: int | None) -> tuple[optuna.Study, str]:
    """Create or load the study in its storage; with SQLite (one process, under its lock) a trial
    left running by a killed run is failed and queued again at once. Also a note on the storage."""
    storage = open_storage(ref, config.heartbeat)
    directions = ["maximize"] + (["minimize"] if multi else [])
    try:
        old = optuna.load_study(study_name=name, storage=storage)
        if len(old.directions) != len(directions):
            raise HarnessError(
                f"{folder} holds a study with {len(old.directions)} objective(s); this run asks "
                f"for {config.objectives!r}. Give it its own --study NAME."
            )
        n_before = len(old.get_trials(deepcopy=False))
    except KeyError:
        n_before = 0
    # Re-seeding the sampler with the number of trials already run keeps a resumed run from
    # drawing the same random start-up architectures again; each worker gets its own seeds.
    sampler = make_sampler(config.sampler, config.seed + n_before + 7919 * config.worker, space)
    study = optuna.create_study(
        study_name=name, storage=storage, directions=directions, sampler=sampler,
        pruner=make_pruner(pruner_name, epochs), load_if_exists=True,
    )
    note = ""
    if ref.kind == "sqlite":
        orphans = fail_orphans(study)
        if orphans:
            note = f"; {orphans} trial(s) left running by a killed run marked failed and queued again"
    else:
        note = f"; storage {ref.display}"
    return study, note


def run_trials(study: optuna.Study, objective: Callable[[optuna.Trial], Any], trials: int,
               on_trial_end: Callable[[optuna.Study, FrozenTrial], None], check_stop: Callable[[], None],
               timeout: float | None = None) -> None:
    """Run trials, one at a time, until the study has `trials` ended trials, whichever process ran
    them: a queued trial (a dead worker's, queued again) first; a new one only while ended + running
    + queued trials leave a place; otherwise wait for the others. The objective's own check
    (`_Objective._surplus`) settles the race between two workers taking the last place at once."""
    from optuna.storages import fail_stale_trials

    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        check_stop()
        if deadline is not None and time.monotonic() >= deadline:
            return
        states = study.get_trials(deepcopy=False)
        ended = sum(counted(t) for t in states)
        waiting = sum(t.state == TrialState.WAITING for t in states)
        if ended >= trials:
            return
        if not waiting and sum(taken(t) for t in states) >= trials:
            # The last places are being run elsewhere, and one may still die: fail a dead
            # worker's trial (heartbeats) so that it is queued again. Optuna does this itself
            # before each trial it starts, so only this waiting path needs it.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                fail_stale_trials(study)
            time.sleep(POLL_S)
            continue
        study.optimize(objective, n_trials=1, catch=(TrialFailedError, SurplusTrialError),
                       callbacks=[on_trial_end], gc_after_trial=False)


class _Infeasible(Exception):
    """The built model breaks a hard constraint: it is recorded, never trained."""


# User attributes a reused trial copies from the trial whose result it reuses.
_REUSED_ATTRS = ("spec_id", "label", "params", "flops", "receptive_field", "uncounted_ops", "accuracy",
                 "val_loss", "train_loss", "train_seconds", "epochs", "history", "curve", "infeasible",
                 "batch_size", "note")


class _Objective:
    """The Optuna objective: suggest -> (reuse | check constraints -> train) -> record; the only
    place a trial is touched."""

    def __init__(self, space: SearchSpace, data: ImageData, device: torch.device, config: SearchConfig,
                 epochs: int | None, multi: bool, check_stop: Callable[[], None], stream: bool = False,
                 constraints: Constraints | None = None) -> None:
        self.space, self.data, self.device, self.stream = space, data, device, stream
        self.config, self.epochs, self.multi, self.check_stop = config, epochs, multi, check_stop
        self.constraints = constraints or Constraints()
        self.cost_name = {"accuracy,flops": "flops", "accuracy,params": "params"}.get(config.objectives)
        self.pareto = config.pareto if config.pruner_name() == "pareto" and multi else None

    def _train_config(self, train_config: TrainConfig) -> TrainConfig:
        changes: dict[str, Any] = {}
        if self.epochs is not None:
            changes["epochs"] = self.epochs
        for name in ("seconds", "crop_padding", "flip"):
            if getattr(self.config, name) is not None:
                changes[name] = getattr(self.config, name)
        return dataclasses.replace(train_config, **changes) if changes else train_config

    def _values(self, accuracy: float, costs: dict[str, Any]) -> float | tuple[float, float]:
        if self.cost_name is None:
            return accuracy
        return accuracy, float(costs[self.cost_name])

    def _reuse(self, trial: optuna.Trial, key: str) -> float | tuple[float, float] | None:
        """The result of a completed trial of the same experiment, copied into `trial`; None when
        there is none (or --repeat)."""
        if self.config.repeat:
            return None
        for old in trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if old.user_attrs.get("budget_key") == key and old.values is not None:
                for name in _REUSED_ATTRS:
                    if name in old.user_attrs:
                        trial.set_user_attr(name, old.user_attrs[name])
                for name, value in old.constraints.items():
                    trial.set_constraint(name, value)
                trial.set_user_attr("reused_from", old.user_attrs.get("reused_from", old.number))
                return old.values[0] if self.cost_name is None else (old.values[0], old.values[1])
        return None

    def _finished_curves(self, trial: optuna.Trial) -> list[Curve]:
        curves = []
        for old in trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            attrs = old.user_attrs
            if "history" in attrs and "reused_from" not in attrs and "infeasible" not in attrs:
                curves.append(Curve(float(attrs[self.cost_name]), tuple(attrs["history"]), old.number))
        return curves

    def _surplus(self, trial: optuna.Trial) -> bool:
        """Whether the trials before this one already hold every place (another worker started
        the last one a moment earlier)."""
        before = [t for t in trial.study.get_trials(deepcopy=False) if t.number < trial.number]
        return sum(taken(t) for t in before) >= self.config.trials

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, float]:
        self.check_stop()
        if self._surplus(trial):
            trial.set_user_attr("surplus", True)
            raise SurplusTrialError(f"trial {trial.number}: the study's {self.config.trials} places are taken")
        spec, train_config = self.space.suggest(trial)
        train_config = self._train_config(train_config)
        seed = self.config.seed * 100_003 + trial.number  # distinct per trial, reproducible
        key = budget_key(spec.spec_id, train_config)
        trial.set_user_attr("spec", spec.to_dict())
        trial.set_user_attr("seed", seed)
        trial.set_user_attr("device", str(self.device))
        trial.set_user_attr("worker", {"host": socket.gethostname(), "pid": os.getpid(), "index": self.config.worker})
        trial.set_user_attr("budget_key", key)
        reused = self._reuse(trial, key)
        if reused is not None:
            return reused
        history: list[float] = []
        curve: list[dict[str, float]] = []
        costs_row: dict[str, Any] = {}

        def on_costs(costs: Costs) -> None:
            costs_row.update(metrics_row(spec, costs, None))
            for name, value in costs_row.items():
                trial.set_user_attr(name, value)
            if self.constraints.active:
                # Optuna 5's samplers (tpe, nsga2, gp) read these: > 0 is a violation.
                for name, value in self.constraints.named_violations(costs).items():
                    trial.set_constraint(name, value)
            reason = self.constraints.reason(costs)
            if reason:
                raise _Infeasible(reason)

        def on_epoch(m: EpochMetrics) -> None:
            self.check_stop()
            history.append(m.val_accuracy)
            curve.append(dataclasses.asdict(m))  # epoch, train_loss, val_loss, val_accuracy, seconds
            trial.set_user_attr("history", history)
            trial.set_user_attr("curve", curve)
            trial.set_user_attr("train_seconds", m.seconds)
            trial.set_user_attr("epochs", m.epoch)
            # A time budget has no known last epoch: the policies then never see one.
            total = train_config.epochs if train_config.seconds is None else m.epoch + 1
            if m.epoch >= total:
                return  # nothing left to save: the trial completes
            reason = None
            if not self.multi:
                trial.report(m.val_accuracy, m.epoch)
                if trial.should_prune():
                    reason = f"pruned after epoch {m.epoch} by the {self.config.pruner_name()} pruner"
            elif self.pareto is not None:
                reason = self.pareto.should_stop(m.epoch, total, m.val_accuracy,
                                                 float(costs_row[self.cost_name]), self._finished_curves(trial))
            if reason:
                trial.set_user_attr("accuracy", m.val_accuracy)
                trial.set_user_attr("val_loss", m.val_loss)
                trial.set_user_attr("pruned_reason", reason)
                raise optuna.TrialPruned(reason)

        overheads = Overheads()
        try:
            ev = evaluate_spec(spec, self.data, train_config, device=self.device, seed=seed,
                               on_costs=on_costs, on_epoch=on_epoch, stream=self.stream,
                               compile=self.config.compile, overheads=overheads)
        except optuna.TrialPruned:
            self._record_overheads(trial, overheads)
            raise
        except _Infeasible as err:
            # Recorded with its costs and the reason; complete (not failed), so that the sampler
            # sees the constraint values; its objective value marks it as no good (accuracy 0).
            trial.set_user_attr("infeasible", str(err))
            return self._values(0.0, costs_row)
        except Exception as err:  # recorded with its reason; the study goes on
            self._record_overheads(trial, overheads)
            reason, trace = describe_failure(err)
            if trace is not None:
                trial.set_user_attr("traceback", trace)
            self._fail(trial, reason)
        # The costs were recorded before training (on_costs); add what training produced.
        for name, value in metrics_row(spec, None, ev.result).items():
            trial.set_user_attr(name, value)
        self._record_overheads(trial, overheads)
        if ev.note:
            trial.set_user_attr("note", ev.note)
        return self._values(ev.result.val_accuracy, costs_row)

    @staticmethod
    def _record_overheads(trial: optuna.Trial, overheads: Overheads) -> None:
        for name, value in overheads.columns().items():
            trial.set_user_attr(name, value)

    def _fail(self, trial: optuna.Trial, reason: str) -> None:
        trial.set_user_attr("failure_reason", reason)
        raise TrialFailedError(reason)


class _Writer:
    """After each trial: print its line and rewrite the results folder (trials.csv each time, the
    plot at most every PLOT_EVERY_S), so an interrupted run still leaves usable files; `finish`
    brings the plot up to date."""

    def __init__(self, folder: Path, total: int, say: Callable[[str], None],
                 check_stop: Callable[[], None]) -> None:
        self.folder, self.total, self.say, self.check_stop = folder, total, say, check_stop
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
        self.write_seconds.append(time.perf_counter() - start)
        self.check_stop()
