"""How one trial trains: `TrainConfig` (budget, optimiser, schedule, augmentation, recipe) and
`TRAIN_CHECKS`, the check of each of its fields (the search space's YAML reader uses them too)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass

from harness.data import Augment, ImageData
from harness.value_checks import Check, check_choice, check_float, check_int, check_optional

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
# default, so the runs of older studies keep their keys (harness.train.train_config.budget_key).
LATER_FIELDS = {"ema": 0.0, "tta": False}


def budget_key(spec_id: str, config: TrainConfig, device_type: str = "cpu", precision: str = "fp32") -> str:
    """What makes two runs the same experiment: the architecture, the whole training config, and
    where and in what precision it trains (under a time budget a GPU's bf16 run is another
    experiment than a CPU's fp32 one, and even per epoch the numbers differ)."""
    fields = {k: v for k, v in dataclasses.asdict(config).items() if LATER_FIELDS.get(k, object()) != v}
    blob = json.dumps({**fields, "device_type": device_type, "precision": precision},
                      sort_keys=True, default=str)
    return f"{spec_id}/{hashlib.sha1(blob.encode()).hexdigest()[:10]}"
