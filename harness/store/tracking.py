"""MLflow tracking of a study or a ranking: experiment -> one parent run -> one child run per ended
trial; `tracking`, the context around a study's or a ranking's trials that backfills and ends it.

In MLflow, the experiment is the study's (or the ranking's) name. The parent run holds the settings
as params and is found again by its tags `harness.kind` (search | rank) and `harness.source` (the
Optuna storage and study name), so every run of the same command, and every worker, logs into the
same one. Each ended trial (complete, pruned, or failed with a reason) becomes a child run (tag
`mlflow.parentRunId`, `harness.trial` = its number): params, final metrics, the per-epoch curve
(step = epoch), the spec as `spec.yaml`, tags with its state and failure reason. Children are
looked up by trial number, so a run again logs only what is missing, and what an earlier run could
not log (a child left half-written is written again).

Never in a trial's way: the calls to MLflow run on one background thread, in order; the first
exception there warns once (TrackerWarning) and the tracker stops trying. Opening one checks that
the URI can be written (the experiment and the parent run made or found): a HarnessError if not.
mlflow itself is imported only when a tracker opens (the CLI starts without it).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import queue
import re
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError, TrackerWarning
from harness.store.record import catalogue, filters, keys
from harness.store.storage import redact

if TYPE_CHECKING:
    import optuna
    from mlflow import MlflowClient
    from optuna.trial import FrozenTrial

IN_FOLDER = "folder"  # `--mlflow` without a URI: the store inside the results folder (tracking_uri)
STORE_FILE = "mlflow.db"  # MLflow 3 refuses its old file store (./mlruns); SQLite is what it recommends
ARTIFACT_DIR = "mlartifacts"  # beside the SQLite file: spec.yaml of each child run
INSTALL_HINT = "pip install 'harness[mlflow]'"
CLOSE_WAIT_S = 30.0  # at the end, how long to wait for the logging still queued (s)
STOP_WAIT_S = 5.0  # after Ctrl-C or kill, how long the queued logging may still take (s)
# A tracker that does not answer must cost a trial nothing and the start seconds, not MLflow's
# default of 7 retries over about two minutes; settings the user made win (os.environ.setdefault).
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                 "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
# Loggers whose records our one-line warning replaces (MLflow logs a traceback per database error,
# urllib3 a line per retry); raised to CRITICAL while a tracker is open.
QUIET_LOGGERS = ("mlflow", "urllib3.connectionpool", "alembic")
# Numeric user attributes that are settings or links, not results: params or tags instead (the
# catalogue says which; a ranking's run adds its seed index).
NOT_METRICS = {keys.SEED_INDEX, *catalogue.tracked_as("param"), *catalogue.tracked_as("tag"),
               *catalogue.tracked_as("none")}
# MLflow's limits (mlflow.utils.validation): per log_batch call, and on a key and a value.
MAX_METRICS, MAX_PARAMS_TAGS, MAX_KEY, MAX_PARAM, MAX_TAG = 1000, 100, 250, 6000, 8000
ENDED = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}  # Optuna state -> MLflow run status
TERMINATED = ("FINISHED", "KILLED", "FAILED")


def tracking_uri(uri: str, folder: Path) -> str:
    """The MLflow tracking URI `uri` names: IN_FOLDER is sqlite:///<folder>/mlflow.db (absolute);
    anything else is passed to MLflow as it is."""
    if uri == IN_FOLDER:
        return f"sqlite:///{(folder / STORE_FILE).resolve()}"
    return uri


def artifact_location(uri: str) -> str | None:
    """Where a new experiment keeps its artifacts: beside a SQLite store's file (MLflow's own default
    is ./mlruns under the current directory); for a server, None (the server decides)."""
    if uri.startswith("sqlite:///"):
        return (Path(uri[len("sqlite:///"):]).parent / ARTIFACT_DIR).resolve().as_uri()
    return None


@dataclass(frozen=True)
class ParentRun:
    """The run a study or ranking logs into: its experiment, kind (search | rank), what identifies
    it (the storage and study name, with any password hidden), its params and further tags."""

    experiment: str
    kind: str
    source: str
    params: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    what: str = "trials"  # what goes on when the tracker is down (the warning says it)


@dataclass
class RunRecord:
    """One child run: the trial's number, run name and status, params, final metrics, per-epoch
    metrics as (key, value, step, timestamp in ms), tags, the spec as YAML, start and end (ms)."""

    number: int
    name: str
    status: str
    params: dict[str, str]
    metrics: dict[str, float]
    steps: list[tuple[str, float, int, int]]
    tags: dict[str, str]
    spec_yaml: str | None = None
    start_ms: int | None = None
    end_ms: int | None = None


def ended(trial: FrozenTrial) -> bool:
    """Whether a trial is logged: complete, pruned, or failed with a recorded reason (an
    interrupted one is run again, and a surplus one never ran)."""
    state = trial.state.name
    if filters.is_surplus(trial) or state not in ENDED:
        return False
    return state != "FAIL" or filters.failure_recorded(trial)


def trial_record(trial: FrozenTrial, name: str, params: dict[str, Any], spec_yaml: str | None,
                 tags: dict[str, Any] | None = None) -> RunRecord:
    """The child run of an ended trial: `params` (values as text); every finite numeric user
    attribute but NOT_METRICS as a final metric; its `curve` (one dict per epoch) as per-epoch
    metrics at step = epoch, stamped with the trial's start plus the training seconds; tags:
    state, failure or pruning reason, infeasible, reused_from, label, spec_id and `tags`."""
    attrs = trial.user_attrs
    start = _ms(trial.datetime_start)
    end = _ms(trial.datetime_complete)
    steps: list[tuple[str, float, int, int]] = []
    for index, point in enumerate(filters.curve_of(trial), start=1):
        epoch = int(point.get("epoch", index))
        stamp = (start or 0) + int(1000 * float(point.get("seconds") or 0.0))
        for key, value in point.items():
            if key != "epoch" and _finite(value):
                steps.append(("train_seconds" if key == "seconds" else key, float(value), epoch, stamp))
    stepped = {key for key, *_ in steps}
    metrics = {key: float(value) for key, value in attrs.items()
               if key not in NOT_METRICS and key not in stepped and _finite(value)}
    tag_values = {"state": trial.state.name, **{key: attrs[key] for key in catalogue.tracked_as("tag")
                                                if key in attrs}}
    tag_values.update(tags or {})
    return RunRecord(
        number=trial.number, name=name, status=ENDED.get(trial.state.name, "FAILED"),
        params={_key(k): str(v)[:MAX_PARAM] for k, v in params.items() if v is not None},
        metrics={_key(k): v for k, v in metrics.items()}, steps=[(_key(k), v, s, t) for k, v, s, t in steps],
        tags={_key(k): str(v)[:MAX_TAG] for k, v in tag_values.items() if v is not None},
        spec_yaml=spec_yaml, start_ms=start, end_ms=end,
    )


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _ms(moment: Any) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


def _key(name: str) -> str:
    """`name` as an MLflow key: alphanumerics, _ - . space / only (others become _), 250 at most."""
    return re.sub(r"[^\w./ -]", "_", str(name))[:MAX_KEY]


def reason_of(err: BaseException) -> str:
    """A short reason for an MLflow failure: the OS error it ends in ("[Errno 111] Connection
    refused"), else the first line of its message (MLflow's carry the SQL or the whole request)."""
    text = str(err).strip() or type(err).__name__
    errno = re.findall(r"\[Errno -?\d+\] [^'\")\]]+", text)
    if errno:
        return errno[-1].strip()
    line = text.splitlines()[0]
    return line if len(line) <= 200 else line[:197] + "..."


def import_mlflow() -> None:
    """Import mlflow and set cheap HTTP retries (HTTP_DEFAULTS); a HarnessError naming the extra to
    install when it is missing."""
    for name, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(name, value)
    try:
        import mlflow  # noqa: F401  (configures its loggers, which QUIET_LOGGERS then quiets)
    except ImportError as err:
        raise HarnessError(f"--mlflow needs the mlflow package ({err}): {INSTALL_HINT}") from None


class Tracker:
    """A parent run and the child runs logged into it from a background thread (`log`, `backfill`);
    `close` waits for them and ends the parent run. Open one with `Tracker.open`."""

    def __init__(self, client: MlflowClient, shown: str, experiment_id: str, parent_id: str, owner: bool,
                 record: Callable[[FrozenTrial], RunRecord], what: str, levels: dict[str, int]) -> None:
        self.client, self.shown, self.experiment_id, self.parent_id = client, shown, experiment_id, parent_id
        self.owner, self.record, self.what, self.levels = owner, record, what, levels
        self.down = False
        self.children: dict[int, tuple[str, str]] | None = None  # trial number -> (run id, status)
        self.jobs: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self.thread = threading.Thread(target=self._work, name="harness-mlflow", daemon=True)
        self.thread.start()

    @classmethod
    def open(cls, uri: str, folder: Path, parent: ParentRun, record: Callable[[FrozenTrial], RunRecord],
             owner: bool = True) -> Tracker:
        """Find or make the experiment and the parent run at `uri` (IN_FOLDER: the store in `folder`);
        `owner` (the process that started the study, not one of its workers) marks the parent
        running and ends it at `close`. A HarnessError when the URI cannot be written."""
        if uri == IN_FOLDER:
            folder.mkdir(parents=True, exist_ok=True)
        full = tracking_uri(uri, folder)
        shown = redact(full)
        import_mlflow()
        from mlflow import MlflowClient

        levels = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.CRITICAL)
        try:
            client = MlflowClient(tracking_uri=full)
            experiment_id = _experiment(client, parent.experiment, artifact_location(full))
            parent_id = _parent_run(client, experiment_id, parent, owner)
        except HarnessError as err:
            _restore(levels)
            raise HarnessError(f"--mlflow {shown}: {err}") from None
        except Exception as err:  # noqa: BLE001  (any failure of the store or the server)
            _restore(levels)
            raise HarnessError(f"--mlflow {shown}: MLflow cannot write there ({reason_of(err)}); give a "
                               "tracking URI it can, like sqlite:///PATH/mlflow.db or http://HOST:PORT") from None
        return cls(client, shown, experiment_id, parent_id, owner, record, parent.what, levels)

    # -------------------------------------------------------------------- in the caller's thread
    def log(self, trial: FrozenTrial) -> None:
        """Queue the child run of `trial` if it ended (see `ended`); returns at once."""
        if not self.down and ended(trial):
            self.jobs.put(lambda: self._log_trial(trial))

    def backfill(self, trials: Iterable[FrozenTrial]) -> None:
        """Queue the child runs of the ended `trials` that the store lacks (ended before this run,
        or missed while the tracker was down); returns at once."""
        if not self.down:
            done = [t for t in trials if ended(t)]
            self.jobs.put(lambda: [self._log_trial(t) for t in done if not self.down])

    def close(self, status: str = "FINISHED", artifacts: Iterable[Path] = (), wait_s: float | None = None) -> None:
        """Wait (`wait_s`, default CLOSE_WAIT_S, at most) for the queued runs; as the owner, add
        `artifacts` (files) to the parent run and end it with `status` (FINISHED, KILLED or FAILED)."""
        files = [p for p in artifacts if p.is_file()]
        if self.owner:
            self.jobs.put(lambda: self._end_parent(status, files))
        self.jobs.put(None)
        wait_s = CLOSE_WAIT_S if wait_s is None else wait_s
        self.thread.join(wait_s)
        if self.thread.is_alive() and not self.down:
            self.down = True  # the thread drops what is left; the next run logs it (backfill)
            self._warn(f"MLflow at {self.shown} is still busy after {wait_s:.0f} s: {self.what} it missed are "
                       "logged by the next run")
        _restore(self.levels)

    # -------------------------------------------------------------------- in the background thread
    def _work(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            if self.down:
                continue
            try:
                job()
            except Exception as err:  # noqa: BLE001  (the tracker is down, or refuses: trials go on)
                self.down = True
                self._warn(f"MLflow at {self.shown} is not answering ({reason_of(err)}): "
                           f"{self.what} go on without it")

    def _warn(self, message: str) -> None:
        warnings.warn(TrackerWarning(message), stacklevel=1)

    def _known_children(self) -> dict[int, tuple[str, str]]:
        """Trial number -> (run id, status) of the parent's child runs, read once."""
        if self.children is None:
            self.children = {}
            token = None
            while True:
                page = self.client.search_runs([self.experiment_id], f"tags.`mlflow.parentRunId` = '{self.parent_id}'",
                                               max_results=1000, page_token=token)
                for run in page:
                    number = run.data.tags.get("harness.trial")
                    if number is not None and number.isdigit():
                        self.children[int(number)] = (run.info.run_id, run.info.status)
                token = page.token
                if not token:
                    break
        return self.children

    def _log_trial(self, trial: FrozenTrial) -> None:
        """Write the child run of `trial`, unless the store has it whole; a half-written one (still
        RUNNING: the tracker went down while writing it) is deleted and written again."""
        from mlflow.entities import Metric, Param, RunTag

        children = self._known_children()
        old = children.get(trial.number)
        if old is not None:
            if old[1] in TERMINATED:
                return
            self.client.delete_run(old[0])
        rec = self.record(trial)
        client = self.client
        tags = {**rec.tags, "mlflow.parentRunId": self.parent_id, "harness.trial": str(rec.number)}
        run = client.create_run(self.experiment_id, start_time=rec.start_ms, run_name=rec.name,
                                tags={"harness.trial": str(rec.number), "mlflow.parentRunId": self.parent_id})
        run_id = run.info.run_id
        children[rec.number] = (run_id, "RUNNING")
        stamp = rec.end_ms or int(time.time() * 1000)
        metrics = [Metric(k, v, stamp, 0) for k, v in rec.metrics.items()]
        metrics += [Metric(k, v, t, s) for k, v, s, t in rec.steps]
        for i in range(0, len(metrics), MAX_METRICS):
            client.log_batch(run_id, metrics=metrics[i:i + MAX_METRICS])
        pairs = [Param(k, v) for k, v in rec.params.items()]
        for i in range(0, len(pairs), MAX_PARAMS_TAGS):
            client.log_batch(run_id, params=pairs[i:i + MAX_PARAMS_TAGS])
        labels = [RunTag(k, v) for k, v in tags.items()]
        for i in range(0, len(labels), MAX_PARAMS_TAGS):
            client.log_batch(run_id, tags=labels[i:i + MAX_PARAMS_TAGS])
        if rec.spec_yaml is not None:
            client.log_text(run_id, rec.spec_yaml, "spec.yaml")
        client.set_terminated(run_id, rec.status, end_time=rec.end_ms)
        children[rec.number] = (run_id, rec.status)

    def _end_parent(self, status: str, files: list[Path]) -> None:
        for path in files:
            self.client.log_artifact(self.parent_id, str(path))
        self.client.set_terminated(self.parent_id, status)


def _restore(levels: dict[str, int]) -> None:
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def _experiment(client: MlflowClient, name: str, artifacts: str | None) -> str:
    """The id of experiment `name`, made when missing (a worker may make it at the same moment)."""
    found = client.get_experiment_by_name(name)
    if found is None:
        try:
            return client.create_experiment(name, artifact_location=artifacts)
        except Exception:
            found = client.get_experiment_by_name(name)  # made by another process meanwhile
            if found is None:
                raise
    if found.lifecycle_stage != "active":
        raise HarnessError(f"its experiment {name!r} was deleted; restore it (mlflow experiments restore "
                           f"--experiment-id {found.experiment_id}) or remove it for good (mlflow gc)")
    return found.experiment_id


def _parent_run(client: MlflowClient, experiment_id: str, parent: ParentRun, owner: bool) -> str:
    """The id of the parent run with `parent`'s kind and source, made when missing; its params are
    the first run's, a later run's changed values go to `latest.<key>` tags (MLflow params cannot change)."""
    from mlflow.entities import Param, RunTag

    runs = client.search_runs([experiment_id], f"tags.`harness.kind` = '{parent.kind}'", max_results=1000)
    run = next((r for r in runs if r.data.tags.get("harness.source") == parent.source), None)
    tags = {"harness.kind": parent.kind, "harness.source": parent.source, **parent.tags}
    if run is None:
        run = client.create_run(experiment_id, run_name=parent.experiment, tags=tags)
    elif owner:
        client.update_run(run.info.run_id, status="RUNNING")
    run_id = run.info.run_id
    old = run.data.params
    params = {_key(k): str(v)[:MAX_PARAM] for k, v in parent.params.items() if v is not None}
    new = [Param(k, v) for k, v in params.items() if k not in old]
    changed = {f"latest.{k}": v for k, v in params.items() if k in old and old[k] != v}
    labels = [RunTag(_key(k), str(v)[:MAX_TAG]) for k, v in {**tags, **changed}.items()]
    for i in range(0, len(new), MAX_PARAMS_TAGS):  # params and tags together count towards the limit
        client.log_batch(run_id, params=new[i:i + MAX_PARAMS_TAGS])
    for i in range(0, len(labels), MAX_PARAMS_TAGS):
        client.log_batch(run_id, tags=labels[i:i + MAX_PARAMS_TAGS])
    return run_id


@contextlib.contextmanager
def tracking(tracker: Tracker | None, study: optuna.Study, files: Iterable[Path] = ()) -> Iterator[None]:
    """Around the trials: the starting process backfills the ended trials the store lacks (earlier
    runs', or missed while it was down); at the end the parent run gets `files` and ends FINISHED,
    KILLED (Ctrl-C, kill) or FAILED."""
    if tracker is None:
        yield
        return
    if tracker.owner:
        tracker.backfill(study.get_trials(deepcopy=False))
    status = "FAILED"
    try:
        yield
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        tracker.close(status, files, wait_s=None if status == "FINISHED" else STOP_WAIT_S)
