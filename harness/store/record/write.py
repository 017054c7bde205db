"""Writing a trial's record: `write_attrs` puts several user attributes down in one storage call
(one transaction on SQLite and PostgreSQL), `RecordWriter` gathers a trial's values between the
points where they must be on disk.

Optuna's `Trial.set_user_attr` is one transaction per attribute: about 5-15 ms each on SQLite
(a commit syncs the file) and a round trip on PostgreSQL, and a trial records some 40 values, so
a trial cost 0.3-0.45 s outside training before this (docs/performance.md, "A study that grows").
Optuna has no call for several attributes, so on an RDBStorage the attributes go into its table
in one session (committed once): on SQLite and PostgreSQL as one INSERT ... ON CONFLICT DO UPDATE
of all the rows (the statement Optuna itself uses for one row on SQLite), on another database
through Optuna's own per-attribute statement; any other storage (a journal, whose
log entries hold one attribute each, an in-memory study, a gRPC proxy) gets them one by one as
before. What is written is the same either way: the same rows, readable by any Optuna.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna


def _rdb_backend(storage: Any) -> Any | None:
    """The RDBStorage behind `storage` (Optuna wraps it in a cache), None for another kind, or when
    this Optuna lacks the pieces used here."""
    from optuna.storages import RDBStorage

    backend = getattr(storage, "_backend", storage)
    if isinstance(backend, RDBStorage) and all(hasattr(backend, name) for name in (
            "_set_trial_attr_without_commit", "check_trial_is_updatable", "scoped_session", "engine")):
        return backend
    return None


def write_attrs(trial: optuna.Trial, attrs: Mapping[str, Any]) -> None:
    """Set every user attribute of `attrs` on the running `trial`, in one transaction where the
    storage is a database (see the module's docstring); the trial's own copy is updated too."""
    if not attrs:
        return
    backend = _rdb_backend(trial.storage)
    if backend is None:
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        return
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    trial_id = trial._trial_id
    insert = _upsert_insert(backend.engine.name)
    with _create_scoped_session(backend.scoped_session, True) as session:
        if insert is None:  # another database: Optuna's own statement per value, still one transaction
            for key, value in attrs.items():
                backend._set_trial_attr_without_commit(session, models.TrialUserAttributeModel, trial_id, key, value)
        else:  # one statement for all the values: the trial looked up once, not once per value
            found = models.TrialModel.find_or_raise_by_id(trial_id, session)
            backend.check_trial_is_updatable(trial_id, found.state)
            table = models.TrialUserAttributeModel
            rows = [{"trial_id": trial_id, "key": key, "value_json": json.dumps(value)} for key, value in attrs.items()]
            statement = insert(table).values(rows)
            session.execute(statement.on_conflict_do_update(index_elements=[table.trial_id, table.key],
                                                            set_={"value_json": statement.excluded.value_json}))
    trial._cached_frozen_trial.user_attrs.update(attrs)


def _upsert_insert(dialect: str) -> Any | None:
    """The INSERT ... ON CONFLICT DO UPDATE of `dialect` (SQLite 3.24 and later, PostgreSQL: the rows
    Optuna writes, keyed by trial and key as its own statement keys them); None for another one."""
    import sqlite3

    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert

        return insert
    if dialect == "sqlite" and sqlite3.sqlite_version_info >= (3, 24, 0):
        from sqlalchemy.dialects.sqlite import insert

        return insert
    return None


class RecordWriter:
    """One running trial's record as it is written: `stage` keeps values until the next `flush`,
    `write` stages and flushes (one storage call for all that was staged); `values` is all of it
    so far, written or staged."""

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial = trial
        self._staged: dict[str, Any] = {}
        self.values: dict[str, Any] = {}

    def stage(self, values: Mapping[str, Any] | None = None, **more: Any) -> None:
        """Keep `values` (and `more`) for the next flush; a later value of a key wins."""
        self._staged.update(values or {}, **more)
        self.values.update(values or {}, **more)

    def flush(self) -> None:
        """Write what is staged in one storage call."""
        staged, self._staged = self._staged, {}
        write_attrs(self.trial, staged)

    def write(self, values: Mapping[str, Any] | None = None, **more: Any) -> None:
        """Stage `values` and flush."""
        self.stage(values, **more)
        self.flush()
