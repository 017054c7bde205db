"""Datasets: `ImageData` (uint8 image tensors, labels, splits) and a registry of loaders by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property

import torch

from harness.registry import Registry

# The dataset a search uses when none is named.
DEFAULT_DATASET = "default"


@dataclass(frozen=True)
class ImageData:
    """A classification dataset held as tensors: x uint8 (N, C, H, W), y int64 (N,), per split."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    classes: tuple[str, ...]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one image."""
        c, h, w = self.train_x.shape[1:]
        return int(c), int(h), int(w)

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    @cached_property
    def _stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.train_x.float().div_(255)
        return x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3)).clamp_min(1e-3)

    def channel_stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel mean and standard deviation of the training images, in [0, 1] units
        (computed once per dataset object: every trial of a study shares them)."""
        return self._stats

    def to(self, device: torch.device | str) -> ImageData:
        """The same data with every tensor on `device` (the same object when already there)."""
        device = torch.device(device)
        tensors = (self.train_x, self.train_y, self.val_x, self.val_y)
        if all(t.device == device or (device.index is None and t.device.type == device.type)
               for t in tensors):
            return self
        return replace(
            self,
            train_x=self.train_x.to(device),
            train_y=self.train_y.to(device),
            val_x=self.val_x.to(device),
            val_y=self.val_y.to(device),
        )

    def describe(self) -> str:
        """One line: name, sizes, image shape, classes."""
        c, h, w = self.input_shape
        return (
            f"{self.name}: {len(self.train_y)} train / {len(self.val_y)} val images, "
            f"{c}x{h}x{w}, {self.num_classes} classes"
        )


Loader = Callable[[int], ImageData]
DATASETS: Registry[Loader] = Registry("dataset")
DESCRIPTIONS: dict[str, str] = {}
# (input shape (C, H, W), number of classes) where known without loading the data.
SHAPES: dict[str, tuple[tuple[int, int, int], int]] = {}


def register_dataset(
    name: str, description: str, shape: tuple[tuple[int, int, int], int] | None = None
) -> Callable[[Loader], Loader]:
    """Decorator: register `loader(seed) -> ImageData` under `name`, with a one-line description
    and, when known in advance, ((C, H, W), number of classes)."""

    def decorator(loader: Loader) -> Loader:
        DATASETS.register(name, loader)
        DESCRIPTIONS[name] = description
        if shape is not None:
            SHAPES[name] = shape
        return loader

    return decorator


def dataset_shape(name: str) -> tuple[tuple[int, int, int], int]:
    """((C, H, W), number of classes) of dataset `name`, loading it only when not known in advance."""
    DATASETS.get(name)  # an unknown name fails here, listing the valid ones
    if name not in SHAPES:
        data = load_dataset(name)
        SHAPES[name] = (data.input_shape, data.num_classes)
    return SHAPES[name]


def load_dataset(name: str = DEFAULT_DATASET, seed: int = 0) -> ImageData:
    """Load dataset `name` (an unknown name raises UnknownNameError listing the valid ones)."""
    return DATASETS.get(name)(seed)


# Registration happens on import of each loader module.
from harness.data import embedded  # noqa: E402,F401
