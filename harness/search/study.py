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
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial

from harness.data import ImageData
from harness.data.loader import Placement, place_dataset
from harness.data.shifts import shifted_copies
from harness.errors import HarnessError
from harness.report.build import build_report
from harness.search.garbage import release_garbage, settle_garbage
from harness.search.mlflow_study import open_tracker
from harness.search.objective import TrialObjective
from harness.search.progress import overhead_line, print_leaderboard
from harness.search.samplers import grid_size, grid_trials, make_pruner, make_sampler
from harness.search.search_config import (
    SearchConfig,
    SurplusTrialError,
    TrialFailedError,
    counted,
    epochs_for,
    study_name_for,
)
from harness.search.space import SearchSpace
from harness.search.tally import Tally
from harness.search.writer import ResultsWriter, write_results, write_run_info
from harness.signals import StopOnSignal
from harness.store.record import keys
from harness.store.storage import (
    SQLiteLock,
    StorageRef,
    fail_orphans,
    open_storage,
    resolve_storage,
)
from harness.store.tracking import tracking
from harness.train.device import configure_cuda_allocator, resolve_device, resolve_precision, set_deterministic

if TYPE_CHECKING:
    import torch

    from harness.store.tracking import Tracker

POLL_S = 1.0  # a worker with nothing to start waits this long before looking again (s)


def _fingerprint(space: SearchSpace, config: SearchConfig, epochs: int, data: ImageData, device: torch.device
                 ) -> dict[str, Any]:
    """What must not change between runs of one study, or its trials would not compare (a CPU's
    fp32 trials and a GPU's bf16 ones are different experiments, above all under --seconds)."""
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
        "device_type": device.type,
        "precision": config.precision,
        "robustness": config.robustness.describe() if config.robustness else None,
        # Only when not the default, so that studies made before --metric existed still resume.
        **({"metric": config.metric} if config.metric != "accuracy" else {}),
    }


def _check_resumable(study: optuna.Study, fingerprint: dict[str, Any], folder: Path) -> None:
    old = study.user_attrs.get(keys.FINGERPRINT)
    if old is None:
        study.set_user_attr(keys.FINGERPRINT, fingerprint)
        return
    # Keys that an older harness did not record are not compared (and are recorded from now on).
    changed = [f"{k} ({old[k]} -> {v})" for k, v in fingerprint.items() if k in old and old[k] != v]
    if not changed and set(fingerprint) - set(old):
        study.set_user_attr(keys.FINGERPRINT, {**fingerprint, **old})
    if changed:
        raise HarnessError(
            f"{folder} holds a study run with a different {', '.join(changed)}; its trials would "
            "not compare. Give this run its own {study_name NAME} (or {results_dir DIR}).",
            settings=("study_name", "results_dir"))

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
    pruner_name = config.validate()
    name = study_name_for(space, config.study_name)  # a bad name is refused before anything is read or written
    ref = resolve_storage(config.storage, Path(config.results_dir) / name)  # and so is a bad storage
    if config.sampler == "grid":
        grid_size(space)  # refuses a space that cannot be enumerated, saying why
        # The grid ends the study itself when every point was run (BruteForceSampler).
        config = dataclasses.replace(config, trials=min(config.trials, grid_trials(space)))
    configure_cuda_allocator()
    device = resolve_device(config.device)
    config = dataclasses.replace(config, precision=resolve_precision(config.precision, device))
    if config.deterministic:
        set_deterministic()
    if data is None:
        data = config.data_options.load(config.dataset, progress=progress is not None)
    data, placement = place_dataset(data, device, config.data_memory)
    folder = Path(config.results_dir) / name
    epochs = epochs_for(space, config.epochs)
    multi = config.objectives != "accuracy"

    warm = None  # the earlier study a warm start reads (once: not by every worker)
    if config.warm_start is not None and config.worker <= 1:  # read first: a bad folder changes nothing
        from harness.search.warm import read_source

        warm = read_source(config.warm_start, config.warm_top, folder)
    folder.mkdir(parents=True, exist_ok=True)
    with SQLiteLock(ref), contextlib.ExitStack() as stack:
        study, storage_text = _open_study(space, config, ref, name, folder, multi, pruner_name, epochs)
        fingerprint = _fingerprint(space, config, epochs or 0, data, device)
        _check_resumable(study, fingerprint, folder)
        # Not part of the fingerprint: where the runs are tracked does not change what they measure.
        tracker = open_tracker(space, config, folder, ref.display, epochs, str(device))
        stack.enter_context(tracking(tracker, study, [folder / "trials.csv"]))
        write_run_info(folder, space, config, data, device, argv=argv if argv is not None else sys.argv,
                       placement=placement, storage=ref.display)
        ended_before = sum(counted(t) for t in study.get_trials(deepcopy=False))
        remaining = config.trials - ended_before
        worker = f" (worker {config.worker})" if config.worker else ""
        say(f"study {name!r}{worker} in {folder}: {data.describe()}, device {device} in {config.precision} "
            f"({placement.describe()}), {space.architecture_count() or 'infinitely many'} architectures{storage_text}")
        if ended_before:
            say(f"resuming: {ended_before} trial(s) already ended, {max(0, remaining)} to run")
        if remaining > 0:
            frame = _run_missing(study, space, data, device, config, epochs, multi, placement, folder, say,
                                 fingerprint, tracker, warm)
        else:
            frame = write_results(study, folder)
    if config.report:
        _report(frame, study, folder, ref, say)
    return frame


def _run_missing(study: optuna.Study, space: SearchSpace, data: ImageData, device: torch.device,
                 config: SearchConfig, epochs: int | None, multi: bool, placement: Placement, folder: Path,
                 say: Callable[[str], None], fingerprint: dict[str, Any], tracker: Tracker | None = None,
                 warm: optuna.Study | None = None) -> pd.DataFrame:
    """Run the trials the study still lacks (stoppable by Ctrl-C or kill), rewriting the folder
    after each; the trials table, and the line on where the time went."""
    with StopOnSignal() as stop:
        constraints = space.constraints.merged(config.constraints)
        shifted = shifted_copies(data.val_x, config.robustness) if config.robustness else None
        objective = TrialObjective(space, data, device, config, epochs, multi, stop,
                                   stream=not placement.resident, constraints=constraints, shifted=shifted)
        if warm is not None:
            from harness.search.warm import warm_start

            warm_start(study, warm, str(config.warm_start), space, config.warm_top, objective, fingerprint, say)
        on_trial_end = ResultsWriter(folder, config.trials, say, stop.check, tracker)
        on_trial_end.prepare(study)
        try:
            run_trials(study, objective, config.trials, on_trial_end, stop.check, config.timeout)
        except KeyboardInterrupt:
            on_trial_end.finish(study)  # also when interrupted: the plot shows every trial
            raise
        # Anything else that stops the search (a full or read-only disk, a storage fault) goes up
        # as it is: a redraw would meet the same fault and say it a second time.
        on_trial_end.finish(study)
    frame = on_trial_end.table.update(study).frame()  # only the rows not yet built are made
    line = overhead_line(frame, on_trial_end.write_seconds)
    if line:
        say(line)
    return frame


def _report(frame: pd.DataFrame, study: optuna.Study, folder: Path, ref: StorageRef,
            say: Callable[[str], None]) -> None:
    """The end of a search: the leaderboard, where the results are, and the report."""
    print_leaderboard(frame, say)
    say(f"results: {folder / 'trials.csv'}, {folder / 'acc_vs_flops.png'} (run.json, space.yaml"
        f"{', study.db' if ref.kind == 'sqlite' and ref.path == (folder / 'study.db').resolve() else ''})")
    try:
        say(f"report: {build_report(folder, study=study).html}")
    except OSError as err:  # the search is done and saved: a full disk costs only the page
        from harness.errors import StorageWarning
        from harness.store.faults import describe

        warnings.warn(f"no report was written: {describe(err, folder) or err}; run `harness report {folder}` "
                      "once there is space", StorageWarning, stacklevel=2)


def _open_study(space: SearchSpace, config: SearchConfig, ref: StorageRef, name: str, folder: Path, multi: bool,
                pruner_name: str, epochs: int | None) -> tuple[optuna.Study, str]:
    """Create or load the study in its storage; with SQLite (one process, under its lock) a trial
    left running by a killed run is failed and queued again at once. Also a note on the storage."""
    storage = open_storage(ref, config.heartbeat)
    second = "maximize" if config.objectives == "accuracy,robust_accuracy" else "minimize"
    directions = ["maximize"] + ([second] if multi else [])
    try:
        old = optuna.load_study(study_name=name, storage=storage)
        if len(old.directions) != len(directions):
            raise HarnessError(
                f"{folder} holds a study with {len(old.directions)} objective(s); this run asks "
                f"for {config.objectives!r}. Give it its own {{study_name NAME}}.", settings=("study_name",))
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
    (`TrialObjective._surplus`) settles the race between two workers taking the last place at once."""
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        _run_until(study, objective, trials, on_trial_end, check_stop, deadline)
    finally:
        release_garbage()


def _run_until(study: optuna.Study, objective: Callable[[optuna.Trial], Any], trials: int,
               on_trial_end: Callable[[optuna.Study, FrozenTrial], None], check_stop: Callable[[], None],
               deadline: float | None) -> None:
    from optuna.storages import fail_stale_trials

    tally = Tally()
    while True:
        check_stop()
        if deadline is not None and time.monotonic() >= deadline:
            return
        states = study.get_trials(deepcopy=False)
        if tally.ended(states) >= trials:
            return
        if not tally.waiting(states) and tally.taken(states) >= trials:
            # The last places are being run elsewhere, and one may still die: fail a dead
            # worker's trial (heartbeats) so that it is queued again. Optuna does this itself
            # before each trial it starts, so only this waiting path needs it.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                fail_stale_trials(study)
            time.sleep(POLL_S)
            continue
        # The trials so far are not walked by the next trial's collections (the first call walks
        # every trial read; later ones only what is new).
        settle_garbage()
        study.optimize(objective, n_trials=1, catch=(TrialFailedError, SurplusTrialError),
                       callbacks=[on_trial_end], gc_after_trial=False)
