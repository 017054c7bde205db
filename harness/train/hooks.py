"""Hooks on the one epoch loop: `TrainState` (a run's step loop, batches, last epoch, validated
epochs, whether it is over) and `EpochHooks`, what `train_model` calls before the first epoch and
after each validated one. A caller adds to the loop through them instead of looping epochs itself:
final training (harness.final.train) restores a checkpoint in `on_start`, and writes one, keeps
the best epoch's weights and stops early in `on_epoch_end`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.data.loader import TrainBatches
from harness.train.results import EpochMetrics
from harness.train.steps import StepLoop


@dataclass
class TrainState:
    """A run as its hooks see it: the step loop (model, optimizer, scheduler, weight average and
    the clocks), the batches (the shuffle's and augmentation's generators), the last epoch trained,
    the validated epochs, and whether the run is over."""

    loop: StepLoop
    batches: TrainBatches
    epoch: int = 0  # the last epoch trained; 0: none yet (a resumed run: the checkpoint's epoch)
    history: list[EpochMetrics] = field(default_factory=list)  # every validated epoch, a resumed run's too
    # True when no epoch follows: set by the loop before on_epoch_end when the budget (epochs or
    # seconds) ends the run there, or by on_start when the run it restores had ended.
    finished: bool = False


class EpochHooks:
    """Callbacks of `train_model` around its epoch loop; these do nothing, a subclass overrides
    what it needs. They run in the loop's thread, between steps: what they write is whole."""

    def on_start(self, state: TrainState) -> None:
        """Called once, everything built and nothing trained: a resume restores here (the weights,
        optimizer, scheduler and average through `state.loop`, the generators through
        `state.batches`, and `state.epoch`, `state.history`, `state.finished`)."""

    def on_epoch_end(self, metrics: EpochMetrics, state: TrainState) -> bool:
        """Called after each validated epoch (`metrics`, already last in `state.history`;
        `state.finished` says whether the budget ends the run here). True stops training now."""
        return False
