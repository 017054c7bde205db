"""One architecture trained to the end: `train_final(spec, data, config, folder)` trains on the
training split, validates every epoch (early stopping and the choice of weights), evaluates the
test split once with the chosen weights, and writes the model folder (harness.final.folder) with
metrics.json, plots and model.html.

Every epoch ends with a checkpoint in FOLDER/checkpoint/: the weights (safetensors, one file per
epoch, and the best epoch's), and state.pt with the optimizer's and schedule's state, the random
generators (global, shuffle, augmentation), the history and the best epoch. state.pt is written
last and atomically and names the weight files it goes with, so a kill at any moment leaves the
previous epoch's checkpoint whole; the same command resumes from it, and on the CPU (fixed
generators, deterministic kernels) the result equals an uninterrupted run's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from harness.data import ImageData
from harness.data.loader import Normalize, TrainBatches, eval_batches
from harness.errors import HarnessError
from harness.files import atomic_write
from harness.final.folder import INFO, ModelInfo, load_state, write_json, write_model
from harness.signals import StopOnSignal
from harness.train.device import resolve_device, resolve_precision
from harness.train.live import LiveProgress
from harness.train.loop import (
    NonFiniteLossError,
    Overheads,
    StepLoop,
    TrainConfig,
    channels_last,
    eval_batch_size,
    evaluate,
    flip_averaged,
    make_optimizer,
    make_scheduler,
    weight_average,
)
from harness.train.metrics import METRICS, report
from harness.zoo.model import build_model
from harness.zoo.spec import ArchSpec

CHECKPOINT = "checkpoint"
STATE = "state.pt"
METRICS_FILE = "metrics.json"


@dataclass(frozen=True)
class FinalConfig:
    """How the final training runs beyond the TrainConfig: the seed, the device and precision, the
    validation metric that chooses the weights, and early stopping (`patience` epochs without a
    better validation figure; None: train every epoch)."""

    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    metric: str = "accuracy"
    patience: int | None = None
    dataset: str = ""  # the dataset reference, for the record
    origin: str = ""  # where the architecture came from, for the record
    live: bool = True  # show each epoch's progress as it trains (harness.train.live); --quiet: not
    test: bool = True  # evaluate the test split at the end (harness run reads it later, once, for the winner)


@dataclass
class FinalResult:
    """What train_final produced: the folder, the chosen epoch, the metrics (metrics.json's
    mapping), the epochs run and whether this call resumed a checkpoint."""

    folder: Path
    best_epoch: int
    metrics: dict[str, Any]
    epochs: int
    resumed_from: int = 0  # the epoch the checkpoint held (0: a fresh start)
    files: list[Path] = field(default_factory=list)


def _key(spec: ArchSpec, config: TrainConfig, final: FinalConfig, data: ImageData) -> str:
    """What makes a checkpoint this run's: architecture, training config, seed, metric, data split."""
    blob = json.dumps({"spec": spec.spec_id, "train": dataclasses.asdict(config), "seed": final.seed,
                       "metric": final.metric, "patience": final.patience, "split": data.split_id,
                       "shape": list(data.input_shape), "classes": list(data.classes)}, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def _save_weights(path: Path, model: torch.nn.Module) -> None:
    from safetensors.torch import save_file

    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp)))


def _read_state(folder: Path, key: str) -> dict[str, Any] | None:
    path = folder / CHECKPOINT / STATE
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a damaged checkpoint: one line, nothing overwritten
        raise HarnessError(f"{path}: damaged checkpoint ({type(err).__name__}); move it away to start again"
                           ) from None
    if state.get("key") != key:
        raise HarnessError(f"{folder} holds the checkpoint of another training (another architecture, "
                           "configuration, seed or dataset); give another {folder folder}", settings=("folder",))
    return state


@torch.inference_mode()
def predict_logits(model: torch.nn.Module, x: torch.Tensor, normalize: Normalize, batch: int,
                   device: torch.device, tta: bool = False) -> torch.Tensor:
    """Float32 logits (N, K) on the CPU of `model` for uint8 images `x`, in eval mode; with `tta`, the
    mean of each image's and its mirror's."""
    model.eval()
    dummy = torch.zeros(len(x), dtype=torch.long)
    out = []
    for xb, _ in eval_batches(x, dummy, normalize, device, batch):
        logits = model(xb).float()
        if tta:
            logits = (logits + model(xb.flip(3)).float()) * 0.5
        out.append(logits.cpu())
    return torch.cat(out)


def train_final(spec: ArchSpec, data: ImageData, config: TrainConfig, folder: str | Path,
                final: FinalConfig = FinalConfig(), *, progress: Callable[[str], None] | None = print,
                on_epoch: Callable[[int], None] | None = None) -> FinalResult:
    """Train `spec` on `data` for `config.epochs` epochs (or `config.seconds` of training) into
    `folder`, resuming its checkpoint when there is one; see the module docstring. `on_epoch(n)` is
    called after epoch n's checkpoint is written (a test stops there)."""
    say = progress or (lambda _: None)
    if final.metric not in METRICS:
        raise HarnessError(f"unknown metric {final.metric!r}; valid: {', '.join(METRICS)}")
    if final.patience is not None and final.patience < 1:
        raise HarnessError(f"{{patience}} must be at least 1, not {final.patience}", settings=("patience",))
    folder = Path(folder)
    device = resolve_device(final.device)
    precision = resolve_precision(final.precision, device)
    c, h, w = data.input_shape
    key = _key(spec, config, final, data)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CHECKPOINT).mkdir(exist_ok=True)
    state = _read_state(folder, key)

    torch.manual_seed(final.seed)
    model = build_model(spec, in_channels=c, num_classes=data.num_classes, input_size=(h, w))
    model.to(device)
    channels_last(model, device)
    batches = TrainBatches(data, device, config.batch_size, config.augment_for(data), seed=final.seed)
    optimizer = make_optimizer(model, config, device)
    timed = config.seconds is not None
    scheduler = None if timed else make_scheduler(optimizer, config, config.epochs * len(batches))
    loop = StepLoop(model, model, optimizer, scheduler, config, device, Overheads(), precision,
                    average=weight_average(model, config))
    history: list[dict[str, float]] = []
    best_epoch, best_value, start_epoch = 0, -math.inf, 1
    if state is not None:
        model.load_state_dict(load_state(folder / CHECKPOINT / state["weights"]))
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
        if loop.average is not None:
            loop.average.load_state_dict(state["average"])
        torch.set_rng_state(state["rng"])
        batches.order_generator.set_state(state["order_rng"])
        batches.augment_generator.set_state(state["augment_rng"])
        history, best_epoch, best_value = list(state["history"]), int(state["best_epoch"]), float(state["best_value"])
        loop.train_seconds, loop.train_images, loop.warmed_up = float(state["train_seconds"]), 0, True
        start_epoch = int(state["epoch"]) + 1
        say(f"resuming from the checkpoint of epoch {state['epoch']} in {folder / CHECKPOINT}")
    resumed_from = start_epoch - 1
    done = bool(state and state.get("finished"))
    normalize, eval_batch, tta = batches.normalize, eval_batch_size(config, device), flip_averaged(config, data)
    total = "?" if timed else str(config.epochs)
    live = LiveProgress("training", None if timed else config.epochs, config.seconds, enabled=final.live,
                        first_epoch=start_epoch)
    epoch = start_epoch
    last_epoch = 100_000 if timed else config.epochs
    with StopOnSignal() as stop:
        while not done and epoch <= last_epoch:
            stop.check()  # Ctrl-C or kill during the last checkpoint's write: it is whole, stop now
            start = time.perf_counter()
            # Training and evaluating stop at once; the checkpoint and the lines are written whole.
            with live, stop.interruptible():  # cleared before the epoch's own line is printed
                train_loss, out_of_time = loop.epoch(live.batches(batches, epoch), epoch)
            if train_loss is None:
                break
            if not math.isfinite(train_loss):
                raise NonFiniteLossError(f"training loss became {train_loss} in epoch {epoch}")
            with stop.interruptible():
                val = evaluate(loop.eval_model, data.val_x, data.val_y, normalize, eval_batch, device,
                               data.num_classes, tta)
            value = val.metric(final.metric)
            row = {"epoch": epoch, "train_loss": train_loss, "val_loss": val.loss, "val_accuracy": val.accuracy,
                   "val_balanced_accuracy": val.balanced_accuracy, "val_macro_f1": val.macro_f1,
                   "seconds": loop.train_seconds, "wall_seconds": time.perf_counter() - start}
            history.append(row)
            improved = value > best_value
            if improved:
                best_epoch, best_value = epoch, value
                _save_weights(folder / CHECKPOINT / f"best-{epoch}.safetensors", loop.eval_model)
            stale = epoch - best_epoch
            done = (out_of_time or (timed and loop.train_seconds >= config.seconds)
                    or (final.patience is not None and stale >= final.patience)
                    or (not timed and epoch == config.epochs))
            _save_weights(folder / CHECKPOINT / f"epoch-{epoch}.safetensors", model)
            _commit(folder, {
                "key": key, "epoch": epoch, "weights": f"epoch-{epoch}.safetensors",
                "best": f"best-{best_epoch}.safetensors", "best_epoch": best_epoch, "best_value": best_value,
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict() if scheduler else None,
                "average": loop.average.state_dict() if loop.average is not None else None,
                "rng": torch.get_rng_state(), "order_rng": batches.order_generator.get_state(),
                "augment_rng": batches.augment_generator.get_state(), "history": history,
                "train_seconds": loop.train_seconds, "finished": done,
            })
            say(f"epoch {epoch:>3}/{total}  train loss {train_loss:.4f}  val loss {val.loss:.4f}  "
                f"val acc {val.accuracy:6.2%}  balanced {val.balanced_accuracy:6.2%}  macro F1 {val.macro_f1:.4f}  "
                f"{row['wall_seconds']:.1f} s{'  (best)' if improved else ''}")
            if final.patience is not None and stale >= final.patience:
                say(f"early stop: no better validation {final.metric} for {final.patience} epochs")
            if on_epoch is not None:
                on_epoch(epoch)
            epoch += 1
    if not history:
        raise HarnessError(f"{folder}: no epoch was trained")
    return _finish(spec, data, config, final, folder, model, history, best_epoch, device, resumed_from)


def _commit(folder: Path, state: dict[str, Any]) -> None:
    """Write state.pt atomically (the checkpoint's commit point), then delete weight files it no
    longer names."""
    ckpt = folder / CHECKPOINT
    atomic_write(ckpt / STATE, lambda tmp: torch.save(state, tmp))
    keep = {state["weights"], state["best"]}
    for path in ckpt.glob("*.safetensors"):
        if path.name not in keep:
            path.unlink(missing_ok=True)


def _finish(spec: ArchSpec, data: ImageData, config: TrainConfig, final: FinalConfig, folder: Path,
            model: torch.nn.Module, history: list[dict[str, float]], best_epoch: int, device: torch.device,
            resumed_from: int) -> FinalResult:
    """Load the best epoch's weights, evaluate validation and test once, write the model folder."""
    model.load_state_dict(load_state(folder / CHECKPOINT / f"best-{best_epoch}.safetensors"))
    model.eval()
    normalize, batch, tta = Normalize(data, device), eval_batch_size(config, device), flip_averaged(config, data)
    metrics: dict[str, Any] = {
        "best_epoch": best_epoch, "epochs": len(history), "metric": final.metric,
        "train_seconds": history[-1]["seconds"], "train_images": len(data.train_y), "flip_averaged": tta,
        "val": report(predict_logits(model, data.val_x, normalize, batch, device, tta), data.val_y, data.classes),
    }
    if final.test and data.test_x is not None and data.test_y is not None:
        metrics["test"] = report(predict_logits(model, data.test_x, normalize, batch, device, tta), data.test_y,
                                 data.classes)
    metrics["history"] = history
    mean, std = data.channel_stats()
    info = ModelInfo(in_channels=data.input_shape[0], input_size=data.input_shape[1:], classes=tuple(data.classes),
                     mean=tuple(float(v) for v in mean), std=tuple(float(v) for v in std), dataset=final.dataset,
                     origin=final.origin, epoch=best_epoch,
                     extra={"train": dataclasses.asdict(config), "seed": final.seed, "split": data.split_id})
    write_model(folder, model, spec, info)
    write_json(folder / METRICS_FILE, metrics)
    from harness.final.page import write_pages

    files = [folder / n for n in ("model.safetensors", "spec.yaml", INFO, METRICS_FILE)]
    files += write_pages(folder, spec, info, metrics)
    return FinalResult(folder, best_epoch, metrics, len(history), resumed_from, files)
