"""Brief training: TrainConfig (budget, optimiser, schedule) and `train_model(model, data, config)`.

Batches come from `harness.data.loader.TrainBatches`: uint8 images gathered, augmented and
normalised on the device (the data resident there, or streamed from host memory when it does not
fit). On CUDA the fast path: bf16 autocast (the `precision` chosen by harness.train.device),
channels_last, cuDNN autotuning (unless deterministic kernels were asked for), fused optimizer
steps, and optionally `torch.compile` (`compile=True`). Losses and correct counts are summed on
the device and read once per epoch: the only host synchronisation is the epoch-end read, which
also checks the loss is finite. Evaluation runs under inference mode with a large batch.

The first step (lazy CUDA set-up, cuDNN autotuning, compilation) is timed on its own as the
warm-up and kept out of the training time and out of a time budget, so a trial's training time
and throughput are its steady state and `--compile` is not charged against `seconds`.
Metrics go to `on_epoch` after every epoch, so a caller (the study) can prune; this module
knows nothing of Optuna.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

from harness.checks import Check, check_choice, check_float, check_int, check_optional
from harness.data import Augment, ImageData
from harness.data.loader import Normalize, TrainBatches, eval_batches
from harness.train.device import autocast, resolve_precision
from harness.train.ema import WeightAverage
from harness.train.live import LiveProgress
from harness.train.metrics import Scores, confusion_counts
from harness.train.overheads import OVERHEAD_COLUMNS, Overheads  # noqa: F401  (also imported from here)

OPTIMIZERS = ("adamw", "sgd")
SCHEDULES = ("onecycle", "cosine", "constant")


@dataclass(frozen=True)
class TrainConfig:
    """How one trial trains: budget, optimiser and schedule (the defaults suit brief CPU runs)."""

    epochs: int = 4  # with `seconds`, ignored: epochs run until the time is spent
    batch_size: int = 128
    optimizer: str = "adamw"
    lr: float = 3e-3  # peak learning rate
    momentum: float = 0.9  # SGD only (Nesterov)
    weight_decay: float = 5e-2  # decoupled for AdamW; not applied to norms and biases
    schedule: str = "onecycle"
    warmup: float = 0.2  # fraction of all steps spent warming up (onecycle and cosine)
    label_smoothing: float = 0.0
    eval_batch_size: int | None = None  # None: 256 on CPU (cache-friendly), 1024 on CUDA
    seconds: float | None = None  # wall-clock training budget per trial (s); None: `epochs` epochs
    crop_padding: int | None = None  # random-crop padding in pixels; None: the dataset's default
    flip: bool | None = None  # random horizontal flips; None: the dataset's default
    ema: float = 0.0  # decay per step of the weight average that validation reads (0: none; harness.train.ema)
    tta: bool = False  # validate on the mean of the logits of each image and its mirror (where flips apply)

    def augment_for(self, data: ImageData) -> Augment:
        """The augmentation for `data`: this config's choices, the dataset's defaults elsewhere."""
        return Augment(
            crop_padding=data.augment.crop_padding if self.crop_padding is None else self.crop_padding,
            flip=data.augment.flip if self.flip is None else self.flip,
        )

    def __post_init__(self) -> None:
        for name, check in TRAIN_CHECKS.items():
            check(f"train {name}", getattr(self, name))


TRAIN_CHECKS: dict[str, Check] = {
    "epochs": check_int(1),
    "batch_size": check_int(1),
    "optimizer": check_choice(OPTIMIZERS),
    "lr": check_float(0.0, math.inf, low_open=True),
    "momentum": check_float(0.0, 1.0),
    "weight_decay": check_float(0.0, math.inf),
    "schedule": check_choice(SCHEDULES),
    "warmup": check_float(0.0, 1.0),
    "label_smoothing": check_float(0.0, 1.0),
    "eval_batch_size": check_optional(check_int(1)),
    "seconds": check_optional(check_float(0.0, math.inf, low_open=True)),
    "crop_padding": check_optional(check_int(0)),
    "flip": check_optional(check_choice((True, False))),
    "ema": check_float(0.0, 1.0, high_open=True),
    "tta": check_choice((True, False)),
}

# TrainConfig fields added after studies were first recorded: left out of a run's key while at their
# default, so the runs of older studies keep their keys (harness.train.evaluate.budget_key).
LATER_FIELDS = {"ema": 0.0, "tta": False}


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
# With a time budget, a cap on epochs, so a tiny dataset cannot loop for long on evaluation.
_MAX_TIMED_EPOCHS = 100_000
# With a time budget, evaluate at the end of the first epoch past each tenth of the budget (and
# at the end), not after every epoch: on a GPU an epoch of a small dataset takes ~0.1 s, and
# evaluating, reporting, pruning and writing after each would take many times the budget. Where
# an epoch is longer than a tenth, every epoch is evaluated, as without a budget.
EVAL_SLICES = 10


@torch.inference_mode()
def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, normalize: Normalize, batch_size: int,
    device: torch.device, num_classes: int | None = None, tta: bool = False,
) -> Scores:
    """Scores (mean loss, accuracy, balanced accuracy, macro F1, confusion matrix) of `model` (on
    `device`) on uint8 images `x` and labels `y`, which may live on the device or in host memory.
    The confusion matrix is one bincount per batch on the device, so the per-class figures cost
    nothing beside the accuracy. In fp32 whatever the training precision: bf16 logits (8 bits of
    mantissa) tie often enough to bias the argmax, and so the accuracy, against fp32. With `tta`,
    each image's logits are the mean of its own and its mirror image's (test-time flip averaging)."""
    model.eval()
    loss_sum = torch.zeros((), device=device)
    confusion: torch.Tensor | None = None
    for xb, yb in eval_batches(x, y, normalize, device, batch_size):
        logits = model(xb)
        if tta:
            logits = (logits + model(xb.flip(3))) * 0.5
        loss_sum += F.cross_entropy(logits, yb, reduction="sum")
        counts = confusion_counts(logits.argmax(1), yb, num_classes or logits.shape[1])
        confusion = counts if confusion is None else confusion + counts
    n = max(1, len(y))
    if confusion is None:  # no images
        k = num_classes or 1
        return Scores(0.0, 0.0, 0.0, 0.0, torch.zeros((k, k), dtype=torch.long))
    return Scores.from_confusion(loss_sum.item() / n, confusion)


def eval_batch_size(config: TrainConfig, device: torch.device) -> int:
    """The evaluation batch: the config's, else 1024 on CUDA and 256 on CPU, where batches that fit
    the caches evaluate about 3x faster than one of 1000 (measured)."""
    return config.eval_batch_size or (1024 if device.type == "cuda" else 256)


def evaluate_test(model: nn.Module, data: ImageData, config: TrainConfig, device: torch.device | str
                  ) -> Scores | None:
    """The Scores of a trained `model` on the test split of `data`, wherever it lives;
    None when the dataset has no test split. Only re-evaluation (harness rank) calls this: a search
    never reads the test split."""
    if data.test_x is None or data.test_y is None:
        return None
    device = torch.device(device)
    return evaluate(model, data.test_x, data.test_y, Normalize(data, device), eval_batch_size(config, device), device,
                    data.num_classes, tta=flip_averaged(config, data))


def flip_averaged(config: TrainConfig, data: ImageData) -> bool:
    """Whether evaluation averages each image with its mirror: asked for (`tta`) and the data is one
    whose mirror images are images of the same class (its training flips them)."""
    return config.tta and config.augment_for(data).flip


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


def train_model(
    model: nn.Module,
    data: ImageData,
    config: TrainConfig,
    *,
    device: torch.device | str = "cpu",
    seed: int = 0,
    on_epoch: Callable[[EpochMetrics], None] | None = None,
    stream: bool = False,
    compile: bool = False,
    overheads: Overheads | None = None,
    precision: str = "auto",
    live: LiveProgress | None = None,
) -> TrainResult:
    """Train `model` on `data` for `config.epochs` epochs, or for `config.seconds` of training
    time when that is set (epochs until the time is spent; the last one may be cut short), and
    evaluate after each epoch (evaluation time is not counted in the budget, nor is the first
    step's warm-up). With a time budget, epochs are evaluated once per tenth of it (EVAL_SLICES).

    The data is used where it lives: on `device` (resident), or in host memory, whence batches
    stream through a DataLoader (also when `stream` is set: see harness.data.loader). With
    `compile`, training steps run through torch.compile (its start-up cost is the warm-up).

    `on_epoch` may raise to stop training early (the study raises optuna.TrialPruned);
    a NaN or infinite training loss raises NonFiniteLossError. `overheads`, when given, gets the
    warm-up and evaluation seconds as they happen. `precision` (auto, fp32 or bf16; auto:
    harness.train.device.resolve_precision) is the training steps' autocast; evaluation always
    runs in fp32. `live` shows the run's progress as it trains (harness.train.live).
    """
    device = torch.device(device)
    precision = resolve_precision(precision, device)
    overheads = overheads if overheads is not None else Overheads()
    overheads.warmup = overheads.evaluate = 0.0  # this run's (an out-of-memory retry starts again)
    model.to(device)
    # The data stays where it is: on the device (resident) or in host memory (streamed); see
    # harness.data.loader.place_dataset.
    batches = TrainBatches(data, device, config.batch_size, config.augment_for(data), seed=seed, stream=stream)
    channels_last(model, device)
    if device.type == "cuda":
        # Fixed shapes (full batches only): autotune once, unless deterministic kernels were asked for.
        torch.backends.cudnn.benchmark = not torch.are_deterministic_algorithms_enabled()
    optimizer = make_optimizer(model, config, device)
    timed = config.seconds is not None
    loop = StepLoop(model, compiled(model) if compile else model, optimizer,
                    None if timed else make_scheduler(optimizer, config, config.epochs * len(batches)),
                    config, device, overheads, precision, average=weight_average(model, config))
    eval_batch, tta = eval_batch_size(config, device), flip_averaged(config, data)
    history: list[EpochMetrics] = []
    for epoch in range(1, (_MAX_TIMED_EPOCHS if timed else config.epochs) + 1):
        train_loss, out_of_time = loop.epoch(live.batches(batches, epoch) if live else batches, epoch)
        if train_loss is None:  # the budget ran out exactly at an epoch boundary
            break
        if not math.isfinite(train_loss):
            raise NonFiniteLossError(f"training loss became {train_loss} in epoch {epoch}")
        if timed and not out_of_time:
            next_evaluation = min(config.seconds, (len(history) + 1) * config.seconds / EVAL_SLICES)
            if loop.train_seconds < next_evaluation:
                continue  # this tenth of the budget is not over: train on before evaluating
        eval_start = time.perf_counter()
        val = evaluate(loop.eval_model, data.val_x, data.val_y, batches.normalize, eval_batch, device,
                       data.num_classes, tta)
        overheads.evaluate += time.perf_counter() - eval_start  # evaluate reads its results: synchronised
        metrics = EpochMetrics(epoch, train_loss, val.loss, val.accuracy, loop.train_seconds,
                               val.balanced_accuracy, val.macro_f1)
        history.append(metrics)
        if live is not None:
            live.epoch_done(val.accuracy)
        if on_epoch is not None:
            on_epoch(metrics)
        if out_of_time or (timed and loop.train_seconds >= config.seconds):
            break
    if loop.average is not None:  # the trained model is the one validated: the average
        model.load_state_dict(loop.average.module.state_dict())
    last = history[-1]
    return TrainResult(last.val_accuracy, last.val_loss, last.train_loss, loop.train_seconds, history,
                       loop.train_images, warmup_seconds=overheads.warmup, eval_seconds=overheads.evaluate,
                       batch_size=batches.batch_size, val_balanced_accuracy=last.val_balanced_accuracy,
                       val_macro_f1=last.val_macro_f1)


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
