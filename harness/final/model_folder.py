"""A trained model's folder: weights (safetensors), the spec, and what reading images needs.

    MODEL_FOLDER/
      model.safetensors   the chosen epoch's weights (best validation metric), a state_dict
      spec.yaml           the architecture (ArchSpec.to_dict, defaults left out)
      model.json          input (channels, height, width), classes, normalisation, origin, epoch
      metrics.json        validation and test metrics (harness.final.train)
      checkpoint/         the last epoch's state, for resuming (harness.final.checkpoint)

`write_model` writes the first three atomically; `load_model` reads them back into an nn.Module in
eval mode on the CPU, and any fault (no weights, a damaged file, weights of another architecture)
is one HarnessError line naming the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from harness.errors import HarnessError
from harness.files import atomic_write
from harness.zoo.spec import ArchSpec

WEIGHTS = "model.safetensors"
SPEC = "spec.yaml"
INFO = "model.json"
FORMAT = 1  # model.json's format version


@dataclass(frozen=True)
class ModelInfo:
    """What using the weights needs besides the spec: the input the network was built for, its
    classes in output order, and the per-channel normalisation of the training images."""

    in_channels: int
    input_size: tuple[int, int]  # (height, width) in pixels
    classes: tuple[str, ...]
    mean: tuple[float, ...]  # per channel, in [0, 1] units (harness.data.ImageData.channel_stats)
    std: tuple[float, ...]
    dataset: str = ""  # the dataset reference it was trained on
    origin: str = ""  # where the architecture came from ("kernel_size trial 9", "preset resnet18", ...)
    epoch: int = 0  # the epoch whose weights were kept
    extra: dict[str, Any] = field(default_factory=dict)  # training config and budget, for the record

    @property
    def num_classes(self) -> int:
        """Classes of the classifier."""
        return len(self.classes)

    def to_dict(self) -> dict[str, Any]:
        """model.json's mapping."""
        return {"format": FORMAT, "in_channels": self.in_channels, "input_size": list(self.input_size),
                "classes": list(self.classes), "mean": list(self.mean), "std": list(self.std),
                "dataset": self.dataset, "origin": self.origin, "epoch": self.epoch, **self.extra}

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: Path) -> ModelInfo:
        """Inverse of to_dict; a missing or malformed key raises HarnessError naming `path`."""
        try:
            known = {"format", "in_channels", "input_size", "classes", "mean", "std", "dataset", "origin", "epoch"}
            h, w = (int(v) for v in data["input_size"])
            return cls(in_channels=int(data["in_channels"]), input_size=(h, w),
                       classes=tuple(str(c) for c in data["classes"]),
                       mean=tuple(float(v) for v in data["mean"]), std=tuple(float(v) for v in data["std"]),
                       dataset=str(data.get("dataset", "")), origin=str(data.get("origin", "")),
                       epoch=int(data.get("epoch", 0)), extra={k: v for k, v in data.items() if k not in known})
        except (KeyError, TypeError, ValueError) as err:
            raise HarnessError(f"{path}: not a model description written by harness train ({type(err).__name__}: "
                               f"{err})") from None


@dataclass(frozen=True)
class TrainedModel:
    """A model folder read back: the network (eval mode, CPU), its spec and its ModelInfo."""

    folder: Path
    model: nn.Module
    spec: ArchSpec
    info: ModelInfo

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 images (N, C, H, W) -> the network's float input (the training normalisation)."""
        mean = torch.tensor(self.info.mean).view(1, -1, 1, 1)
        std = torch.tensor(self.info.std).view(1, -1, 1, 1)
        return (x.float() / 255.0 - mean) / std


def write_json(path: Path, data: dict[str, Any]) -> None:
    """`data` as indented JSON at `path`, atomically."""
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2, default=str) + "\n"))


def write_model(folder: Path, model: nn.Module, spec: ArchSpec, info: ModelInfo,
                state: dict[str, torch.Tensor] | None = None) -> None:
    """Write model.safetensors (`state`, else the model's state_dict), spec.yaml and model.json."""
    from safetensors.torch import save_file

    from harness.zoo.specfile import spec_text

    folder.mkdir(parents=True, exist_ok=True)
    tensors = state if state is not None else model.state_dict()
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    atomic_write(folder / WEIGHTS, lambda tmp: save_file(tensors, str(tmp), metadata={"spec_id": spec.spec_id}))
    atomic_write(folder / SPEC, lambda tmp: tmp.write_text(spec_text(spec)))
    write_json(folder / INFO, info.to_dict())


def read_info(folder: str | Path) -> ModelInfo:
    """The ModelInfo of `folder` (model.json)."""
    folder = Path(folder)
    path = folder / INFO
    if not folder.is_dir():
        raise HarnessError(f"{folder}: no such model folder")
    if not path.is_file():
        raise HarnessError(f"{folder}: no {INFO} here: not a model folder (harness train writes one)")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise HarnessError(f"{path}: damaged ({type(err).__name__})") from None
    if not isinstance(data, dict):
        raise HarnessError(f"{path}: not a model description written by harness train")
    return ModelInfo.from_dict(data, path)


def load_state(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file; a missing or damaged file is one HarnessError line."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise HarnessError(f"{path.parent}: no weights ({path.name} is missing)")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise HarnessError(f"{path}: damaged weights file ({reason})") from None


def load_model(folder: str | Path) -> TrainedModel:
    """The model in `folder` (written by harness train), built from spec.yaml with the weights of
    model.safetensors, in eval mode on the CPU."""
    from harness.zoo.model import build_model
    from harness.zoo.specfile import load_spec

    folder = Path(folder)
    info = read_info(folder)
    if not (folder / SPEC).is_file():
        raise HarnessError(f"{folder}: no {SPEC} here: not a model folder (harness train writes one)")
    state = load_state(folder / WEIGHTS)
    spec = load_spec(str(folder / SPEC))
    model = build_model(spec, in_channels=info.in_channels, num_classes=info.num_classes, input_size=info.input_size)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).splitlines()[1].strip() if len(str(err).splitlines()) > 1 else str(err)
        raise HarnessError(f"{folder / WEIGHTS}: the weights do not fit {SPEC} ({first})") from None
    model.eval()
    return TrainedModel(folder, model, spec, info)
