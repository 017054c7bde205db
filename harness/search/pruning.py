"""Two-objective pruning: Curve (a finished trial) + ParetoPruner.should_stop -> stop reason; Pareto helpers.

Optuna has no pruner for multi-objective studies. In a study that maximises validation accuracy and
minimises a cost known before training (FLOPs or parameters, measured on the built model), a running
trial can be stopped once finished trials that cost no more were already clearly more accurate at
the same epoch: it cannot plausibly end on the Pareto front. This module is a pure policy (plain
Python, no Optuna, no torch); the study reports each epoch to it and raises `TrialPruned` itself.

Semantics of `ParetoPruner.should_stop(epoch, total_epochs, accuracy, cost, finished)`:

* Epochs are 1-based; `accuracies[i]` of a `Curve` is the accuracy after epoch i + 1 (fractions).
* A finished trial j *dominates* the running trial at epoch e when ``cost_j <= cost`` (equal cost
  counts as "no more") and ``acc_j(e) >= accuracy + margin`` (the boundary itself dominates; a
  1e-9 tolerance absorbs float rounding such as 0.72 - 0.70 < 0.02).
* Finished trials shorter than e (a smaller epoch budget) are ignored at epoch e, as are non-finite
  accuracies: a short run's last accuracy is an end-of-schedule (annealed) value, not comparable to
  the middle of a longer run, and ignoring them only ever prunes less. Longer finished trials are
  compared at epoch e (mid-schedule, which favours the running trial: also conservative).
* No decision at the last epoch (``epoch >= total_epochs``: the trial is complete anyway), at
  ``epoch <= warmup``, while fewer than `min_trials` finished trials reached epoch e, or when the
  running accuracy is not finite (the caller deals with failures).
* The trial is stopped when at least `min_dominating` finished trials dominate it; the reason is one
  line naming the epoch, the best dominators (trial number or position), their accuracy, cost and lead.

Trade-off: a slow starter that would overtake later is stopped if cheaper trials were ahead by
`margin` early on; a larger margin or warm-up keeps such trials, at the price of fewer epochs saved.
`replay` measures both sides offline on recorded curves; harness.pareto compares the final fronts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from harness.errors import InvalidValueError

_EPS = 1e-9  # tolerance on the margin boundary (accuracies are fractions of a validation set)


@dataclass(frozen=True)
class Curve:
    """A finished trial as the policy sees it: its cost and its validation accuracy after each epoch.

    `number` (e.g. the Optuna trial number) names it in stop reasons; without it, its position in
    the `finished` sequence is used.
    """

    cost: float
    accuracies: tuple[float, ...]  # accuracies[i] = after epoch i + 1, fractions in [0, 1]
    number: int | None = None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class ParetoPruner:
    """Stop a trial that cheaper-or-equal finished trials already beat by `margin` at the same epoch.

    margin: accuracy (fraction) by which a dominating trial must be better, in [0, 1).
    warmup: no decision at epochs <= warmup (>= 0).
    min_trials: finished trials that reached the epoch needed before any decision (>= 1).
    min_dominating: how many finished trials must dominate (>= 1; 2+ resists one lucky run).
    """

    margin: float = 0.02
    warmup: int = 1
    min_trials: int = 3
    min_dominating: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.margin, bool) or not isinstance(self.margin, (int, float)) or not (
            0.0 <= self.margin < 1.0
        ):
            raise InvalidValueError(f"pruning margin must be a number in [0, 1), got {self.margin!r}")
        if not _is_int(self.warmup) or self.warmup < 0:
            raise InvalidValueError(f"pruning warmup must be an integer >= 0, got {self.warmup!r}")
        for name in ("min_trials", "min_dominating"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise InvalidValueError(f"pruning {name} must be an integer >= 1, got {value!r}")

    def should_stop(
        self, epoch: int, total_epochs: int, accuracy: float, cost: float, finished: Sequence[Curve]
    ) -> str | None:
        """None to go on, or the reason to stop (one line: which trials dominate, at which epoch, by how much).

        `epoch` (1-based) has just been evaluated with validation `accuracy`; the trial runs
        `total_epochs` in all and costs `cost`; `finished` are the completed (not pruned) trials.
        """
        if not _is_int(epoch) or not _is_int(total_epochs) or not 1 <= epoch <= total_epochs:
            raise InvalidValueError(f"need 1 <= epoch <= total_epochs, got epoch={epoch!r}, total={total_epochs!r}")
        if epoch >= total_epochs or epoch <= self.warmup or not math.isfinite(accuracy):
            return None
        comparable = [
            (i, c)
            for i, c in enumerate(finished)
            if len(c.accuracies) >= epoch and math.isfinite(c.accuracies[epoch - 1])
        ]
        if len(comparable) < self.min_trials:
            return None
        dominators = [
            (i, c) for i, c in comparable if c.cost <= cost and c.accuracies[epoch - 1] - accuracy >= self.margin - _EPS
        ]
        if len(dominators) < self.min_dominating:
            return None
        dominators.sort(key=lambda ic: -ic[1].accuracies[epoch - 1])
        shown = ", ".join(
            f"trial {c.number if c.number is not None else f'#{i}'} {c.accuracies[epoch - 1]:.3f} "
            f"(+{c.accuracies[epoch - 1] - accuracy:.3f}, cost {c.cost:.3g})"
            for i, c in dominators[:3]
        )
        more = f" and {len(dominators) - 3} more" if len(dominators) > 3 else ""
        return (
            f"epoch {epoch}/{total_epochs}: accuracy {accuracy:.3f} at cost {cost:.3g} is beaten by "
            f"{len(dominators)} finished trial(s) with no more cost by >= {self.margin:g}: {shown}{more}"
        )


@dataclass(frozen=True)
class Replay:
    """What `replay` did: per trial, the epoch it was stopped after (None = completed), and epoch counts."""

    stopped_at: tuple[int | None, ...]
    epochs_run: int
    epochs_total: int

    @property
    def saved(self) -> float:
        """Share of all epochs not run (0 when nothing was pruned)."""
        return 1.0 - self.epochs_run / self.epochs_total if self.epochs_total else 0.0

    def completed(self) -> list[int]:
        """Indices of the trials that ran to their last epoch."""
        return [i for i, s in enumerate(self.stopped_at) if s is None]


def replay(policy: ParetoPruner, trials: Sequence[Curve]) -> Replay:
    """Run `trials` (full recorded curves) in order, one after another, as a study with `policy` would.

    Each trial sees the earlier trials that completed as `finished`; a stopped trial is excluded.
    """
    finished: list[Curve] = []
    stopped: list[int | None] = []
    run = 0
    for trial in trials:
        total = len(trial.accuracies)
        stop = None
        for epoch, acc in enumerate(trial.accuracies, start=1):
            run += 1
            if policy.should_stop(epoch, total, acc, trial.cost, finished) is not None:
                stop = epoch
                break
        stopped.append(stop)
        if stop is None:
            finished.append(trial)
    return Replay(tuple(stopped), run, sum(len(t.accuracies) for t in trials))
