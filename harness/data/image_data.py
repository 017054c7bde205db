"""Dataset basics: `ImageData` (uint8 image tensors and labels per split), what a source reads
(`RawData`), and the registry of sources.

A dataset is named `NAME` or `NAME:PATH` (`folder:~/photos`, `cifar10:/data/cifar`): the source
reads its files (through torchvision's dataset classes where there are some), and
`load_dataset` then makes the splits the same way for every source: a seeded, stratified
validation split carved from the training images unless the source has its own, and the test
split, where there is one, kept apart (a search never reads it). See `harness datasets`.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import DatasetError, DatasetWarning
from harness.registry import Registry

if TYPE_CHECKING:  # torch is imported where tensors are made: listing the datasets needs none
    import torch

# The dataset a search uses when none is named.
DEFAULT_DATASET = "default"
# Fraction of the training images held out for validation when a dataset has no validation split.
DEFAULT_VAL_FRACTION = 0.1


@dataclass(frozen=True)
class Augment:
    """The training augmentation a dataset suits: random crop after zero padding, horizontal flip."""

    crop_padding: int = 0  # pixels of zero padding on each side before a random crop; 0 = no crop
    flip: bool = False  # random horizontal flips (off for digits and other handedness-bound data)


@dataclass(frozen=True)
class ImageData:
    """A classification dataset held as tensors: x uint8 (N, C, H, W), y int64 (N,), per split.

    `test_x`/`test_y` are None where the dataset has no test split; the search never reads them.
    """

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    classes: tuple[str, ...]
    test_x: torch.Tensor | None = None
    test_y: torch.Tensor | None = None
    source: str = ""  # where the images came from (a folder, "generated", ...)
    split_id: str = ""  # hash of which images are in which split (see make_splits)
    augment: Augment = field(default_factory=Augment)  # what suits this data by default
    # (images kept, training images before, subset id) when training on a subset (train_subset)
    train_subset: tuple[int, int, str] | None = None

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one image."""
        c, h, w = self.train_x.shape[1:]
        return int(c), int(h), int(w)

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    @property
    def nbytes(self) -> int:
        """Bytes of the images and labels of the training and validation splits (what a search holds)."""
        return sum(t.numel() * t.element_size() for t in (self.train_x, self.train_y, self.val_x, self.val_y))

    @cached_property
    def _stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        # Chunked: a float copy of a large training set would need 4x its memory at once.
        import torch

        c = self.train_x.shape[1]
        total = torch.zeros(c, dtype=torch.float64)
        squares = torch.zeros(c, dtype=torch.float64)
        for start in range(0, len(self.train_x), 4096):
            x = self.train_x[start : start + 4096].to(torch.float64).div_(255)
            total += x.sum(dim=(0, 2, 3)).cpu()
            squares += x.square().sum(dim=(0, 2, 3)).cpu()
        n = max(1, self.train_x.shape[0] * self.train_x.shape[2] * self.train_x.shape[3])
        mean = total / n
        std = (squares / n - mean.square()).clamp_min(0).sqrt()
        return mean.float(), std.float().clamp_min(1e-3)

    def channel_stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-channel mean and standard deviation of the training images, in [0, 1] units
        (computed once per dataset object: every trial of a study shares them)."""
        return self._stats

    def class_counts(self, split: str = "train") -> list[int]:
        """Images per class in `split` ("train", "val" or "test")."""
        y = getattr(self, f"{split}_y")
        if y is None:
            return []
        import torch

        return torch.bincount(y.cpu(), minlength=self.num_classes).tolist()

    def to(self, device: torch.device | str, *, test: bool = False) -> ImageData:
        """The same data with the training and validation tensors (and the test ones when `test`)
        on `device`; the same object when already there."""
        import torch

        device = torch.device(device)
        names = ["train_x", "train_y", "val_x", "val_y"] + (["test_x", "test_y"] if test else [])
        tensors = {n: getattr(self, n) for n in names if getattr(self, n) is not None}
        if all(t.device == device or (device.index is None and t.device.type == device.type)
               for t in tensors.values()):
            return self
        return self.with_tensors(**{n: t.to(device) for n, t in tensors.items()})

    def with_tensors(self, **tensors: torch.Tensor) -> ImageData:
        """The same data with some split tensors replaced (moved or pinned copies of the same
        images), keeping the channel statistics: computed here first, on the host, while the
        training images are still in host memory (on a GPU the float64 chunks would take
        gigabytes of device memory at 224 x 224)."""
        if "_stats" not in self.__dict__ and self.train_x.device.type == "cpu":
            self._stats  # noqa: B018 (computes and caches them)
        moved = replace(self, **tensors)
        if "_stats" in self.__dict__:  # keep the statistics already computed
            moved.__dict__["_stats"] = self._stats
        return moved

    def describe(self) -> str:
        """One line: name, sizes, image shape, classes."""
        c, h, w = self.input_shape
        test = f" / {len(self.test_y)} test" if self.test_y is not None else ""
        subset = f" (a stratified subset of {self.train_subset[1]})" if self.train_subset else ""
        return (
            f"{self.name}: {len(self.train_y)} train{subset} / {len(self.val_y)} val{test} images, "
            f"{c}x{h}x{w}, {self.num_classes} classes"
        )

    def info(self) -> dict[str, object]:
        """Metadata for run.json: name, source, shape, classes, counts, split id, augmentation."""
        c, h, w = self.input_shape
        return {
            "name": self.name,
            "source": self.source,
            "channels": c,
            "image_size": [h, w],
            "num_classes": self.num_classes,
            "classes": list(self.classes),
            "train": len(self.train_y),
            "val": len(self.val_y),
            "test": None if self.test_y is None else len(self.test_y),
            "split_id": self.split_id,
            "train_subset": None if self.train_subset is None else
            {"images": self.train_subset[0], "of": self.train_subset[1], "id": self.train_subset[2]},
            "augment": {"crop_padding": self.augment.crop_padding, "flip": self.augment.flip},
        }


# ------------------------------------------------------------------------------ sources
@dataclass(frozen=True)
class DataRequest:
    """What a source is asked to read: the PATH of `NAME:PATH`, where standard datasets live,
    whether it may download, the image size asked for, and strictness about bad files."""

    path: str | None = None
    data_dir: Path = field(default_factory=lambda: default_data_dir())
    download: bool = False
    image_size: int | None = None  # square side in pixels; None: the source's own
    strict: bool = False  # refuse a folder with unreadable images instead of skipping them
    progress: bool = True  # show progress while decoding images
    verify: bool = False  # check a standard dataset's original files against their published MD5s


@dataclass(frozen=True)
class RawData:
    """What a source read, before the common split: train (and test, and validation when the
    dataset defines one) as uint8 (N, C, H, W) images and int64 labels."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    classes: tuple[str, ...]
    val_x: torch.Tensor | None = None
    val_y: torch.Tensor | None = None
    test_x: torch.Tensor | None = None
    test_y: torch.Tensor | None = None
    source: str = ""
    augment: Augment = field(default_factory=Augment)


@dataclass(frozen=True)
class DatasetSource:
    """A registered dataset: how to read it and what it needs."""

    name: str
    description: str
    needs: str  # what must be on disk (or "nothing")
    read: Callable[[DataRequest], RawData]
    shape: tuple[tuple[int, int, int], int] | None = None  # ((C, H, W), classes) when fixed
    path: str = "optional"  # the PATH of NAME:PATH: "optional", "required" or "none"
    verifiable: bool = False  # its original files have published MD5s (--verify)


DATASETS: Registry[DatasetSource] = Registry("dataset")


def register_dataset(source: DatasetSource) -> DatasetSource:
    """Add `source` to the registry under its name."""
    DATASETS.register(source.name, source)
    return source


def default_data_dir() -> Path:
    """Where standard datasets are looked for: $HARNESS_DATA, else ~/.cache/harness/data."""
    env = os.environ.get("HARNESS_DATA")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "harness" / "data"


def cache_dir() -> Path:
    """Where decoded image folders are cached: $HARNESS_CACHE, else ~/.cache/harness/cache."""
    env = os.environ.get("HARNESS_CACHE")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "harness" / "cache"


def parse_dataset(ref: str) -> tuple[str, str | None]:
    """`NAME` or `NAME:PATH` -> (name, path or None); the name is checked against the registry
    (an unknown one raises UnknownNameError listing the valid ones)."""
    name, sep, path = str(ref).partition(":")
    source = DATASETS.get(name)
    if sep and not path:
        raise DatasetError(f"dataset {ref!r}: nothing after ':'; give {name}:PATH or just {name}")
    if path and source.path == "none":
        raise DatasetError(f"dataset {name!r} takes no path (it needs {source.needs}), not {path!r}")
    if not path and source.path == "required":
        raise DatasetError(f"dataset {name!r} needs a path: {name}:PATH ({source.needs})")
    return name, path or None


def verifiable_datasets() -> list[str]:
    """Names of the datasets whose original files have published MD5s."""
    return [n for n in DATASETS.names() if DATASETS.get(n).verifiable]


def warn(message: str) -> None:
    """Tell the user about the data (skipped files, class imbalance): a DatasetWarning, which the
    CLI prints as one line and a notebook shows as a warning."""
    warnings.warn(message, DatasetWarning, stacklevel=2)


def fingerprint(*parts: object) -> str:
    """A short stable hash (12 hex digits) of `parts` (tensors hashed by their bytes)."""
    import torch

    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, torch.Tensor):
            digest.update(part.detach().cpu().contiguous().numpy().tobytes())
        else:
            digest.update(repr(part).encode())
        digest.update(b"|")
    return digest.hexdigest()[:12]
