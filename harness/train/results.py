"""What training produces: `EpochMetrics` (one validated epoch), `TrainResult` (a whole run) and
`NonFiniteLossError` (a run whose loss became NaN or infinite)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class EpochMetrics:
    """What one epoch produced: mean training loss, validation loss and accuracy, seconds so far."""

    epoch: int  # 1-based
    train_loss: float
    val_loss: float
    val_accuracy: float  # fraction in [0, 1]
    seconds: float  # training seconds since the start, evaluation excluded
    val_balanced_accuracy: float = math.nan  # mean recall over the classes (fraction)
    val_macro_f1: float = math.nan

    def metric(self, name: str) -> float:
        """The validation figure a search or ranking ranks by: accuracy, balanced_accuracy or macro_f1."""
        return {"accuracy": self.val_accuracy, "balanced_accuracy": self.val_balanced_accuracy,
                "macro_f1": self.val_macro_f1}[name]


@dataclass(frozen=True)
class TrainResult:
    """The outcome of `train`: final validation metrics, training time and the per-epoch history."""

    val_accuracy: float
    val_loss: float
    train_loss: float
    train_seconds: float
    history: list[EpochMetrics] = field(default_factory=list)
    train_images: int = 0  # images trained on after the warm-up step (augmented copies count once)
    warmup_seconds: float = 0.0  # the first step: set-up, autotuning, compilation (s)
    eval_seconds: float = 0.0  # validation after each epoch, all epochs (s)
    batch_size: int = 0  # the batch it trained with (smaller than the config's after an OOM retry)
    val_balanced_accuracy: float = math.nan  # of the last evaluation, as val_accuracy
    val_macro_f1: float = math.nan

    def metric(self, name: str) -> float:
        """The last validation figure by name: accuracy, balanced_accuracy or macro_f1."""
        return {"accuracy": self.val_accuracy, "balanced_accuracy": self.val_balanced_accuracy,
                "macro_f1": self.val_macro_f1}[name]

    @property
    def images_per_second(self) -> float:
        """Training throughput in the steady state: images per second of training (the warm-up
        step and evaluation excluded)."""
        return self.train_images / self.train_seconds if self.train_seconds > 0 else float("nan")


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss (the learning rate is too high for this network)."""
