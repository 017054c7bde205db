"""The step loop: `StepLoop` trains one epoch at a time (steps, schedule, weight average, clocks),
with the optimizer and schedule a TrainConfig names (`make_optimizer`, `make_scheduler`, and
`time_factor` under a time budget), the memory layout (`channels_last`) and `compiled`.

On CUDA the fast path: bf16 autocast (the `precision` chosen by harness.train.device),
channels_last, fused optimizer steps, and optionally `torch.compile`. Losses are summed on the
device and read once per epoch, the epoch's one host synchronisation.

The first step (lazy CUDA set-up, cuDNN autotuning, compilation) is timed on its own as the
warm-up and kept out of the training time and out of a time budget, so a trial's training time
and throughput are its steady state and `--compile` is not charged against `seconds`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from harness.data.loader import TrainBatches
from harness.train.device import autocast
from harness.train.ema import WeightAverage
from harness.train.overheads import Overheads
from harness.train.train_config import TrainConfig


def make_optimizer(model: nn.Module, config: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    """The optimizer `config` names for `model`, with the usual parameter groups (see below)."""
    # Norm weights and biases (1-D tensors) get no weight decay, as in timm and most recipes.
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr, fused=device.type == "cuda")
    # Fused kernels on CUDA: one launch for the whole step; foreach (batched) on the CPU.
    fused = device.type == "cuda"
    return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum, nesterov=True,
                           fused=fused or None, foreach=None if fused else True)


def make_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """The per-step learning-rate schedule `config` names over `total_steps` steps."""
    if config.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.lr, total_steps=total_steps, pct_start=config.warmup,
            cycle_momentum=config.optimizer == "sgd",
        )
    warmup_steps = max(1, int(config.warmup * total_steps))

    def factor(step: int) -> float:
        if config.schedule == "constant":
            return 1.0
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def time_factor(schedule: str, progress: float, warmup: float) -> float:
    """The learning-rate multiplier at `progress` (fraction of the time budget spent, 0..1) under a
    time budget, where the number of steps is not known in advance: linear warm-up over `warmup`
    (from 1/25, as OneCycleLR starts), then cosine annealing to 0; `constant` stays at 1."""
    if schedule == "constant":
        return 1.0
    progress = min(max(progress, 0.0), 1.0)
    if warmup > 0 and progress < warmup:
        return 0.04 + 0.96 * progress / warmup
    rest = (progress - warmup) / max(1e-9, 1.0 - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * rest))


# With a time budget on CUDA, the host runs ahead of the GPU: every this many steps it waits
# for the GPU, so the deadline is checked against finished work (costs a few microseconds).
_SYNC_EVERY = 16


def channels_last(model: nn.Module, device: torch.device) -> None:
    """`model` in channels_last memory: cuDNN's and oneDNN's fast convolution layout, on CUDA and on
    the CPU alike (on an AVX512 CPU 1.3x images/s for a small residual net, measured in
    bench/hand_reference.py)."""
    model.to(memory_format=torch.channels_last)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def compiled(model: nn.Module) -> nn.Module:
    """`model` under torch.compile, for training steps; the caller keeps evaluating `model` itself
    (evaluation mode and its batch shapes would each cost another compilation).

    Dynamo's caches are reset first: each trial is a new network running the same block classes'
    code, and after `torch._dynamo.config.recompile_limit` (8) networks dynamo would silently
    fall back to eager for those frames. Inductor's on-disk cache survives the reset, so a
    network seen before compiles faster."""
    torch.compiler.reset()
    return torch.compile(model)


@dataclass
class StepLoop:
    """One training run's moving parts (the model and the module that takes the steps, optimizer,
    scheduler) and its clocks: training seconds, images seen, whether the warm-up step ran."""

    model: nn.Module
    step_model: nn.Module  # `model`, or its torch.compile wrapper
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler | None  # None under a time budget
    config: TrainConfig
    device: torch.device
    overheads: Overheads
    precision: str = "fp32"  # the steps' autocast: "fp32" (none) or "bf16"
    average: WeightAverage | None = None  # the weight average evaluation reads (config.ema), if any
    train_seconds: float = 0.0
    train_images: int = 0
    warmed_up: bool = False  # whether the first step (timed apart as the warm-up) has run

    def epoch(self, batches: TrainBatches, epoch: int) -> tuple[float | None, bool]:
        """Train one epoch: (mean training loss, None when no step ran; whether time ran out)."""
        config, device = self.config, self.device
        timed = config.seconds is not None
        start = time.perf_counter()
        self.model.train()
        loss_sum = torch.zeros((), device=device)
        steps = 0
        out_of_time = False
        for xb, yb in batches:
            if timed:
                # A time budget drives the schedule by the share of the time spent, and stops
                # the run mid-epoch when it is spent (the epoch is then evaluated as it stands).
                if steps % _SYNC_EVERY == 0:
                    _synchronize(device)
                progress = (self.train_seconds + time.perf_counter() - start) / config.seconds
                if progress >= 1.0 and (steps > 0 or epoch > 1):
                    out_of_time = True
                    break
                for group in self.optimizer.param_groups:
                    group["lr"] = config.lr * time_factor(config.schedule, progress, config.warmup)
            loss_sum += self.step(xb, yb)
            steps += 1
            if not self.warmed_up:
                # The first step, timed to its end on the device; the epoch's clock restarts.
                _synchronize(device)
                self.overheads.warmup = time.perf_counter() - start
                self.warmed_up = True
                start = time.perf_counter()
                continue
            self.train_images += len(yb)  # a shape, known on the host: no synchronisation
        if steps == 0:
            return None, out_of_time
        train_loss = loss_sum.item() / steps  # the one host sync of the epoch
        self.train_seconds += time.perf_counter() - start
        return train_loss, out_of_time

    def step(self, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        """One optimisation step on a batch (under bf16 autocast when the precision is bf16); the loss, detached."""
        with autocast(self.device, self.precision):
            logits = self.step_model(xb)
        loss = F.cross_entropy(logits.float(), yb, label_smoothing=self.config.label_smoothing)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        if self.average is not None:
            self.average.update()
        return loss.detach()

    @property
    def eval_model(self) -> nn.Module:
        """The weights validation reads: the weight average when there is one, else the model."""
        return self.model if self.average is None else self.average.module


def weight_average(model: nn.Module, config: TrainConfig) -> WeightAverage | None:
    """The weight average `config.ema` asks for, of `model` where it now lives; None when 0."""
    return WeightAverage(model, config.ema) if config.ema > 0 else None
