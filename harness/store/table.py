"""The trials table kept up to date as a study grows: `TrialsTable` holds one row per trial
(number, state, searched parameters, metrics) and its line of trials.csv, and on each `update`
builds only the rows of trials that are new or not finished yet.

A finished trial never changes (Optuna refuses to set anything on it), and Optuna lists a study's
trials in trial order, so the rows and CSV lines of the finished prefix are made once; an update
of a study of 10,000 trials then builds the few rows after it, not 10,000 rows rebuilt and
re-rendered (about 2 s on 2 cores). The columns change only when a
trial brings a parameter or shift not seen before; then every line is rendered again.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import TYPE_CHECKING, Any

import pandas as pd

from harness.store.record import catalogue, filters, keys

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

INTERRUPTED = "interrupted (not counted; the next run replaces it)"


def trial_row(t: FrozenTrial) -> dict[str, Any]:
    """The table row of trial `t`: number, state, its parameters, then the metrics it recorded;
    learning curves as JSON."""
    from optuna.trial import TrialState

    attrs = t.user_attrs
    row: dict[str, Any] = {"number": t.number, "state": t.state.name, **t.params}
    for col in catalogue.columns():
        if col in attrs:
            row[col] = attrs[col]
    for col in attrs:  # each shift's accuracy (harness.data.shifts), after the metrics
        if col.startswith(keys.ROBUST_PREFIX):
            row[col] = attrs[col]
    if t.state == TrialState.FAIL and not filters.failure_recorded(t):
        row[keys.FAILURE_REASON] = INTERRUPTED
    for name in keys.CURVES:  # per-epoch learning curves, as JSON
        if name in attrs:
            row[name] = json.dumps(attrs[name])
    return row


def _field(value: Any) -> Any:
    """A value as trials.csv writes it: nothing for a missing one, floats in full (as pandas)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return repr(value) if isinstance(value, float) else value


class TrialsTable:
    """One study's trials table, updated incrementally (see the module's docstring): `update`
    reads the study's trials, `frame` and `csv_text` give the table as of that update.

    The finished prefix of the trial list (the trials before the first one still running or
    queued) is kept as rows, names and CSV lines; an update builds only what comes after it."""

    def __init__(self) -> None:
        self._upto = 0  # trials[:upto] (in list order) are finished and in the prefix
        self._last: int | None = None  # the number of trials[upto - 1], to notice another study
        self._prefix_rows: list[dict[str, Any]] = []  # rows of the prefix (surplus trials left out)
        self._prefix_names: dict[tuple[str, ...], None] = {}  # the prefix's distinct name lists, in order
        self._prefix_lines: list[str] = []  # CSV lines of the first len(...) prefix rows, under _columns
        self._columns: list[str] = []
        self._tail: list[tuple[dict[str, Any], tuple[str, ...]]] = []  # after the prefix, as of the last update
        self._interned: dict[tuple[str, ...], tuple[str, ...]] = {}  # few distinct name lists
        self.trials: list[FrozenTrial] = []  # the study's trials as of the last update (surplus ones too)

    def _entry(self, t: FrozenTrial) -> tuple[dict[str, Any], tuple[str, ...]]:
        key = (*t.params, *(c for c in t.user_attrs if c.startswith(keys.ROBUST_PREFIX)))
        return trial_row(t), self._interned.setdefault(key, key)

    def update(self, study: optuna.Study) -> TrialsTable:
        """Read `study`'s trials: rows of trials after the finished prefix are built, the others kept."""
        trials = study.get_trials(deepcopy=False)
        if self._upto and (len(trials) < self._upto or trials[self._upto - 1].number != self._last):
            self.__init__()  # not the study this table has seen: build it afresh
        self.trials = trials
        i = self._upto
        while i < len(trials) and trials[i].state.is_finished():
            t = trials[i]
            if not filters.is_surplus(t):  # dropped unrun: another worker took the last place
                row, key = self._entry(t)
                self._prefix_rows.append(row)
                self._prefix_names.setdefault(key, None)
            i += 1
        if i != self._upto:
            self._upto, self._last = i, trials[i - 1].number
        self._tail = [self._entry(t) for t in trials[i:] if not filters.is_surplus(t)]
        columns = self.columns()
        if columns != self._columns:
            self._columns, self._prefix_lines = columns, []
        return self

    def columns(self) -> list[str]:
        """number, state, the searched parameters (in the order trials first asked for them), the
        metrics, each shift's accuracy, the curves."""
        params: dict[str, None] = {}
        robust: dict[str, None] = {}
        for key in [*self._prefix_names, *(key for _, key in self._tail)]:
            for name in key:
                (robust if name.startswith(keys.ROBUST_PREFIX) else params)[name] = None
        return ["number", "state", *params, *catalogue.columns(), *robust, *keys.CURVES]

    @property
    def rows(self) -> list[dict[str, Any]]:
        """The rows, in trial order."""
        return [*self._prefix_rows, *(row for row, _ in self._tail)]

    def __len__(self) -> int:
        return len(self._prefix_rows) + len(self._tail)

    def frame(self) -> pd.DataFrame:
        """The table as a DataFrame (whole-number columns as Int64)."""
        frame = pd.DataFrame(self.rows, columns=self._columns or self.columns())
        for col in catalogue.integer_columns():  # pandas' nullable Int64: no "3.0" for a count
            frame[col] = frame[col].astype("Int64")
        return frame

    def csv_text(self) -> str:
        """The table as trials.csv holds it (header, then one line per trial; CSV quoting)."""
        lines, columns = self._prefix_lines, self._columns
        lines.extend(self._render([row.get(c) for c in columns]) for row in self._prefix_rows[len(lines):])
        tail = [self._render([row.get(c) for c in columns]) for row, _ in self._tail]
        return "".join([self._render(columns), *lines, *tail])

    @staticmethod
    def _render(values: list[Any]) -> str:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow([_field(v) for v in values])
        return buffer.getvalue()
