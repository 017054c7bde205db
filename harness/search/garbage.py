"""The study's garbage policy between trials: `settle_garbage` after each, `release_garbage` at
the end of a search."""

from __future__ import annotations

import gc


def settle_garbage() -> None:
    """Between trials: collect what the last one left, then freeze what survives (gc.freeze), so
    that later collections skip it. A search holds every trial of its study in memory (Optuna's
    storage cache, the trials table): without this each trial's collections walk them all (0.8 s
    a trial at 10,000 trials on 2 cores). Collected first, so nothing that is garbage now is frozen;
    a frozen object dropped later is still freed by reference counting (`release_garbage` at the
    end of the search hands the frozen ones back to the collector)."""
    gc.collect()
    gc.freeze()


def release_garbage() -> None:
    """Undo `settle_garbage`: the frozen objects are the collector's again."""
    gc.unfreeze()
