"""Storages: a `--storage` value -> StorageRef (kind, URL, what may be shown) -> an Optuna storage.

Three kinds, one behaviour:
  - SQLite (the default, `results/<study>/study.db`): one process at a time. A lock file beside
    the database makes a second process on it stop with a message that points to the two kinds
    below, instead of failing later with "database is locked";
  - a journal file (`journal` = `results/<study>/study.journal`, or `journal:PATH`): Optuna's
    JournalStorage, for several processes on one machine (file locks, no server);
  - PostgreSQL (`postgresql://user:password@host:port/db`, or any SQLAlchemy URL): several
    machines on one study.
Every kind gets heartbeats: a running trial records one every `interval` seconds, and a trial
whose process died (no heartbeat for `grace` seconds) is marked failed and queued again with the
same parameters (Optuna's RetryHeartbeatStaleTrialCallback). RDBStorage has heartbeats built in;
for the journal, `HeartbeatJournalStorage` adds them through Optuna's own heartbeat interface.

A storage file is checked before it is opened, or anything is made beside it (harness.store.damage):
a study.db that is no database or is cut short, or a journal damaged in the middle, is one line;
a journal whose last record a crash cut off is read up to it, and moved aside by the next process
that appends to it (harness.store.journal).

A password in a URL is never shown: `StorageRef.display` and `redact` replace it with ***.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import JournalStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.trial import FrozenTrial, TrialState

from harness.errors import HarnessError, SettingError
from harness.files import open_lock
from harness.store.damage import check_sqlite, journal_damage

HEARTBEAT_INTERVAL_S = 10  # a running trial records a heartbeat this often (s)
GRACE_FACTOR = 3  # a trial with no heartbeat for GRACE_FACTOR intervals is dead
MAX_RETRIES = 3  # a dead trial is queued again at most this many times
HEARTBEAT_ATTR = "harness:heartbeat"  # journal trials: last heartbeat (Unix time, s)
ENV_STORAGE = "HARNESS_STORAGE"  # a storage URL from the environment keeps passwords off command lines
FORMS = ("sqlite:///PATH", "journal", "journal:PATH", "postgresql://USER:PASSWORD@HOST:PORT/DB")


@dataclass(frozen=True)
class StorageRef:
    """Where a study lives: kind ("sqlite", "journal" or "rdb"), the full URL or path, and the file."""

    kind: str
    url: str  # may hold a password: never print it, use `display`
    path: Path | None = None  # the SQLite or journal file

    @property
    def display(self) -> str:
        """The URL with any password replaced by ***."""
        return redact(self.url)

    @property
    def multi_process(self) -> bool:
        """Whether several processes may share it (journal, PostgreSQL), unlike SQLite."""
        return self.kind != "sqlite"


def _credentials(url: str) -> tuple[str, str, str | None, str] | None:
    """(scheme, user, password or None, host part) of a URL with credentials; None without them."""
    if "://" not in url or "@" not in url.split("://", 1)[1]:
        return None
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user, _, password = credentials.partition(":")
    return scheme, user, password if _ else None, host


def redact(url: str) -> str:
    """`url` with the password (if any) replaced by ***; anything else unchanged."""
    parts = _credentials(url)
    if parts is None or parts[2] is None:
        return url
    scheme, user, _, host = parts
    return f"{scheme}://{user}:***@{host}"


def password_of(url: str) -> str | None:
    """The password in `url`, to scrub it from error messages; None when there is none."""
    parts = _credentials(url)
    return None if parts is None else parts[2]


def scrub(text: str, url: str) -> str:
    """`text` with `url`'s password replaced by *** wherever it appears."""
    secret = password_of(url)
    return text.replace(secret, "***") if secret else text


def resolve_storage(value: str | None, folder: Path) -> StorageRef:
    """The storage a `--storage` value names (None: $HARNESS_STORAGE, else folder/study.db)."""
    value = value if value is not None else os.environ.get(ENV_STORAGE) or None
    if value is None:
        path = (folder / "study.db").resolve()
        return StorageRef("sqlite", f"sqlite:///{path}", path)
    if value == "journal":
        path = (folder / "study.journal").resolve()
        return StorageRef("journal", f"journal:{path}", path)
    if value.startswith("journal:"):
        path = Path(value[len("journal:"):]).expanduser().resolve()
        return StorageRef("journal", f"journal:{path}", path)
    if value.startswith("sqlite:///"):
        path = Path(value[len("sqlite:///"):]).expanduser().resolve()
        return StorageRef("sqlite", f"sqlite:///{path}", path)
    if "://" in value:
        return StorageRef("rdb", value)
    raise SettingError(f"{{storage}} {redact(value)}: not a storage; use one of {', '.join(FORMS)}", "storage")


class HeartbeatJournalStorage(JournalStorage, BaseHeartbeat):
    """Optuna's JournalStorage with heartbeats, recorded as a trial system attribute: Optuna's
    optimize loop then runs the heartbeat thread, fails stale trials and retries them, as it does
    for RDBStorage. The journal lives on one machine, so its clock is the only one."""

    def __init__(self, path: Path, interval: int, grace: int,
                 stale_callback: Callable[[optuna.Study, FrozenTrial], None] | None) -> None:
        super().__init__(_journal_backend(path, mend=True))  # it runs trials: it appends
        self._interval, self._grace, self._stale_callback = interval, grace, stale_callback

    def record_heartbeat(self, trial_id: int) -> None:
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
            self.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, time.time())

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        now = time.time()
        stale = []
        for t in self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)):
            # A retried trial inherits its predecessor's heartbeat: its own start counts too.
            started = t.datetime_start.timestamp() if t.datetime_start else 0.0
            last = max(float(t.system_attrs.get(HEARTBEAT_ATTR, 0.0)), started)
            if now - last > self._grace:
                stale.append(t._trial_id)
        return stale

    def get_heartbeat_interval(self) -> int | None:
        return self._interval

    def get_heartbeat_stale_trial_callback(self) -> Callable[[optuna.Study, FrozenTrial], None] | None:
        return self._stale_callback


def open_storage(ref: StorageRef, heartbeat: int | None = HEARTBEAT_INTERVAL_S,
                 retries: int = MAX_RETRIES) -> optuna.storages.BaseStorage:
    """The Optuna storage for `ref`, with heartbeats every `heartbeat` seconds (None: none) and a
    dead trial queued again up to `retries` times. A missing driver or an unreachable server is a
    HarnessError (with the password scrubbed), and so is a damaged storage file. A storage with
    heartbeats runs trials, so it appends: a journal's torn last record is moved aside first; one
    without is read (a report, an export): the torn record is skipped, saying so."""
    grace = None if heartbeat is None else heartbeat * GRACE_FACTOR
    with warnings.catch_warnings():
        # Heartbeats and the retry callback are marked experimental in Optuna 5; they are its
        # documented way to fail and re-run the trials of a dead process.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        callback = RetryHeartbeatStaleTrialCallback(max_retry=retries) if heartbeat is not None else None
        if ref.kind == "journal":
            assert ref.path is not None
            try:
                if heartbeat is None:
                    return JournalStorage(_journal_backend(ref.path, mend=False))
                return HeartbeatJournalStorage(ref.path, heartbeat, heartbeat * GRACE_FACTOR, callback)
            except (ValueError, KeyError, TypeError, IndexError):  # Optuna's replay of a damaged line
                raise journal_damage(ref.path) from None
        if ref.kind == "sqlite" and ref.path is not None:
            check_sqlite(ref.path)
        # SQLite: wait up to 60 s for a lock rather than fail at once; a server: check a pooled
        # connection before use, so that a restarted server does not break a long study.
        engine: dict[str, Any] = ({"connect_args": {"timeout": 60}} if ref.kind == "sqlite"
                                  else {"pool_pre_ping": True})
        try:
            return _rdb_storage(ref.url, engine_kwargs=engine, heartbeat_interval=heartbeat,
                                grace_period=grace, heartbeat_stale_trial_callback=callback)
        except ModuleNotFoundError as err:
            raise SettingError(f"{{storage}} {ref.display}: the database driver is not installed ({err.name}); "
                               "for PostgreSQL: pip install 'harness[postgres]' (psycopg)", "storage") from None
        except ImportError as err:  # Optuna's word for a missing driver
            raise SettingError(f"{{storage}} {ref.display}: {err} For PostgreSQL: pip install 'harness[postgres]' "
                               "(psycopg)", "storage") from None
        except Exception as err:  # a server that is down, a wrong password, a bad URL, a full disk
            from harness.store.faults import describe

            first = scrub(str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__, ref.url)
            fault = describe(err, ref.path.parent if ref.path else None, ref.display)
            raise HarnessError(scrub(fault, ref.url) if fault else f"cannot open the storage {ref.display}: {first}"
                               ) from None


# Workers started together on an empty database all create Optuna's tables at once; PostgreSQL
# lets one win and fails the others ("duplicate key ... pg_type", "already exists"). A loser tries
# again and finds the tables made: this many attempts, a random pause of up to 0.5 s x attempt.
SCHEMA_ATTEMPTS = 5


def _rdb_storage(url: str, **kwargs: Any) -> optuna.storages.RDBStorage:
    """RDBStorage(url, **kwargs), tried again when it lost a race to create the schema."""
    from sqlalchemy.exc import IntegrityError, ProgrammingError

    for attempt in range(1, SCHEMA_ATTEMPTS + 1):
        try:
            return optuna.storages.RDBStorage(url, **kwargs)
        except (IntegrityError, ProgrammingError) as err:
            raced = "duplicate key" in str(err) or "already exists" in str(err)
            if not raced or attempt == SCHEMA_ATTEMPTS:
                raise
            time.sleep(random.uniform(0.1, 0.5) * attempt)
    raise AssertionError("unreachable")


def _journal_backend(path: Path, mend: bool) -> Any:
    """The journal file at `path`; `mend`: this process appends (see harness.store.journal)."""
    from harness.store.journal import MendingJournalBackend

    return MendingJournalBackend(path, mend)


class SQLiteLock:
    """An exclusive lock on a SQLite study for one process: a second process is refused with a
    message that points to the storages made for several processes. Held until `release` (or
    the process ends: the OS drops the lock of a killed process)."""

    def __init__(self, ref: StorageRef) -> None:
        self.ref = ref
        self._file: Any = None

    def acquire(self) -> SQLiteLock:
        if self.ref.kind != "sqlite" or self.ref.path is None:
            return self
        check_sqlite(self.ref.path)  # a damaged study.db: refused before the lock is made beside it
        lock = self.ref.path.with_name(f".{self.ref.path.name}.lock")  # hidden: not a result to look at
        lock.parent.mkdir(parents=True, exist_ok=True)
        self._file = open_lock(lock)
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.seek(0)
            holder = self._file.read().strip() or "another process"
            self._file.close()
            self._file = None
            raise HarnessError(
                f"{self.ref.path} is in use by {holder}: an SQLite study takes one process at a time. For "
                "several workers use {storage='journal'} (a journal file beside it, one machine) or "
                "{storage='postgresql://...'} (several machines); see the README's \"Scaling out\"",
                settings=("storage",)) from None
        self._file.seek(0)
        self._file.truncate()
        self._file.write(f"harness pid {os.getpid()}\n")
        self._file.flush()
        return self

    def release(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def __enter__(self) -> SQLiteLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def fail_orphans(study: optuna.Study) -> int:
    """Under the SQLite lock, no other process can be running a trial of this study: mark every
    RUNNING trial (left by a killed run) failed and queue it again, now rather than after the
    heartbeat's grace period. Returns how many."""
    storage = study._storage
    callback = storage.get_heartbeat_stale_trial_callback() if isinstance(storage, BaseHeartbeat) else None
    n = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
            if storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL):
                n += 1
                if callback is not None:
                    callback(study, storage.get_trial(t._trial_id))
    return n
