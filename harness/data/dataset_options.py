"""Loading a dataset: `load_dataset` reads a registered source and makes the splits; `DataOptions`
carries its options as one value."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import harness.data.sources  # noqa: F401  (each source registers itself on import)
from harness.data.image_data import (
    DATASETS,
    DEFAULT_DATASET,
    DEFAULT_VAL_FRACTION,
    DataRequest,
    ImageData,
    default_data_dir,
    parse_dataset,
    verifiable_datasets,
)
from harness.errors import DatasetError


@dataclass(frozen=True)
class DataOptions:
    """How to read a dataset, besides its name: the options `load_dataset` takes, as one value a
    search or a ranking carries (and records in run.json)."""

    data_dir: str | None = None  # None: $HARNESS_DATA, else ~/.cache/harness/data
    download: bool = False
    image_size: int | None = None
    val_fraction: float = DEFAULT_VAL_FRACTION
    strict: bool = False
    split_seed: int = 0  # fixed, so every run of a study validates on the same images
    verify: bool = False  # check the original files' published MD5s before reading them
    train_images: int | None = None  # train on a stratified subset of this many images (None: all)

    def load(self, ref: str, progress: bool = False) -> ImageData:
        """`load_dataset(ref, ...)` with these options."""
        return load_dataset(ref, self.split_seed, data_dir=self.data_dir, download=self.download,
                            image_size=self.image_size, val_fraction=self.val_fraction, strict=self.strict,
                            progress=progress, verify=self.verify, train_images=self.train_images)

    def shape(self, ref: str) -> tuple[tuple[int, int, int], int]:
        """`dataset_shape(ref, ...)` with these options: ((C, H, W), classes), reading only if need be."""
        return dataset_shape(ref, image_size=self.image_size, data_dir=self.data_dir, download=self.download,
                             val_fraction=self.val_fraction, strict=self.strict)

    def with_recorded(self, recorded: Mapping[str, Any] | None) -> DataOptions:
        """These options with a study's recorded way of reading its data (run.json's `data_options`):
        its image_size and val_fraction where these options leave them at their defaults."""
        recorded = recorded or {}
        options = self
        if self.image_size is None and recorded.get("image_size"):
            options = replace(options, image_size=int(recorded["image_size"]))
        if self.val_fraction == DEFAULT_VAL_FRACTION and recorded.get("val_fraction") is not None:
            options = replace(options, val_fraction=float(recorded["val_fraction"]))
        return options


def load_dataset(
    ref: str = DEFAULT_DATASET,
    seed: int = 0,
    *,
    data_dir: str | Path | None = None,
    download: bool = False,
    image_size: int | None = None,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    strict: bool = False,
    progress: bool = False,
    verify: bool = False,
    train_images: int | None = None,
) -> ImageData:
    """Read dataset `ref` (`NAME` or `NAME:PATH`) and make its splits.

    `seed` picks the validation split carved from the training images (stratified,
    `val_fraction` of them) when the dataset has no validation split of its own. Problems
    (missing files, an empty folder, one class) raise DatasetError with what to do. `verify`
    checks a standard dataset's original files against their published MD5s first.
    `train_images` keeps a stratified subset of that many training images (drawn with `seed`,
    so the same for every trial of a study); validation and test stay whole.
    """
    name, path = parse_dataset(ref)
    if verify and not DATASETS.get(name).verifiable:
        raise DatasetError(f"{{verify}} checks the published MD5s of a standard dataset's original files; "
                           f"{name!r} has none (verifiable: {', '.join(verifiable_datasets())})", settings=("verify",))
    if image_size is not None and (isinstance(image_size, bool) or not isinstance(image_size, int)
                                   or image_size < 1):
        raise DatasetError(f"image size must be a positive number of pixels, not {image_size!r}")
    request = DataRequest(path=path, data_dir=Path(data_dir).expanduser() if data_dir else default_data_dir(),
                          download=download, image_size=image_size, strict=strict, progress=progress,
                          verify=verify)
    from harness.data.splits import make_splits, resize_images, train_subset  # torch: not for a listing

    raw = DATASETS.get(name).read(request)
    if image_size is not None:
        raw = resize_images(raw, image_size)
    data = make_splits(raw, name=ref, seed=seed, val_fraction=val_fraction)
    return data if train_images is None else train_subset(data, train_images, seed)


def dataset_shape(ref: str, image_size: int | None = None, **options: object) -> tuple[tuple[int, int, int], int]:
    """((C, H, W), number of classes) of dataset `ref`, reading it only when not fixed in advance."""
    name, _ = parse_dataset(ref)
    shape = DATASETS.get(name).shape
    if shape is None:
        data = load_dataset(ref, image_size=image_size, **options)  # type: ignore[arg-type]
        return data.input_shape, data.num_classes
    (c, h, w), classes = shape
    if image_size is not None:
        h = w = image_size
    return (c, h, w), classes
