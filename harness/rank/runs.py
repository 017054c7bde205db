"""Ranking: candidates x seeds re-trained as a resumable Optuna study, then honest statistics.

Flow: candidates (harness.rank.candidates) -> `plan_runs` (which (candidate, seed) runs are missing;
with racing, one more seed for each candidate still tied for the top) -> each run one Optuna trial
in the ranking's storage (rank.db) -> runs table -> `rank_table` / `fidelity_table`
(harness.rank.rank_tables) -> rank.csv, rank.md, plots and rank.html (harness.rank.report).

A run is identified by its experiment (architecture + training config, `Candidate.key`), the data
(dataset, image size, split) and its seed index, not by the candidate's name or the command line:
running the same command again runs only what is missing (a killed ranking resumes), and a
ranking that adds a candidate or a seed reuses every run it shares with an earlier one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
import torch
from optuna.trial import FrozenTrial, TrialState

from harness.data import DEFAULT_DATASET, ImageData
from harness.data.loader import place_dataset
from harness.data.shifts import shifted_copies
from harness.errors import HarnessError, SpecError
from harness.names import check_folder_name
from harness.numbers import human
from harness.rank.candidates import Candidate, StudyInfo, combine, with_budget
from harness.rank.mlflow_ranking import open_rank_tracker
from harness.rank.ranking import RankConfig, Ranking, run_seed
from harness.rank.stats import top_group
from harness.signals import StopOnSignal, interrupted_by
from harness.store.provenance import append_run_record, describe_device, safe_command, versions
from harness.store.record import RecordWriter, catalogue, filters, keys
from harness.store.record.failure import describe_failure
from harness.store.storage import ENV_STORAGE, SQLiteLock, fail_orphans, open_storage, resolve_storage
from harness.store.tracking import tracking
from harness.train.device import configure_cuda_allocator, resolve_device, resolve_precision, set_deterministic
from harness.train.evaluate import evaluate_spec
from harness.train.live import LiveProgress
from harness.train.loop import EpochMetrics
from harness.zoo.model import validate_spec

if TYPE_CHECKING:
    from harness.store.tracking import Tracker

# Which runs are missing


Ended = dict[str, dict[int, dict[str, Any]]]  # candidate key -> seed index -> the run's record


def plan_runs(candidates: Sequence[Candidate], ended: Ended, config: RankConfig) -> list[tuple[Candidate, int]]:
    """The runs to do next: every candidate's first `config.seeds` seed indices not yet ended;
    when none is missing and racing, one more seed for each candidate in the top group (the best
    by mean and those not significantly worse, Welch + Holm) that is under `max_seeds`, as long as
    the top group has more than one member. A pure function of what has ended, so a resumed
    ranking plans the same runs."""
    # Seed by seed (every candidate's first seed, then every second one): a ranking stopped early
    # (its deadline, Ctrl-C) has as many candidates with a run as it can.
    pending = [(c, i) for i in range(config.seeds) for c in candidates if i not in ended.get(c.key, {})]
    if pending or not config.race:
        return pending
    samples = {c.name: accuracies(ended.get(c.key, {}), config.metric) for c in candidates}
    samples = {name: acc for name, acc in samples.items() if acc}
    if len(samples) < 2:
        return []
    top = set(top_group(samples, config.alpha))
    if len(top) < 2:
        return []
    out = []
    for c in candidates:
        n = len(ended.get(c.key, {}))
        if c.name in top and n < config.max_seeds:
            out.append((c, n))
    return out


def accuracies(runs: dict[int, dict[str, Any]], metric: str = "accuracy") -> list[float]:
    """The runs' `metric` (validation or robust accuracy) where they completed, by seed index."""
    return [r[metric] for _, r in sorted(runs.items()) if r.get("state") == "COMPLETE"
            and r.get(metric) is not None]


def ended_runs(study: optuna.Study, data_key: str) -> Ended:
    """The runs of this data that ended (completed, or failed with a recorded reason), by
    candidate key and seed index; the first one wins if a seed was run twice."""
    out: Ended = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)):
        attrs = t.user_attrs
        if attrs.get(keys.DATA_KEY) != data_key or keys.CANDIDATE_KEY not in attrs:
            continue
        if t.state == TrialState.FAIL and not filters.failure_recorded(t):
            continue  # interrupted: not ended, run again
        runs = out.setdefault(attrs[keys.CANDIDATE_KEY], {})
        runs.setdefault(int(attrs[keys.SEED_INDEX]), {"state": t.state.name, "number": t.number, **attrs})
    return out


# ---------------------------------------------------------------------------------------------
# Running


class RunFailedError(Exception):
    """Raised by the objective after recording why a run failed; Optuna marks it FAIL and goes on."""


class _RunObjective:
    """The Optuna objective of a ranking: trial k trains the k-th pending (candidate, seed) run."""

    def __init__(self, pending: list[tuple[Candidate, int]], data: ImageData, device: torch.device,
                 stream: bool, data_key: str, config: RankConfig, stop: StopOnSignal,
                 shifted: dict[str, torch.Tensor] | None = None) -> None:
        self.pending, self.data, self.device, self.stream, self.shifted = pending, data, device, stream, shifted
        self.data_key, self.config, self.stop = data_key, config, stop
        self.next = 0

    def __call__(self, trial: optuna.Trial) -> float:
        record = RecordWriter(trial)
        try:
            value = self._run(trial, record)
        except BaseException:
            with contextlib.suppress(Exception):  # the reason staged; a refusing storage must not hide the error
                record.flush()
            raise
        record.flush()  # the run's results: one storage call
        return value

    def _run(self, trial: optuna.Trial, record: RecordWriter) -> float:
        self.stop.check()
        candidate, index = self.pending[self.next]
        self.next += 1
        seed = run_seed(self.config, index)
        record.stage({  # written with the first epoch's curve
            keys.CANDIDATE: candidate.name, keys.CANDIDATE_KEY: candidate.key, keys.DATA_KEY: self.data_key,
            keys.SEED_INDEX: index, keys.SEED: seed, keys.SPEC: candidate.spec.to_dict(),
            keys.ORIGIN: candidate.origin, keys.TRAIN: dataclasses.asdict(candidate.train),
            keys.DEVICE: str(self.device), keys.PRECISION: self.config.precision,
        })
        curve: list[dict[str, float]] = []

        @self.stop.deferred  # it writes the trial's curve: a stop waits for it
        def on_epoch(m: EpochMetrics) -> None:
            self.stop.check()
            curve.append(dataclasses.asdict(m))  # epoch, train_loss, val_loss, val_accuracy, seconds
            record.write({keys.CURVE: curve})

        train = candidate.train
        live = LiveProgress(f"{candidate.name} seed {index + 1}", None if train.seconds else train.epochs,
                            train.seconds, enabled=self.config.live)
        try:
            with live, self.stop.interruptible():  # cleared before the run's own line; stops at once
                ev = evaluate_spec(candidate.spec, self.data, candidate.train, device=self.device, seed=seed,
                                   on_epoch=on_epoch, stream=self.stream, test=self.config.test,
                                   compile=self.config.compile, precision=self.config.precision,
                                   shifted=self.shifted, live=live)
        except Exception as err:  # recorded with its reason; the ranking goes on
            if interrupted_by(err):  # a stop that a library wrapped (an import's RuntimeError): not a failure
                raise KeyboardInterrupt from err
            reason, trace = describe_failure(err)
            if trace is not None:
                record.stage({keys.TRACEBACK: trace})
            record.stage({keys.FAILURE_REASON: reason})
            raise RunFailedError(reason)  # noqa: B904 (the reason is recorded; the cause stays as context)
        record.stage(ev.row())
        record.stage({keys.IMAGES_PER_SECOND: ev.result.images_per_second})
        if ev.test is not None:
            record.stage({f"{keys.TEST_PREFIX}accuracy": ev.test.accuracy, f"{keys.TEST_PREFIX}loss": ev.test.loss,
                          f"{keys.TEST_PREFIX}balanced_accuracy": ev.test.balanced_accuracy,
                          f"{keys.TEST_PREFIX}macro_f1": ev.test.macro_f1})
        record.stage(catalogue.derived(record.values))
        return ev.result.val_accuracy


def _run_line(trial: FrozenTrial, done: int, total: int) -> str:
    a = trial.user_attrs
    head = f"[{done:>3}/{total}] {a.get(keys.CANDIDATE, '?'):<14} seed {a.get(keys.SEED_INDEX, '?'):>2}"
    if trial.state != TrialState.COMPLETE:
        return f"{head}  FAILED: {a.get(keys.FAILURE_REASON, 'interrupted')}"
    test = f"  test {a['test_accuracy']:6.1%}" if "test_accuracy" in a else ""
    return (f"{head}  acc {a['accuracy']:6.1%}{test}  params {human(a.get('params')):>6}  "
            f"flops {human(a.get('flops')):>6}  {a.get('train_seconds', 0):6.1f}s")


def data_key(data: ImageData) -> str:
    """What makes two rankings' data the same: the dataset, its input shape, its split and the
    training subset (when not the whole training split)."""
    c, h, w = data.input_shape
    subset = f"/train-{data.train_subset[0]}-{data.train_subset[2]}" if data.train_subset else ""
    return f"{data.name}/{c}x{h}x{w}/{data.split_id}{subset}"


def ranking_folder(config: RankConfig, study: StudyInfo | None) -> Path:
    """results_dir/name: the name given, else "<study>-rank" for a study's candidates, else "rank";
    results_dir defaults to the folder that holds the study's folder, else "results"."""
    if config.name is not None:
        name = check_folder_name(config.name, "ranking name", "name")
    else:  # a study's name comes from its storage, which anyone may have written
        name = check_folder_name(f"{study.name}-rank" if study is not None else "rank", "ranking name", "name")
    parent = config.results_dir or (str(study.folder.parent) if study is not None else "results")
    return Path(parent) / name


def _check_candidates(candidates: Sequence[Candidate], data: ImageData) -> None:
    """Refuse, before any training, candidates that cannot work on this data (one line each)."""
    c, h, w = data.input_shape
    problems = []
    for cand in candidates:
        try:
            validate_spec(cand.spec, (h, w), c)
        except SpecError as err:
            problems.append(f"{cand.name} ({cand.origin}): {err}")
    if problems:
        raise HarnessError(f"{len(problems)} candidate(s) cannot run on {data.name} ({c}x{h}x{w}): "
                           + "; ".join(problems))


def run_rank(candidates: Sequence[Candidate], config: RankConfig = RankConfig(), *, study: StudyInfo | None = None,
             data: ImageData | None = None, progress: Callable[[str], None] | None = print,
             argv: list[str] | None = None) -> Ranking:
    """Re-train every candidate `config.seeds` times (racing: more for those tied for the top),
    resuming what an earlier run of the same ranking finished; write the ranking's folder (runs.csv,
    rank.csv, rank.md, fidelity.csv, plots/, rank.html, run.json, rank.db); return the Ranking."""
    from harness.rank.report import write_ranking

    say = progress or (lambda _: None)
    config.check()
    folder = ranking_folder(config, study)  # a bad name is refused before anything is read or written
    if not candidates:
        raise HarnessError("nothing to rank: no candidates (harness.candidates_from_study, "
                           "candidates_from_presets or candidates_from_spec_files make them)")
    adjusted = [with_budget(c, epochs=config.epochs, seconds=config.seconds, factor=config.budget_factor,
                            crop_padding=config.crop_padding, flip=config.flip) for c in candidates]
    cands, notes = combine(adjusted)
    configure_cuda_allocator()
    device = resolve_device(config.device)
    config = dataclasses.replace(config, precision=resolve_precision(config.precision, device))
    if config.deterministic:
        set_deterministic()
    dataset = config.dataset or (study.dataset if study is not None else None) or DEFAULT_DATASET
    if data is None:
        data = config.data_options.load(dataset, progress=progress is not None)
    _check_candidates(cands, data)
    notes += _data_notes(study, data, config)
    if config.metric == "robust_accuracy" and config.robustness is not None:
        notes.append(f"ranked by robust accuracy: the mean validation accuracy on shifted copies "
                     f"({config.robustness.describe()}); mean, CI and P(best) are of it")
    data, placement = place_dataset(data, device, config.data_memory)
    folder.mkdir(parents=True, exist_ok=True)
    default = f"sqlite:///{(folder / 'rank.db').resolve()}"
    ref = resolve_storage(config.storage or os.environ.get(ENV_STORAGE) or default, folder)
    lock = SQLiteLock(ref).acquire()
    # A dead run is not queued again by the storage (retries=0): the plan runs every missing run.
    storage = open_storage(ref, retries=0)
    optuna_study = optuna.create_study(study_name=folder.name, storage=storage, direction="maximize",
                                       sampler=optuna.samplers.RandomSampler(seed=config.seed), load_if_exists=True)
    if ref.kind == "sqlite":
        fail_orphans(optuna_study)
    try:
        tracker = open_rank_tracker(config, folder, ref.display, cands, study, dataset, str(device))
    except HarnessError:  # a URI MLflow cannot write: refused before any run, the folder free again
        lock.release()
        raise
    # Runs on another kind of device or in another precision are other experiments: not reused.
    key = f"{data_key(data)}|{device.type}|{config.precision}"
    if config.robustness is not None:  # runs without the shifted evaluation cannot be ranked by it
        key += f"|robust {config.robustness.describe()}"
    info = _run_info(config, cands, study, data, dataset, device, placement.describe(), argv, ref.display)
    append_run_record(folder / "run.json", info)
    for note in notes:
        say(f"note: {note}")
    say(f"ranking {len(cands)} candidate(s) in {folder}: {data.describe()}, device {device} in {config.precision} "
        f"({placement.describe()}), {config.seeds} seed(s) each{' (racing)' if config.race else ''}")

    with tracking(tracker, optuna_study, [folder / "rank.csv", folder / "runs.csv"]):
        _run_pending(optuna_study, cands, key, data, device, placement.resident, config, say, tracker)
        lock.release()
        ranking = collect(folder, cands, ended_runs(optuna_study, key), config, info, notes)
        with contextlib.suppress(OSError):  # a full disk must not fail a finished ranking; rank.db has it
            write_ranking(ranking)
    return ranking


def _data_notes(study: StudyInfo | None, data: ImageData, config: RankConfig) -> list[str]:
    """What the user should know about the data beside the search's: another split, another subset."""
    notes = []
    if study is not None and study.split and data.split_id != study.split:
        notes.append(f"the search validated on another split of {study.dataset} ({study.split}, here "
                     f"{data.split_id}): its brief accuracies compare less directly")
    searched_on = (study.data_options or {}).get("train_images") if study is not None else None
    if searched_on and searched_on != config.data_options.train_images:
        notes.append(f"the search trained each trial on a {searched_on}-image subset; these runs train on "
                     f"{len(data.train_y)} images")
    return notes


def _run_pending(optuna_study: optuna.Study, cands: list[Candidate], key: str, data: ImageData,
                 device: torch.device, resident: bool, config: RankConfig, say: Callable[[str], None],
                 tracker: Tracker | None = None) -> None:
    """Run what the plan says is missing, one Optuna trial a run, until nothing is (racing may add
    seeds after each round), each handed to the MLflow tracker as it ends; Ctrl-C or kill stops
    between runs."""
    level = optuna.logging.get_verbosity()
    # Our line per run replaces Optuna's (and its warning per failed run, whose reason is in ours).
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    with StopOnSignal() as stop, contextlib.ExitStack() as restore:
        restore.callback(optuna.logging.set_verbosity, level)
        shifted = shifted_copies(data.val_x, config.robustness) if config.robustness else None
        out_of_time = {"stopped": False}
        while not out_of_time["stopped"]:
            ended = ended_runs(optuna_study, key)
            pending = plan_runs(cands, ended, config)
            if not pending:
                break
            done = sum(len(ended.get(c.key, {})) for c in cands)
            if done:
                say(f"{done} run(s) already ended; {len(pending)} to run"
                    + (" (racing: one more seed for each candidate still tied for the top)"
                       if all(i >= config.seeds for _, i in pending) else ""))
            counter = {"done": done, "total": done + len(pending)}

            def after_run(st: optuna.Study, trial: FrozenTrial, counter: dict[str, int] = counter) -> None:
                counter["done"] += 1
                say(_run_line(trial, counter["done"], counter["total"]))
                if tracker is not None:
                    tracker.log(trial)  # queued: never waits for MLflow, never fails the run
                stop.check()
                # A deadline (harness run): no run starts that would end after it, at the pace of the last.
                took = trial.duration.total_seconds() if trial.duration is not None else 0.0
                if config.deadline is not None and time.time() + took > config.deadline:
                    out_of_time["stopped"] = True
                    say(f"the ranking's time is spent: {counter['done']} of {counter['total']} runs ended")
                    st.stop()

            objective = _RunObjective(pending, data, device, not resident, key, config, stop, shifted)
            optuna_study.optimize(objective, n_trials=len(pending), catch=(RunFailedError,),
                                  callbacks=[after_run], gc_after_trial=False)


def collect(folder: Path, candidates: list[Candidate], ended: Ended, config: RankConfig,
            info: dict[str, Any], notes: list[str]) -> Ranking:
    """The Ranking from the ended runs: the runs table and the statistics."""
    from harness.rank.rank_tables import fidelity_table, rank_table, runs_frame

    runs = runs_frame(candidates, ended)
    # The loss predictor sums the same number of epochs for everyone: no more than the shortest run has.
    epochs = runs.loc[runs["state"] == "COMPLETE", "epochs"].dropna()
    loss_epochs = min(config.loss_epochs, int(epochs.min())) if len(epochs) else config.loss_epochs
    table, pairwise = rank_table(runs, candidates, alpha=config.alpha, confidence=config.confidence,
                                 seed=config.seed, loss_epochs=loss_epochs, metric=config.metric)
    fidelity = fidelity_table(table, loss_epochs=loss_epochs)
    return Ranking(folder=folder, candidates=candidates, runs=runs, table=table, pairwise=pairwise,
                   fidelity=fidelity, info=info, notes=notes)


def _run_info(config: RankConfig, cands: list[Candidate], study: StudyInfo | None, data: ImageData,
              dataset: str, device: torch.device, placement: str, argv: list[str] | None,
              storage: str = "") -> dict[str, Any]:
    budgets = sorted({c.budget for c in cands})
    return {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": safe_command(argv if argv is not None else sys.argv),
        "storage": storage,
        "study": str(study.folder) if study is not None else None,
        "dataset": {"ref": dataset, **data.info(), "summary": data.describe(), "placement": placement,
                    "options": dataclasses.asdict(config.data_options)},
        "budget": ", ".join(budgets),
        "seeds": config.seeds,
        "race": config.race,
        "max_seeds": config.max_seeds if config.race else None,
        "alpha": config.alpha,
        "confidence": config.confidence,
        "seed": config.seed,
        "candidates": [{"name": c.name, "origin": c.origin, "spec_id": c.spec.spec_id, "label": c.spec.label,
                        "budget": c.budget} for c in cands],
        "device": describe_device(device),
        "precision": config.precision,
        "deterministic": config.deterministic,
        "robustness": config.robustness.describe() if config.robustness else None,
        "metric": config.metric,
        "versions": versions(),
    }
