"""Batches for training: shuffled uint8 images gathered, augmented and normalised on the device.

Two placements, one interface (`TrainBatches`, iterated once per epoch):
  - resident: the whole training set sits on the device as uint8 (a quarter of float32's bytes);
    a batch is an index gather, then the augmentation and normalisation run there as a few
    batched kernels: no DataLoader, no host round trip, no per-sample Python;
  - streaming: the images stay in host memory; a torch DataLoader with workers gathers each
    batch from a pinned copy and it is copied to the device without blocking; the same
    augmentation then runs on the device.
`place_dataset` chooses: resident when the data fits a memory budget on the device (by default
half of the device's free memory, shared out among the workers on that GPU), else streaming, also
when placing it runs out of memory. Streamed, the validation and test splits still go to the device
when they fit the budget (else they wait in pinned host memory): they are read whole after every
epoch. On CPU the device is the host, so the data is always "resident" and the same code runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from harness.data.image_data import Augment, ImageData

# Share of the device's free memory the dataset may take when no budget is given: the rest is
# for the model, its activations and the optimizer (which for small CNNs need far less).
DEFAULT_MEMORY_SHARE = 0.5
# How many worker processes share this process's GPU (set by harness.search.workers): each one
# takes its share of the default budget, not the whole of it.
ENV_WORKERS_PER_GPU = "HARNESS_WORKERS_PER_GPU"


def workers_per_gpu() -> int:
    """The processes sharing this GPU, from $HARNESS_WORKERS_PER_GPU (1 when unset or not a count)."""
    text = os.environ.get(ENV_WORKERS_PER_GPU, "1")
    return int(text) if text.isdigit() and int(text) >= 1 else 1


@dataclass(frozen=True)
class Placement:
    """Where a dataset's training and validation tensors live for a run, and why."""

    device: torch.device  # the training device
    resident: bool  # True: data on the training device; False: host memory, streamed
    data_bytes: int
    budget_bytes: int | None  # None: no limit applied (CPU)
    why: str | None = None  # why it streams although it fits (placing it ran out of memory)

    def describe(self) -> str:
        size = f"{self.data_bytes / 2**20:.1f} MiB"
        if self.device.type == "cpu" and self.resident:
            return f"data in memory ({size})"
        if self.resident:
            return f"data on {self.device} ({size} of a {self.budget_bytes / 2**30:.1f} GiB budget)"
        if self.why:
            return f"data streamed from host memory ({size}: {self.why})"
        return f"data streamed from host memory ({size} exceeds the {self.budget_bytes / 2**30:.1f} GiB budget)"


def place_dataset(data: ImageData, device: torch.device | str, memory_budget: float | None = None
                  ) -> tuple[ImageData, Placement]:
    """`data` moved to `device` when it fits `memory_budget` bytes there (default: half of the
    device's free memory divided among the workers sharing the GPU), else kept in host memory for
    streaming (also when moving it runs out of memory); and the placement."""
    device = torch.device(device)
    nbytes = data.nbytes
    if device.type == "cpu":
        # The host is the device: the data is there already. A budget, when given, is still
        # honoured (batches then stream through the DataLoader, as they would to a GPU).
        resident = memory_budget is None or nbytes <= memory_budget
        return data.to(device), Placement(device, resident, nbytes, None if memory_budget is None
                                          else int(memory_budget))
    if memory_budget is None:
        free, _ = torch.cuda.mem_get_info(device) if device.type == "cuda" else (0, 0)
        budget = int(free * DEFAULT_MEMORY_SHARE / workers_per_gpu())
    else:
        budget = int(memory_budget)
    why = None
    if nbytes <= budget:
        try:
            return data.to(device), Placement(device, True, nbytes, budget)
        except torch.OutOfMemoryError:  # another process took the memory meanwhile
            if device.type == "cuda":
                torch.cuda.empty_cache()
            why = "placing it on the device ran out of memory"
    return _for_streaming(data, device, budget), Placement(device, False, nbytes, budget, why)


def _for_streaming(data: ImageData, device: torch.device, budget: int) -> ImageData:
    """The training split in host memory; the validation and test splits on the device when they
    fit the budget, else pinned in host memory (copied to the device without blocking)."""
    data = data.to("cpu", test=True)
    evals = {n: getattr(data, n) for n in ("val_x", "val_y", "test_x", "test_y") if getattr(data, n) is not None}
    eval_bytes = sum(t.numel() * t.element_size() for t in evals.values())
    try:
        if eval_bytes <= budget:
            return data.with_tensors(**{n: t.to(device) for n, t in evals.items()})
        return data.with_tensors(**{n: t.pin_memory() for n, t in evals.items()})
    except (torch.OutOfMemoryError, RuntimeError):  # no room on the device, or pinning refused
        return data


def same_device(a: torch.device, b: torch.device) -> bool:
    """True when tensors on `a` are on `b` ("cuda" means the current CUDA device)."""
    if a.type != b.type:
        return False
    return a.index is None or b.index is None or a.index == b.index


class Normalize:
    """uint8 images -> float, per-channel normalised with the training set's statistics, in one
    fused multiply-add: x * scale + shift with scale = 1 / (255 std), shift = -mean / std; in
    channels_last memory, the layout cuDNN's and oneDNN's convolutions are fastest in."""

    def __init__(self, data: ImageData, device: torch.device) -> None:
        mean, std = data.channel_stats()
        self.scale = (1.0 / (255.0 * std)).view(1, -1, 1, 1).to(device)
        self.shift = (-mean / std).view(1, -1, 1, 1).to(device)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.addcmul(self.shift, x.float(), self.scale)
        return x.contiguous(memory_format=torch.channels_last)


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Each image of uint8 `x` (N, C, H, W) zero-padded by `padding` pixels on every side and
    cropped back to H x W at its own random offset: one pad and one flat gather for the batch
    (a 1-D `take` with per-image offsets is several times faster than 4-D advanced indexing)."""
    if padding <= 0:
        return x
    n, c, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    hp, wp = h + 2 * padding, w + 2 * padding
    offsets = torch.randint(0, 2 * padding + 1, (2, n), device=x.device, generator=generator)
    start = torch.arange(n, device=x.device) * (c * hp * wp) + offsets[0] * wp + offsets[1]
    template = (torch.arange(c, device=x.device).view(c, 1, 1) * (hp * wp)
                + torch.arange(h, device=x.device).view(1, h, 1) * wp
                + torch.arange(w, device=x.device).view(1, 1, w))
    return padded.reshape(-1).take(start.view(n, 1, 1, 1) + template)


def random_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each image of `x` (N, C, H, W) mirrored left-right with probability 1/2."""
    flip = torch.rand(x.shape[0], device=x.device, generator=generator) < 0.5
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)


class _IndexedImages(torch.utils.data.Dataset):
    """A host tensor read a whole batch at a time (the sampler yields lists of indices)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.as_tensor(index)
        return self.x[idx], self.y[idx]


class _EpochBatches(torch.utils.data.Sampler):
    """Each iteration, the next epoch's batches of indices (lists) from `batches.epoch_order`,
    drawn in this process: the order is the same as the resident path's for one seed."""

    def __init__(self, batches: TrainBatches) -> None:
        self.batches = batches

    def __len__(self) -> int:
        return self.batches.steps

    def __iter__(self) -> Iterator[list[int]]:
        # A generator: the order is drawn at the first batch, not when the iterator is made (the
        # DataLoader makes one it never reads when it starts its workers).
        yield from self.batches.epoch_order().tolist()


class TrainBatches:
    """One epoch of training batches per iteration: a seeded shuffle, then per batch the gather,
    the augmentation (random crop with padding, flips) and normalisation on the device.

    Full batches only (the ragged last one is dropped: fixed shapes for cuDNN autotuning and
    compiled graphs). Where the data is in host memory and the device is not the CPU, batches
    stream through a DataLoader with `workers` processes and pinned memory.
    """

    def __init__(self, data: ImageData, device: torch.device, batch_size: int, augment: Augment,
                 seed: int = 0, *, stream: bool = False, workers: int | None = None) -> None:
        self.x, self.y = data.train_x, data.train_y
        self.device = device
        # A dataset smaller than one batch trains on all of it at once.
        self.batch_size = max(1, min(batch_size, len(self.y)))
        self.augment = augment
        self.normalize = Normalize(data, device)
        self.steps = max(1, len(self.y) // self.batch_size)
        self.resident = same_device(self.x.device, device) and not stream
        # Shuffles are drawn on the CPU (a permutation of 50,000 takes about a millisecond), so
        # a seed gives the same order on every device and placement; augmentations on the device.
        self.order_generator = torch.Generator().manual_seed(seed)
        self.augment_generator = torch.Generator(device=device).manual_seed(seed + 1)
        self.workers = min(4, os.cpu_count() or 1) if workers is None else workers
        self._loader: torch.utils.data.DataLoader | None = None  # made on the first streamed epoch

    def __len__(self) -> int:
        return self.steps

    def epoch_order(self) -> torch.Tensor:
        """The next epoch's batches of indices, (steps, batch_size): a seeded shuffle on the CPU."""
        order = torch.randperm(len(self.y), generator=self.order_generator)[: self.steps * self.batch_size]
        return order.view(self.steps, self.batch_size)

    def _raw(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.resident:
            chunks = self.epoch_order().to(self.x.device, non_blocking=True)  # one copy per epoch, not per batch
            for idx in chunks:
                yield self.x[idx], self.y[idx]
            return
        if self._loader is None:
            # One loader for the whole run, its worker processes kept between epochs: starting
            # them costs about a second each time, which would be charged to every epoch.
            self._loader = torch.utils.data.DataLoader(
                _IndexedImages(self.x, self.y), sampler=_EpochBatches(self), batch_size=None,
                num_workers=self.workers, pin_memory=self.device.type == "cuda",
                persistent_workers=self.workers > 0,
            )
        for xb, yb in self._loader:
            yield xb.to(self.device, non_blocking=True), yb.to(self.device, non_blocking=True)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for xb, yb in self._raw():
            xb = random_crop(xb, self.augment.crop_padding, self.augment_generator)
            if self.augment.flip:
                xb = random_flip(xb, self.augment_generator)
            yield self.normalize(xb), yb


def eval_batches(x: torch.Tensor, y: torch.Tensor, normalize: Normalize, device: torch.device,
                 batch_size: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Normalised batches of `x`, `y` in order, copied to `device` when they live elsewhere."""
    for start in range(0, len(y), batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        if not same_device(xb.device, device):
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
        yield normalize(xb), yb
