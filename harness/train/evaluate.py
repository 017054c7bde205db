"""One architecture end to end: validate -> build -> measure costs -> train -> one metrics row.

This is a trial without Optuna: the study calls it, and so can a notebook.
"""

from __future__ import annotations

import dataclasses
import gc
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from harness.data import ImageData
from harness.data.loader import Normalize
from harness.train.device import DeviceBrokenError, classify_error, resolve_device
from harness.train.live import LiveProgress
from harness.train.loop import train_model
from harness.train.metrics import Scores
from harness.train.overheads import Overheads
from harness.train.results import EpochMetrics, TrainResult
from harness.train.scoring import eval_batch_size, evaluate, evaluate_test
from harness.train.speed import measure_speed
from harness.train.steps import make_optimizer
from harness.train.train_config import TrainConfig
from harness.zoo.measure import Costs, measure_model
from harness.zoo.model import build_model, validate_spec
from harness.zoo.spec import ArchSpec


@dataclass(frozen=True)
class Evaluation:
    """What evaluating one spec produced: the spec, its costs, and the training result."""

    spec: ArchSpec
    costs: Costs
    result: TrainResult
    test: Scores | None = None  # None: not asked for, or the dataset has no test split
    overheads: Overheads = dataclasses.field(default_factory=Overheads)
    note: str | None = None  # e.g. that training ran out of memory and was retried at half the batch
    robust: dict[str, float] | None = None  # accuracy on each shifted validation copy (fractions)

    @property
    def test_loss(self) -> float | None:
        """Mean loss on the test split (None: not evaluated)."""
        return None if self.test is None else self.test.loss

    @property
    def test_accuracy(self) -> float | None:
        """Accuracy on the test split, a fraction (None: not evaluated)."""
        return None if self.test is None else self.test.accuracy

    def _repr_html_(self) -> str:
        """Jupyter's view: one table row with the architecture, its costs and what training gave
        (pandas escapes every cell)."""
        import pandas as pd

        from harness.numbers import human, percent

        cells = {"architecture": self.spec.label, "params": human(self.costs.params),
                 "FLOPs": human(self.costs.flops), "receptive field": f"{self.costs.receptive_field} px",
                 "val accuracy": percent(self.result.val_accuracy), "val loss": f"{self.result.val_loss:.4f}",
                 "epochs": len(self.result.history), "train s": f"{self.result.train_seconds:.1f}"}
        if self.test is not None:
            cells["test accuracy"] = percent(self.test.accuracy)
        if self.costs.latency_ms is not None:
            cells["latency"] = f"{self.costs.latency_ms:.2f} ms"
        if self.note:
            cells["note"] = self.note
        return pd.DataFrame([cells]).to_html(index=False, escape=True)

    def row(self) -> dict[str, Any]:
        """Flat metrics (accuracy as a fraction, flops per image, seconds) for one table row."""
        row = metrics_row(self.spec, self.costs, self.result)
        row.update(self.overheads.columns())
        if self.note:
            row["note"] = self.note
        if self.robust:
            row.update(robust_columns(self.robust))
        return row


def robust_columns(robust: dict[str, float]) -> dict[str, float]:
    """robust_accuracy (the mean over the shifts) and robust.<shift> for each shift's accuracy."""
    return {"robust_accuracy": sum(robust.values()) / len(robust), **{f"robust.{k}": v for k, v in robust.items()}}


def metrics_row(spec: ArchSpec, costs: Costs | None, result: TrainResult | None) -> dict[str, Any]:
    """The table columns for one evaluated (or partly evaluated) architecture."""
    row: dict[str, Any] = {"spec_id": spec.spec_id, "label": spec.label}
    if costs is not None:
        row.update(params=costs.params, flops=costs.flops, receptive_field=costs.receptive_field,
                   uncounted_ops=costs.uncounted)
        if costs.latency_ms is not None:
            row.update(latency_ms=costs.latency_ms, throughput=costs.throughput, memory=costs.memory)
    if result is not None:
        row.update(accuracy=result.val_accuracy, balanced_accuracy=result.val_balanced_accuracy,
                   macro_f1=result.val_macro_f1, val_loss=result.val_loss,
                   train_loss=result.train_loss, train_seconds=result.train_seconds,
                   epochs=len(result.history), batch_size=result.batch_size)
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
    compile: bool = False,
    overheads: Overheads | None = None,
    precision: str = "auto",
    shifted: dict[str, torch.Tensor] | None = None,
    speed: bool = True,
    live: LiveProgress | None = None,
) -> Evaluation:
    """Validate `spec` for `data`, build it (weights seeded by `seed`), measure, then train; with
    `test`, also evaluate the trained model on the dataset's test split (when it has one).

    `on_costs` sees the counted costs before anything runs, then, with `speed`, again with the
    latency, throughput and training memory measured on `device` (harness.train.speed); both before
    any training step; `on_epoch` sees each epoch's metrics.
    Either may raise to stop (a pruned or over-budget trial). `overheads`, when given, is filled
    in as the parts outside training happen (build, count, warm-up, evaluation), so a caller
    has them even when the run stops early; `compile` trains through torch.compile; `precision`
    (auto, fp32 or bf16; auto: bf16 on CUDA and on CPUs with native bf16) is the training steps'
    autocast.

    `shifted` (name -> uint8 images: the validation split's shifted copies, harness.data.shifts)
    adds the trained model's accuracy on each, in `robust`. `live` shows the training's progress
    (harness.train.live).

    The costs are counted on the CPU copy of the model, before it moves to the device: fvcore's
    trace at batch 1 on CUDA would autotune every convolution (cuDNN benchmark) and the first
    trial's count would absorb CUDA's start-up.

    Out of memory on the device before the first epoch ended: what the run held is freed and
    it is trained once more, from the same initial weights, at half the batch (training and
    evaluation; the learning rate is kept), as timm's benchmark does; the Evaluation's `note`
    says so. Raises SpecError for a spec that cannot work at the data's input size,
    NonFiniteLossError, or torch.OutOfMemoryError (after freeing what the trial held) when the
    retry runs out of memory too or an epoch had already been reported. cuDNN's and cuBLAS's
    ALLOC_FAILED count as out of memory; an error that breaks the CUDA context (device-side
    assert, illegal memory access) raises DeviceBrokenError.
    """
    device = resolve_device(device) if isinstance(device, str) else device
    overheads = overheads if overheads is not None else Overheads()
    c, h, w = data.input_shape
    validate_spec(spec, (h, w), c)
    if device.type == "cuda":
        free_device_memory()  # what earlier trials left cached: hundreds of shapes fragment it
    start = time.perf_counter()
    torch.manual_seed(seed)
    model = build_model(spec, in_channels=c, num_classes=data.num_classes, input_size=(h, w))
    overheads.build = time.perf_counter() - start
    start = time.perf_counter()
    costs = measure_model(model, spec, (c, h, w))  # on the CPU: see the docstring
    overheads.count = time.perf_counter() - start
    model.to(device)
    if on_costs is not None:
        on_costs(costs)  # a FLOP or parameter budget refuses it before anything runs
    if speed:
        costs = _with_speed(costs, model, data, config, device, precision, overheads)
        if on_costs is not None:
            on_costs(costs)
    epochs_seen = 0

    def seen(metrics: EpochMetrics) -> None:
        nonlocal epochs_seen
        epochs_seen += 1
        if on_epoch is not None:
            on_epoch(metrics)

    note = None
    attempt = config
    while True:
        oom: str | None = None
        try:
            result = train_model(model, data, attempt, device=device, seed=seed, on_epoch=seen, stream=stream,
                                 compile=compile, overheads=overheads, precision=precision, live=live)
            tested = evaluate_test(model, data, attempt, device) if test else None
            robust = _evaluate_shifted(model, data, shifted, attempt, device, overheads) if shifted else None
            break
        except RuntimeError as err:  # torch.OutOfMemoryError is one
            oom = _out_of_memory(err, device)
        # Out of the except block, the exception's frames (and the tensors they hold) are gone.
        del model
        free_device_memory()
        if attempt is not config or epochs_seen or config.batch_size < 2:
            tried = f" (retried at batch {attempt.batch_size})" if attempt is not config else ""
            raise torch.OutOfMemoryError(f"{oom}{tried}")
        attempt = dataclasses.replace(config, batch_size=config.batch_size // 2,
                                      eval_batch_size=max(1, eval_batch_size(config, device) // 2))
        note = f"out of memory at batch {config.batch_size} ({oom}); trained at batch {attempt.batch_size}"
        torch.manual_seed(seed)
        model = build_model(spec, in_channels=c, num_classes=data.num_classes, input_size=(h, w)).to(device)
    evaluation = Evaluation(spec, costs, result, overheads=overheads, note=note, robust=robust)
    if tested is None:
        return evaluation
    return dataclasses.replace(evaluation, test=tested)


def _out_of_memory(err: RuntimeError, device: torch.device) -> str:
    """The first line of an out-of-memory error (cuDNN's and cuBLAS's ALLOC_FAILED count); an error
    that broke the CUDA context raises DeviceBrokenError, any other is raised again. Call it in
    the `except`."""
    kind = classify_error(err)
    if kind == "sticky":
        raise DeviceBrokenError(f"{device} failed and cannot run anything more in this process: "
                                f"{str(err).splitlines()[0]}") from err
    if kind != "oom":
        raise err
    return str(err).splitlines()[0] if str(err) else "out of memory"


def _with_speed(costs: Costs, model: torch.nn.Module, data: ImageData, config: TrainConfig, device: torch.device,
                precision: str, overheads: Overheads) -> Costs:
    """`costs` with the measured latency, throughput and training memory (timed as overheads.speed)."""
    start = time.perf_counter()
    try:
        speed = measure_speed(model, data.input_shape, data.num_classes, device, precision=precision,
                              train_batch=max(1, min(config.batch_size, len(data.train_y))),
                              make_optimizer=lambda m: make_optimizer(m, config, device))
    except RuntimeError as err:  # torch.OutOfMemoryError is one
        _out_of_memory(err, device)
        # Out of memory at the trial's batch: left unmeasured; training meets the same limit and
        # retries at half the batch (see evaluate_spec).
        free_device_memory()
        return costs
    finally:
        overheads.speed = time.perf_counter() - start
    return dataclasses.replace(costs, latency_ms=speed.latency_ms, throughput=speed.throughput, memory=speed.memory)


def _evaluate_shifted(model: torch.nn.Module, data: ImageData, shifted: dict[str, torch.Tensor],
                      config: TrainConfig, device: torch.device, overheads: Overheads) -> dict[str, float]:
    """The trained model's accuracy on each shifted copy of the validation images (timed)."""
    start = time.perf_counter()
    normalize = Normalize(data, device)
    batch = eval_batch_size(config, device)
    out = {name: evaluate(model, x, data.val_y, normalize, batch, device, data.num_classes).accuracy
           for name, x in shifted.items()}
    overheads.robust = time.perf_counter() - start
    return out


def free_device_memory() -> None:
    """Drop unreachable tensors and return cached CUDA memory, so the next trial starts clean."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
