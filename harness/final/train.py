"""One architecture trained to the end: `train_final(spec, data, config, folder)` trains on the
training split, validates every epoch (early stopping and the choice of weights), evaluates the
test split once with the chosen weights, and writes the model folder (harness.final.model_folder) with
metrics.json, plots and model.html. The epochs are train_model's (harness.train.loop); the
checkpoints, resume, early stopping and best-epoch weights are its hooks here (`Checkpoints`).

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
from harness.data.loader import Normalize, eval_batches
from harness.errors import HarnessError
from harness.files import atomic_write
from harness.final.model_folder import INFO, ModelInfo, load_state, write_json, write_model
from harness.signals import StopOnSignal
from harness.train.device import resolve_device, resolve_precision
from harness.train.hooks import EpochHooks, TrainState
from harness.train.live import LiveProgress
from harness.train.loop import train_model
from harness.train.metrics import METRICS, report
from harness.train.results import EpochMetrics
from harness.train.scoring import eval_batch_size, flip_averaged
from harness.train.train_config import TrainConfig
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
    saved = _read_state(folder, key)

    torch.manual_seed(final.seed)  # the initial weights
    model = build_model(spec, in_channels=c, num_classes=data.num_classes, input_size=(h, w))
    timed = config.seconds is not None
    resumed_from = int(saved["epoch"]) if saved is not None else 0
    live = LiveProgress("training", None if timed else config.epochs, config.seconds, enabled=final.live,
                        first_epoch=resumed_from + 1)
    # Training and evaluating stop at once on Ctrl-C or kill; the hooks' checkpoint and lines are
    # written whole first (Checkpoints.on_epoch_end). The live line is cleared however it ends.
    with StopOnSignal() as stop, live, stop.interruptible():
        checkpoints = Checkpoints(folder, key, final, saved, "?" if timed else str(config.epochs), stop, live,
                                  say, on_epoch)
        train_model(model, data, config, device=device, seed=final.seed, precision=precision, live=live,
                    hooks=checkpoints, evaluate_every_epoch=True)
    return _finish(spec, data, config, final, folder, model, checkpoints.rows, checkpoints.best_epoch, device,
                   resumed_from)


def _epoch_metrics(row: dict[str, float]) -> EpochMetrics:
    """A checkpoint's history row as the loop's EpochMetrics (a resumed run's restored epochs)."""
    return EpochMetrics(int(row["epoch"]), row["train_loss"], row["val_loss"], row["val_accuracy"], row["seconds"],
                        row.get("val_balanced_accuracy", math.nan), row.get("val_macro_f1", math.nan))


@dataclass
class Checkpoints(EpochHooks):
    """Final training's hooks on train_model: resume from the checkpoint read (`saved`), and after
    each epoch keep the best epoch's weights, write the checkpoint, print the epoch's line, and stop
    early after `final.patience` epochs without a better validation figure."""

    folder: Path
    key: str  # the run's identity (_key), written into every state.pt
    final: FinalConfig
    saved: dict[str, Any] | None  # the checkpoint to resume (state.pt's mapping); None: a fresh start
    total: str  # the epochs to come, for the lines ("?" under a time budget)
    stop: StopOnSignal
    live: LiveProgress
    say: Callable[[str], None]
    on_epoch: Callable[[int], None] | None = None  # after epoch n's checkpoint is written (a test stops there)
    rows: list[dict[str, float]] = field(default_factory=list)  # metrics.json's history, one row per epoch
    best_epoch: int = 0
    best_value: float = -math.inf
    started: float = 0.0  # when this epoch began, time.perf_counter() (s): its wall_seconds count from here

    def on_start(self, state: TrainState) -> None:
        """Restore the saved checkpoint: weights, optimizer, schedule, weight average, the random
        generators, the history, the best epoch and the clocks; a finished run trains no epoch."""
        saved, loop = self.saved, state.loop
        if saved is not None:
            loop.model.load_state_dict(load_state(self.folder / CHECKPOINT / saved["weights"]))
            loop.optimizer.load_state_dict(saved["optimizer"])
            if loop.scheduler is not None:
                loop.scheduler.load_state_dict(saved["scheduler"])
            if loop.average is not None:
                loop.average.load_state_dict(saved["average"])
            torch.set_rng_state(saved["rng"])
            state.batches.order_generator.set_state(saved["order_rng"])
            state.batches.augment_generator.set_state(saved["augment_rng"])
            self.rows, self.best_epoch = list(saved["history"]), int(saved["best_epoch"])
            self.best_value = float(saved["best_value"])
            # The warm-up step ran before the checkpoint; images count from this run's start.
            loop.train_seconds, loop.train_images, loop.warmed_up = float(saved["train_seconds"]), 0, True
            state.epoch, state.finished = int(saved["epoch"]), bool(saved.get("finished"))
            state.history[:] = [_epoch_metrics(row) for row in self.rows]
            self.say(f"resuming from the checkpoint of epoch {saved['epoch']} in {self.folder / CHECKPOINT}")
        self.started = time.perf_counter()

    def on_epoch_end(self, metrics: EpochMetrics, state: TrainState) -> bool:
        """Record epoch `metrics`: the best weights when better, the checkpoint, the line; True
        when `final.patience` epochs went by without a better validation figure. A stop (Ctrl-C,
        kill) asked for meanwhile waits until all of it is written, and is raised after."""
        with self.stop.interruptible(immediate=False):
            return self._record(metrics, state)

    def _record(self, metrics: EpochMetrics, state: TrainState) -> bool:
        loop, final, epoch, ckpt = state.loop, self.final, metrics.epoch, self.folder / CHECKPOINT
        row = {"epoch": epoch, "train_loss": metrics.train_loss, "val_loss": metrics.val_loss,
               "val_accuracy": metrics.val_accuracy, "val_balanced_accuracy": metrics.val_balanced_accuracy,
               "val_macro_f1": metrics.val_macro_f1, "seconds": metrics.seconds,
               "wall_seconds": time.perf_counter() - self.started}
        self.rows.append(row)
        improved = metrics.metric(final.metric) > self.best_value
        if improved:
            self.best_epoch, self.best_value = epoch, metrics.metric(final.metric)
            _save_weights(ckpt / f"best-{epoch}.safetensors", loop.eval_model)
        stale = epoch - self.best_epoch
        early = final.patience is not None and stale >= final.patience
        _save_weights(ckpt / f"epoch-{epoch}.safetensors", loop.model)
        _commit(self.folder, {
            "key": self.key, "epoch": epoch, "weights": f"epoch-{epoch}.safetensors",
            "best": f"best-{self.best_epoch}.safetensors", "best_epoch": self.best_epoch,
            "best_value": self.best_value, "optimizer": loop.optimizer.state_dict(),
            "scheduler": loop.scheduler.state_dict() if loop.scheduler else None,
            "average": loop.average.state_dict() if loop.average is not None else None,
            "rng": torch.get_rng_state(), "order_rng": state.batches.order_generator.get_state(),
            "augment_rng": state.batches.augment_generator.get_state(), "history": self.rows,
            "train_seconds": loop.train_seconds, "finished": state.finished or early,
        })
        self.live.close()  # the progress line gives way to the epoch's own
        m = metrics
        self.say(f"epoch {epoch:>3}/{self.total}  train loss {m.train_loss:.4f}  val loss {m.val_loss:.4f}  "
                 f"val acc {m.val_accuracy:6.2%}  balanced {m.val_balanced_accuracy:6.2%}  "
                 f"macro F1 {m.val_macro_f1:.4f}  {row['wall_seconds']:.1f} s{'  (best)' if improved else ''}")
        if early:
            self.say(f"early stop: no better validation {final.metric} for {final.patience} epochs")
        if self.on_epoch is not None:
            self.on_epoch(epoch)
        self.started = time.perf_counter()
        return early


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
    from harness.final.model_page import write_pages

    files = [folder / n for n in ("model.safetensors", "spec.yaml", INFO, METRICS_FILE)]
    files += write_pages(folder, spec, info, metrics)
    return FinalResult(folder, best_epoch, metrics, len(history), resumed_from, files)
