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
import signal
import sys
import threading
import traceback
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
from harness.errors import HarnessError, SpecError
from harness.evaluate import evaluate_spec, free_device_memory, metrics_row
from harness.measure import Costs
from harness.results import (
    print_leaderboard,
    trial_line,
    trials_frame,
    write_results,
    write_run_info,
)
from harness.space import OBJECTIVES, Fixed, SearchSpace
from harness.train import EpochMetrics, NonFiniteLossError, resolve_device

DEFAULT_TRIALS = 12
# Heartbeats let a later run see that a killed process's trial is dead (seconds).
HEARTBEAT_INTERVAL_S = 10
HEARTBEAT_GRACE_S = 30


class TrialFailedError(Exception):
    """Raised by the objective after recording why a trial failed; Optuna marks it FAIL and goes on."""


@dataclass(frozen=True)
class SearchConfig:
    """Everything about a search that is not the space: budget, data, device, seed, where to write."""

    dataset: str = DEFAULT_DATASET
    trials: int = DEFAULT_TRIALS
    epochs: int | None = None  # None: the space's train.epochs
    device: str = "auto"
    seed: int = 0
    study_name: str | None = None  # None: the space file's stem
    results_dir: str = "results"
    objectives: str = "accuracy"
    pruner: str = "median"
    data_options: DataOptions = DataOptions()
    data_memory: float | None = None  # bytes the data may take on the device; None: half its free memory
    crop_padding: int | None = None  # overrides the space's train.crop_padding (None: keep it)
    flip: bool | None = None  # overrides the space's train.flip (None: keep it)


def study_name_for(space: SearchSpace, name: str | None) -> str:
    """The study name: the one given, else the space file's stem, else the space's name."""
    if name:
        return name
    return Path(space.path).stem if space.path else space.name


def storage_url(folder: Path) -> str:
    """The default storage: an SQLite file in the study's folder."""
    return f"sqlite:///{(folder / 'study.db').resolve()}"


def _open_storage(url: str) -> optuna.storages.BaseStorage:
    with warnings.catch_warnings():
        # Heartbeats are marked experimental in Optuna 5; they are the documented way to fail
        # the trials of a killed process, which resuming relies on.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(
            url, heartbeat_interval=HEARTBEAT_INTERVAL_S, grace_period=HEARTBEAT_GRACE_S
        )


def counted(trial: FrozenTrial) -> bool:
    """Whether a trial counts towards --trials: it ended on its own (not interrupted)."""
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and "failure_reason" in trial.user_attrs


def _pruner(name: str) -> optuna.pruners.BasePruner:
    if name == "median":
        # Five trials before any pruning, and no decision on the first epoch (steps are 1-based
        # epochs): one epoch of a brief run says little about where a network ends.
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=2)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise HarnessError(f"unknown pruner {name!r}; valid: median, none")


def _fingerprint(space: SearchSpace, config: SearchConfig, epochs: int, data: ImageData) -> dict[str, Any]:
    """What must not change between runs of one study, or its trials would not compare."""
    blob = json.dumps(space.raw, sort_keys=True, default=str)
    c, h, w = data.input_shape
    return {
        "space_sha1": hashlib.sha1(blob.encode()).hexdigest()[:12],
        "dataset": config.dataset,
        "image_size": f"{c}x{h}x{w}",
        "split": data.split_id,
        "epochs": epochs,
        "objectives": config.objectives,
        "augment": [config.crop_padding, config.flip],
    }


def _check_resumable(study: optuna.Study, fingerprint: dict[str, Any], folder: Path) -> None:
    old = study.user_attrs.get("fingerprint")
    if old is None:
        study.set_user_attr("fingerprint", fingerprint)
        return
    changed = [f"{k} ({old.get(k)} -> {v})" for k, v in fingerprint.items() if old.get(k) != v]
    if changed:
        raise HarnessError(
            f"{folder} holds a study run with a different {', '.join(changed)}; its trials would "
            "not compare. Give this run its own --study NAME (or --results DIR)."
        )


class _StopOnSignal:
    """While active, Ctrl-C (SIGINT) and kill (SIGTERM) raise KeyboardInterrupt and stay requested.

    Python swallows an exception raised while a finalizer runs (and prints it as "Exception
    ignored in ..."), so a Ctrl-C that lands during garbage collection would be lost; `check()`,
    called between epochs and trials, raises it again, and the swallowed one is not printed.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}
        self._unraisable_hook = sys.unraisablehook

    def __enter__(self) -> _StopOnSignal:
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
    pruner = _pruner(config.pruner)
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
    storage = _open_storage(storage_url(folder))
    directions = ["maximize"] + (["minimize"] if multi else [])
    try:
        study = optuna.load_study(study_name=name, storage=storage)
        if len(study.directions) != len(directions):
            raise HarnessError(
                f"{folder} holds a study with {len(study.directions)} objective(s); this run asks "
                f"for {config.objectives!r}. Give it its own --study NAME."
            )
    except KeyError:
        study = None
    ended_before = sum(counted(t) for t in study.trials) if study else 0
    n_before = len(study.trials) if study else 0
    # Re-seeding the sampler with the number of trials already run keeps a resumed run from
    # drawing the same random start-up architectures again.
    sampler = optuna.samplers.TPESampler(seed=config.seed + n_before)
    study = optuna.create_study(
        study_name=name, storage=storage, directions=directions, sampler=sampler,
        pruner=pruner, load_if_exists=True,
    )
    _check_resumable(study, _fingerprint(space, config, epochs or 0, data), folder)
    write_run_info(folder, space, config, data, device, argv=argv if argv is not None else sys.argv,
                   placement=placement)

    remaining = config.trials - ended_before
    say(f"study {name!r} in {folder}: {data.describe()}, device {device} ({placement.describe()}), "
        f"{space.architecture_count() or 'infinitely many'} architectures")
    if ended_before:
        say(f"resuming: {ended_before} trial(s) already ended, {max(0, remaining)} to run")
    if remaining > 0:
        with _StopOnSignal() as stop:
            objective = _Objective(space, data, device, config, epochs, multi, stop.check,
                                   stream=not placement.resident)
            on_trial_end = _Writer(folder, config.trials, say, stop.check)
            study.optimize(objective, n_trials=remaining, catch=(TrialFailedError,),
                           callbacks=[on_trial_end], gc_after_trial=False)
        frame = trials_frame(study)  # the files were rewritten after the last trial
    else:
        frame = write_results(study, folder)
    print_leaderboard(frame, say)
    say(f"results: {folder / 'trials.csv'}, {folder / 'acc_vs_flops.png'} (run.json, space.yaml, study.db)")
    return frame


class _Objective:
    """The Optuna objective: suggest -> evaluate -> record; the only place a trial is touched."""

    def __init__(self, space: SearchSpace, data: ImageData, device: torch.device, config: SearchConfig,
                 epochs: int | None, multi: bool, check_stop: Callable[[], None], stream: bool = False) -> None:
        self.space, self.data, self.device, self.stream = space, data, device, stream
        self.config, self.epochs, self.multi, self.check_stop = config, epochs, multi, check_stop

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, float]:
        self.check_stop()
        spec, train_config = self.space.suggest(trial)
        if self.epochs is not None:
            train_config = dataclasses.replace(train_config, epochs=self.epochs)
        if self.config.crop_padding is not None:
            train_config = dataclasses.replace(train_config, crop_padding=self.config.crop_padding)
        if self.config.flip is not None:
            train_config = dataclasses.replace(train_config, flip=self.config.flip)
        seed = self.config.seed * 100_003 + trial.number  # distinct per trial, reproducible
        trial.set_user_attr("spec", spec.to_dict())
        trial.set_user_attr("seed", seed)
        trial.set_user_attr("device", str(self.device))
        history: list[float] = []

        def on_costs(costs: Costs) -> None:
            for key, value in metrics_row(spec, costs, None).items():
                trial.set_user_attr(key, value)

        def on_epoch(m: EpochMetrics) -> None:
            self.check_stop()
            history.append(m.val_accuracy)
            trial.set_user_attr("history", history)
            trial.set_user_attr("train_seconds", m.seconds)
            trial.set_user_attr("epochs", m.epoch)
            if not self.multi:
                trial.report(m.val_accuracy, m.epoch)
                # After the last epoch there is nothing left to save: the trial completes.
                if m.epoch < train_config.epochs and trial.should_prune():
                    trial.set_user_attr("accuracy", m.val_accuracy)
                    trial.set_user_attr("val_loss", m.val_loss)
                    raise optuna.TrialPruned(f"pruned after epoch {m.epoch}")

        try:
            ev = evaluate_spec(spec, self.data, train_config, device=self.device, seed=seed,
                               on_costs=on_costs, on_epoch=on_epoch, stream=self.stream)
        except optuna.TrialPruned:
            raise
        except SpecError as err:
            self._fail(trial, f"invalid spec: {err}")
        except NonFiniteLossError as err:
            self._fail(trial, f"non-finite loss: {err}")
        except torch.OutOfMemoryError as err:
            free_device_memory()
            self._fail(trial, f"out of memory: {str(err).splitlines()[0]}")
        except Exception as err:  # a bug or an unforeseen failure: record it, keep the study going
            trial.set_user_attr("traceback", traceback.format_exc()[-4000:])
            self._fail(trial, f"{type(err).__name__}: {err}")
        # The costs were recorded before training (on_costs); add what training produced.
        for key, value in metrics_row(spec, None, ev.result).items():
            trial.set_user_attr(key, value)
        if self.config.objectives == "accuracy,flops":
            return ev.result.val_accuracy, float(ev.costs.flops)
        if self.config.objectives == "accuracy,params":
            return ev.result.val_accuracy, float(ev.costs.params)
        return ev.result.val_accuracy

    def _fail(self, trial: optuna.Trial, reason: str) -> None:
        trial.set_user_attr("failure_reason", reason)
        raise TrialFailedError(reason)


class _Writer:
    """After each trial: print its line and rewrite the results folder, so an interrupted run
    still leaves usable files."""

    def __init__(self, folder: Path, total: int, say: Callable[[str], None],
                 check_stop: Callable[[], None]) -> None:
        self.folder, self.total, self.say, self.check_stop = folder, total, say, check_stop

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        done = sum(counted(t) for t in study.get_trials(deepcopy=False))
        self.say(trial_line(trial, done, self.total))
        with contextlib.suppress(OSError):  # a full disk must not kill the study; the db has it all
            write_results(study, self.folder)
        self.check_stop()


def load_trials(folder: str | Path, study_name: str | None = None) -> pd.DataFrame:
    """The trials table of a results folder: from its study.db when present, else trials.csv."""
    folder = Path(folder)
    db = folder / "study.db"
    if db.exists():
        storage = optuna.storages.RDBStorage(storage_url(folder))
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        name = study_name or (folder.name if folder.name in names else (names[0] if names else None))
        if name is not None:
            return trials_frame(optuna.load_study(study_name=name, storage=storage))
    csv = folder / "trials.csv"
    if csv.exists():
        return pd.read_csv(csv)
    raise HarnessError(f"{folder}: no study.db or trials.csv here; is this a results folder?")
