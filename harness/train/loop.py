"""The one epoch loop: `train_model(model, data, config)` trains a model for a TrainConfig's epochs or
seconds, validating as it goes, and returns a TrainResult. Searches, rankings and final training
all train through it; final training adds its checkpoints, resume, early stopping and best-epoch
weights as hooks (harness.train.hooks).

Batches come from `harness.data.loader.TrainBatches`: uint8 images gathered, augmented and
normalised on the device (the data resident there, or streamed from host memory when it does not
fit). The steps are harness.train.steps' (bf16 autocast, channels_last, fused optimizers, optional
`torch.compile`; the warm-up step timed apart); on CUDA cuDNN autotunes (unless deterministic
kernels were asked for). Evaluation (harness.train.scoring) runs under inference mode with a large
batch. Metrics go to `on_epoch` after every validated epoch, so a caller (the study) can prune;
this module knows nothing of Optuna.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
from torch import nn

from harness.data import ImageData
from harness.data.loader import TrainBatches
from harness.train.device import resolve_precision
from harness.train.hooks import EpochHooks, TrainState
from harness.train.live import LiveProgress
from harness.train.overheads import Overheads
from harness.train.results import EpochMetrics, NonFiniteLossError, TrainResult
from harness.train.scoring import eval_batch_size, evaluate, flip_averaged
from harness.train.steps import StepLoop, channels_last, compiled, make_optimizer, make_scheduler, weight_average
from harness.train.train_config import TrainConfig

# With a time budget, a cap on epochs, so a tiny dataset cannot loop for long on evaluation.
MAX_TIMED_EPOCHS = 100_000
# With a time budget, evaluate at the end of the first epoch past each tenth of the budget (and
# at the end), not after every epoch: on a GPU an epoch of a small dataset takes ~0.1 s, and
# evaluating, reporting, pruning and writing after each would take many times the budget. Where
# an epoch is longer than a tenth, every epoch is evaluated, as without a budget.
EVAL_SLICES = 10


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
    hooks: EpochHooks | None = None,
    evaluate_every_epoch: bool = False,
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

    `hooks` (harness.train.hooks) start the run from a checkpoint and see each validated epoch,
    and may stop training after it; `evaluate_every_epoch` validates every epoch under a time
    budget too (a checkpoint per epoch records its validation). The history and the result cover
    a resumed run's restored epochs too.
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
    state = TrainState(loop, batches)
    if hooks is not None:
        hooks.on_start(state)
    history = state.history
    for epoch in range(state.epoch + 1, (MAX_TIMED_EPOCHS if timed else config.epochs) + 1):
        if state.finished:  # a resumed run that had ended
            break
        train_loss, out_of_time = loop.epoch(live.batches(batches, epoch) if live else batches, epoch)
        if train_loss is None:  # the budget ran out exactly at an epoch boundary
            break
        if not math.isfinite(train_loss):
            raise NonFiniteLossError(f"training loss became {train_loss} in epoch {epoch}")
        state.epoch = epoch
        if timed and not out_of_time and not evaluate_every_epoch:
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
        state.finished = (out_of_time or (timed and loop.train_seconds >= config.seconds)
                          or (not timed and epoch == config.epochs))
        if hooks is not None and hooks.on_epoch_end(metrics, state):
            break
        if state.finished:
            break
    if loop.average is not None:  # the trained model is the one validated: the average
        model.load_state_dict(loop.average.module.state_dict())
    last = history[-1]
    return TrainResult(last.val_accuracy, last.val_loss, last.train_loss, loop.train_seconds, history,
                       loop.train_images, warmup_seconds=overheads.warmup, eval_seconds=overheads.evaluate,
                       batch_size=batches.batch_size, val_balanced_accuracy=last.val_balanced_accuracy,
                       val_macro_f1=last.val_macro_f1)
