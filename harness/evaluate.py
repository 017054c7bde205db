"""One architecture end to end: validate -> build -> measure costs -> train -> one metrics row.

This is a trial without Optuna: the study calls it, and so can a notebook.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import json
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from harness.data import ImageData
from harness.errors import SpecError
from harness.measure import Costs, measure_model
from harness.model import build_model, validate_spec
from harness.spec import ArchSpec
from harness.train import (
    EpochMetrics,
    NonFiniteLossError,
    TrainConfig,
    TrainResult,
    evaluate_test,
    resolve_device,
    train_model,
)


@dataclass(frozen=True)
class Evaluation:
    """What evaluating one spec produced: the spec, its costs, and the training result."""

    spec: ArchSpec
    costs: Costs
    result: TrainResult
    test_loss: float | None = None  # None: not asked for, or the dataset has no test split
    test_accuracy: float | None = None

    def row(self) -> dict[str, Any]:
        """Flat metrics (accuracy as a fraction, flops per image, seconds) for one table row."""
        return metrics_row(self.spec, self.costs, self.result)


def metrics_row(spec: ArchSpec, costs: Costs | None, result: TrainResult | None) -> dict[str, Any]:
    """The table columns for one evaluated (or partly evaluated) architecture."""
    row: dict[str, Any] = {"spec_id": spec.spec_id, "label": spec.label}
    if costs is not None:
        row.update(params=costs.params, flops=costs.flops, receptive_field=costs.receptive_field,
                   uncounted_ops=costs.uncounted)
    if result is not None:
        row.update(accuracy=result.val_accuracy, val_loss=result.val_loss,
                   train_loss=result.train_loss, train_seconds=result.train_seconds,
                   epochs=len(result.history))
    return row


def evaluate_spec(
    spec: ArchSpec,
    data: ImageData,
    config: TrainConfig,
    *,
    device: torch.device | str = "auto",
    seed: int = 0,
    on_costs: Callable[[Costs], None] | None = None,
    on_epoch: Callable[[EpochMetrics], None] | None = None,
    stream: bool = False,
    test: bool = False,
) -> Evaluation:
    """Validate `spec` for `data`, build it (weights seeded by `seed`), measure, then train; with
    `test`, also evaluate the trained model on the dataset's test split (when it has one).

    `on_costs` sees the costs before any training step; `on_epoch` sees each epoch's metrics.
    Either may raise to stop (a pruned or over-budget trial). Raises SpecError for a spec that
    cannot work at the data's input size, NonFiniteLossError, or torch.OutOfMemoryError (after
    freeing what the trial held).
    """
    device = resolve_device(device) if isinstance(device, str) else device
    c, h, w = data.input_shape
    validate_spec(spec, (h, w), c)
    torch.manual_seed(seed)
    model = build_model(spec, in_channels=c, num_classes=data.num_classes).to(device)
    try:
        costs = measure_model(model, spec, (c, h, w))
        if on_costs is not None:
            on_costs(costs)
        result = train_model(model, data, config, device=device, seed=seed, on_epoch=on_epoch, stream=stream)
        tested = evaluate_test(model, data, config, device) if test else None
    except torch.OutOfMemoryError:
        del model
        free_device_memory()
        raise
    if tested is None:
        return Evaluation(spec, costs, result)
    return Evaluation(spec, costs, result, test_loss=tested[0], test_accuracy=tested[1])


def describe_failure(err: Exception) -> tuple[str, str | None]:
    """Why an evaluation failed, as (reason, traceback or None): a spec that cannot work, a NaN
    loss, out of memory (after freeing what the trial held), or an unforeseen error, whose
    traceback (last 4000 characters) is kept for a bug report. Call it inside the `except`."""
    if isinstance(err, SpecError):
        return f"invalid spec: {err}", None
    if isinstance(err, NonFiniteLossError):
        return f"non-finite loss: {err}", None
    if isinstance(err, torch.OutOfMemoryError):
        free_device_memory()
        return f"out of memory: {str(err).splitlines()[0]}", None
    return f"{type(err).__name__}: {err}", traceback.format_exc()[-4000:]


def budget_key(spec_id: str, config: TrainConfig) -> str:
    """What makes two runs the same experiment: the architecture and the whole training config."""
    blob = json.dumps(dataclasses.asdict(config), sort_keys=True, default=str)
    return f"{spec_id}/{hashlib.sha1(blob.encode()).hexdigest()[:10]}"


def free_device_memory() -> None:
    """Drop unreachable tensors and return cached CUDA memory, so the next trial starts clean."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
