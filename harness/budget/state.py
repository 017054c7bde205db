"""RunState (state.json of a budgeted run: the plan, the seconds spent, each stage's decisions and
whether it ended) and BudgetClock (the seconds spent, carried across interruptions).

A budget is wall-clock time of the run's own processes: Ctrl-C or a kill stops the clock, and the
same command resumes with what is left. The clock saves the seconds spent every SAVE_EVERY_S from
a background thread (a kill loses at most that much of the count, never the run's work) and at
every stage's end.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.budget.plan import BudgetPlan
from harness.errors import HarnessError
from harness.files import write_text

STATE = "state.json"
SAVE_EVERY_S = 5.0


@dataclass
class RunState:
    """What a budgeted run has decided and done so far (state.json)."""

    key: dict[str, Any]  # what makes a folder this run's: space, dataset, budget
    plan: BudgetPlan
    spent_s: float = 0.0
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)  # stage -> its decisions, "done", seconds

    def to_json(self) -> str:
        return json.dumps({"key": self.key, "plan": self.plan.as_dict(), "spent_s": self.spent_s,
                           "stages": self.stages}, indent=2, default=str) + "\n"

    @classmethod
    def read(cls, path: Path) -> RunState | None:
        """The state at `path`; None when there is none; a damaged file is one HarnessError line."""
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
            return cls(data["key"], BudgetPlan.from_dict(data["plan"]), float(data["spent_s"]), dict(data["stages"]))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as err:
            raise HarnessError(f"{path}: damaged ({type(err).__name__}); move it away to start the run again"
                               ) from None

    def stage(self, name: str) -> dict[str, Any]:
        """The record of stage `name` (made empty the first time)."""
        return self.stages.setdefault(name, {})


class BudgetClock:
    """Seconds spent by this run, its earlier invocations included; saves `state` to `path` as it goes."""

    def __init__(self, state: RunState, path: Path, started: float | None = None) -> None:
        """`started`: time.monotonic() when this invocation began (default: now)."""
        self.state, self.path = state, path
        self._base = state.spent_s
        self._start = time.monotonic() if started is None else started
        self._lock = threading.Lock()
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._tick, name="budget-clock", daemon=True)

    def spent(self) -> float:
        return self._base + time.monotonic() - self._start

    def left(self) -> float:
        """Seconds of the budget not yet spent (negative when over)."""
        return self.state.plan.budget_s - self.spent()

    def save(self) -> None:
        """Write state.json now, with the seconds spent so far."""
        with self._lock:
            self.state.spent_s = self.spent()
            write_text(self.path, self.state.to_json())

    def _tick(self) -> None:
        while not self._halt.wait(SAVE_EVERY_S):
            # A full disk: the stage that meets it says so; the count waits for room.
            with contextlib.suppress(OSError):
                self.save()

    def __enter__(self) -> BudgetClock:
        self.save()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._halt.set()
        self._thread.join()
        try:
            self.save()
        except OSError:
            if exc[0] is None:
                raise
