"""Splits and sizes: a seeded, stratified validation split carved from the training images, and
resizing to a requested image size. Every source goes through here, so splits are made alike."""

from __future__ import annotations

from dataclasses import replace

import torch
from torch.nn import functional as F

from harness.data.image_data import Augment, ImageData, RawData, fingerprint
from harness.errors import DatasetError


def stratified_split(labels: torch.Tensor, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train indices, validation indices) with `val_fraction` of each class in validation.

    Each class gives round(fraction x its count) images, at least one when it has two or more,
    so a rare class is still validated on; the choice within a class is a seeded permutation,
    so the same seed gives the same split on every machine. Both index lists come back sorted.
    """
    if not 0.0 < val_fraction < 1.0:
        raise DatasetError(f"the validation fraction must be between 0 and 1 (exclusive), not {val_fraction}")
    generator = torch.Generator().manual_seed(seed)
    labels = labels.cpu()
    train, val = [], []
    for cls in torch.unique(labels).tolist():
        members = torch.nonzero(labels == cls).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        n_val = int(round(val_fraction * len(members)))
        n_val = min(max(n_val, 1), len(members) - 1) if len(members) >= 2 else 0
        val.append(members[:n_val])
        train.append(members[n_val:])
    return torch.cat(train).sort().values, torch.cat(val).sort().values


def make_splits(raw: RawData, *, name: str, seed: int, val_fraction: float) -> ImageData:
    """ImageData from what a source read: its own validation split when it has one, else a
    stratified `val_fraction` of the training images (seeded); the test split kept apart."""
    _check_raw(raw, name)
    if raw.val_x is not None and raw.val_y is not None:
        train_x, train_y, val_x, val_y = raw.train_x, raw.train_y, raw.val_x, raw.val_y
        split_id = fingerprint("given", name, raw.train_y, raw.val_y)
    else:
        train_idx, val_idx = stratified_split(raw.train_y, val_fraction, seed)
        if len(val_idx) == 0:
            raise DatasetError(f"dataset {name!r}: too few images per class ({len(raw.train_y)} in all) "
                               "to hold any out for validation")
        train_x, train_y = raw.train_x[train_idx], raw.train_y[train_idx]
        val_x, val_y = raw.train_x[val_idx], raw.train_y[val_idx]
        split_id = fingerprint("carved", name, len(raw.train_y), val_fraction, seed, val_idx)
    return ImageData(
        name=name, train_x=train_x, train_y=train_y, val_x=val_x, val_y=val_y, classes=raw.classes,
        test_x=raw.test_x, test_y=raw.test_y, source=raw.source, split_id=split_id, augment=raw.augment,
    )


def stratified_subset(labels: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """Sorted indices of `n` of `labels`, each class's share as in the whole (largest remainders
    rounded up, every class kept at least once), chosen within each class by a seeded permutation."""
    labels = labels.cpu()
    classes, counts = torch.unique(labels, return_counts=True)
    if n < len(classes):
        raise DatasetError(f"{{train_images}} {n} is fewer than the {len(classes)} classes; each class needs an image",
                           settings=("train_images",))
    if n > len(labels):
        raise DatasetError(f"{{train_images}} {n} is more than the {len(labels)} training images",
                           settings=("train_images",))
    exact = counts.double() * n / len(labels)
    take = exact.floor().long().clamp_min(1)
    by_remainder = torch.argsort(exact - exact.floor(), descending=True, stable=True).tolist()
    i = 0
    while int(take.sum()) != n:  # hand out (or take back) the images lost to rounding
        c = by_remainder[i % len(by_remainder)]
        if int(take.sum()) < n and take[c] < counts[c]:
            take[c] += 1
        elif int(take.sum()) > n and take[c] > 1:
            take[c] -= 1
        i += 1
    generator = torch.Generator().manual_seed(seed)
    chosen = []
    for cls, k in zip(classes.tolist(), take.tolist(), strict=True):
        members = torch.nonzero(labels == cls).flatten()
        chosen.append(members[torch.randperm(len(members), generator=generator)[:k]])
    return torch.cat(chosen).sort().values


def train_subset(data: ImageData, n: int, seed: int) -> ImageData:
    """`data` training on a stratified, seeded subset of `n` of its training images (a cheaper
    fidelity for a search); validation and test splits, and so the split id, unchanged. The
    subset's id (a hash of which images) is kept beside it, in `train_subset`."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise DatasetError(f"{{train_images}} must be a whole number of images, not {n!r}", settings=("train_images",))
    if n == len(data.train_y):
        return data
    idx = stratified_subset(data.train_y, n, seed)
    subset_id = fingerprint("subset", data.split_id, n, seed, idx)
    return replace(data, train_x=data.train_x[idx], train_y=data.train_y[idx],
                   train_subset=(n, len(data.train_y), subset_id))


def _check_raw(raw: RawData, name: str) -> None:
    where = f" ({raw.source})" if raw.source else ""
    if raw.train_x.ndim != 4 or raw.train_x.dtype != torch.uint8:
        raise DatasetError(f"dataset {name!r}{where}: images must be uint8 (N, C, H, W), "
                           f"got {raw.train_x.dtype} {tuple(raw.train_x.shape)}")
    if len(raw.train_y) == 0:
        raise DatasetError(f"dataset {name!r}{where}: no training images")
    present = torch.unique(raw.train_y)
    if len(present) < 2:
        raise DatasetError(f"dataset {name!r}{where}: only one class ({raw.classes[int(present[0])]!r}); "
                           "a classifier needs at least two")
    if int(raw.train_y.min()) < 0 or int(raw.train_y.max()) >= len(raw.classes):
        raise DatasetError(f"dataset {name!r}{where}: labels outside 0..{len(raw.classes) - 1}")


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (N, C, H, W) images resized to size x size: the shorter side scaled to `size`
    (antialiased bilinear), then the centre cropped square. Chunked, to bound memory."""
    n, c, h, w = x.shape
    if (h, w) == (size, size):
        return x
    scale = size / min(h, w)
    new_h, new_w = max(size, round(h * scale)), max(size, round(w * scale))
    top, left = (new_h - size) // 2, (new_w - size) // 2
    out = torch.empty((n, c, size, size), dtype=torch.uint8)
    for start in range(0, n, 1024):
        chunk = x[start : start + 1024].float()
        chunk = F.interpolate(chunk, size=(new_h, new_w), mode="bilinear", antialias=new_h < h,
                              align_corners=False)
        chunk = chunk[:, :, top : top + size, left : left + size]
        out[start : start + 1024] = chunk.round().clamp_(0, 255).to(torch.uint8)
    return out


def resize_images(raw: RawData, size: int) -> RawData:
    """`raw` with every split resized to size x size (see `resize`); crop padding scaled along."""
    if tuple(raw.train_x.shape[-2:]) == (size, size):
        return raw
    scale = size / min(raw.train_x.shape[-2:])
    augment = Augment(crop_padding=round(raw.augment.crop_padding * scale), flip=raw.augment.flip)
    return replace(
        raw,
        train_x=resize(raw.train_x, size),
        val_x=None if raw.val_x is None else resize(raw.val_x, size),
        test_x=None if raw.test_x is None else resize(raw.test_x, size),
        augment=augment,
    )
