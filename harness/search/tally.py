"""Counts over a study's trials that read only what changed: `Tally` keeps the finished prefix of
the trial list (every trial before the first one still running or queued) counted once.

Optuna lists a study's trials in trial order and never changes a finished trial, so the prefix's
counts (ended trials; the first completed trial of each experiment) stay true as the study grows.
Before each trial a search asks how many trials ended, how many places are taken, whether the
experiment already ran: over 10,000 trials each question was a pass over all of them (about 30 ms
on 2 cores, several per trial); with the prefix it is a pass over the trials since the oldest
unfinished one, usually a handful.
"""

from __future__ import annotations

from collections.abc import Sequence

from optuna.trial import FrozenTrial, TrialState

from harness.search.search_config import counted, taken
from harness.store.record import filters


class Tally:
    """The finished prefix of one study's trial list, counted: `ended`, `taken`, `waiting` and
    `completed` answer for a list of that study's trials as read now (`study.get_trials`)."""

    def __init__(self) -> None:
        self._upto = 0  # trials[:upto] are finished and counted
        self._last: int | None = None  # the number of trials[upto - 1], to notice another list
        self._ended = 0  # counted trials in the prefix (a finished trial is taken iff counted)
        self._by_key: dict[str, FrozenTrial] = {}  # budget key -> its first completed trial, in the prefix

    def _advance(self, trials: Sequence[FrozenTrial]) -> int:
        if self._upto and (len(trials) < self._upto or trials[self._upto - 1].number != self._last):
            self.__init__()  # not the list this tally has seen: count afresh
        i = self._upto
        while i < len(trials) and trials[i].state.is_finished():
            t = trials[i]
            self._ended += counted(t)
            if t.state == TrialState.COMPLETE and t.values is not None:
                key = filters.budget_key_of(t)
                if key is not None and key not in self._by_key:
                    self._by_key[key] = t
            i += 1
        if i != self._upto:
            self._upto, self._last = i, trials[i - 1].number
        return i

    def ended(self, trials: Sequence[FrozenTrial]) -> int:
        """How many of `trials` count towards --trials (harness.search.search_config.counted)."""
        upto = self._advance(trials)
        return self._ended + sum(counted(t) for t in trials[upto:])

    def taken(self, trials: Sequence[FrozenTrial], before: int | None = None) -> int:
        """How many of `trials` (numbered below `before`, when given) hold a place (taken)."""
        upto = self._advance(trials)
        if before is not None and self._last is not None and self._last >= before:
            return sum(taken(t) for t in trials if t.number < before)  # asked about an earlier point
        tail = trials[upto:]
        if before is not None:
            tail = [t for t in tail if t.number < before]  # the prefix lies before any unfinished trial
        return self._ended + sum(taken(t) for t in tail)

    def waiting(self, trials: Sequence[FrozenTrial]) -> int:
        """How many of `trials` are queued (WAITING: never in the finished prefix)."""
        upto = self._advance(trials)
        return sum(t.state == TrialState.WAITING for t in trials[upto:])

    def completed(self, trials: Sequence[FrozenTrial], key: str) -> FrozenTrial | None:
        """The first completed trial of `trials` with budget key `key` (the same experiment), or None."""
        upto = self._advance(trials)
        found = self._by_key.get(key)
        if found is not None:
            return found
        for t in trials[upto:]:
            if t.state == TrialState.COMPLETE and t.values is not None and filters.budget_key_of(t) == key:
                return t
        return None
