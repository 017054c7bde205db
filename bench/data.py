"""Benchmark: the device-resident loader against a torchvision DataLoader, and its share of an epoch.

On CIFAR-shaped data (uint8, 3x32x32, random pixels: decoding is not what is measured), with
CIFAR's augmentation (random crop after 4 px of padding, horizontal flip) and normalisation:
  1. images per second of harness's TrainBatches (gather, crop, flip, normalise on the device);
  2. images per second of a torchvision DataLoader with the equivalent per-sample transforms
     (transforms.v2 RandomCrop(padding=4), RandomHorizontalFlip, ToDtype, Normalize) and workers,
     batches then copied to the device;
  3. the loader's share of one training epoch of the smallest network of
     search_spaces/kernel_size.yaml (3x3 kernels, no dilation): loader time alone over the time
     of the epoch with it (target: at most 5%).

    python bench/data.py [--images 50000] [--batch-size 128] [--device auto] [--workers 4] [--json FILE]
On CPU the defaults are smaller (10,000 images).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch
from torch.nn import functional as F

import harness
from harness.data import Augment, ImageData
from harness.data.loader import TrainBatches
from harness.train.device import resolve_device


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def cifar_shaped(n: int, seed: int = 0) -> ImageData:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=generator)
    y = torch.randint(0, 10, (n,), generator=generator)
    return ImageData("cifar-shaped", x, y, x[:1000], y[:1000], tuple(str(i) for i in range(10)),
                     augment=Augment(4, True))


def time_harness_loader(data: ImageData, device: torch.device, batch_size: int, epochs: int = 2) -> float:
    """Images per second of TrainBatches over whole epochs (after one warm-up epoch)."""
    batches = TrainBatches(data, device, batch_size, data.augment, seed=0)
    for _ in batches:  # warm-up: allocations, kernels
        pass
    synchronize(device)
    start = time.perf_counter()
    count = 0
    for _ in range(epochs):
        for xb, _ in batches:
            count += len(xb)
    synchronize(device)
    return count / (time.perf_counter() - start)


class _PerSample(torch.utils.data.Dataset):
    def __init__(self, x: torch.Tensor, y: torch.Tensor, transform: object) -> None:
        self.x, self.y, self.transform = x, y, transform

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.transform(self.x[i]), self.y[i]


def time_torchvision_loader(data: ImageData, device: torch.device, batch_size: int, workers: int) -> float:
    """Images per second of a DataLoader with per-sample torchvision transforms (one epoch after
    the workers have started)."""
    from torchvision.transforms import v2

    mean, std = data.channel_stats()
    transform = v2.Compose([
        v2.RandomCrop(32, padding=4),
        v2.RandomHorizontalFlip(),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(mean.tolist(), std.tolist()),
    ])
    loader = torch.utils.data.DataLoader(
        _PerSample(data.train_x.cpu(), data.train_y.cpu(), transform), batch_size=batch_size, shuffle=True,
        drop_last=True, num_workers=workers, pin_memory=device.type == "cuda", persistent_workers=workers > 0,
    )
    for i, _ in enumerate(loader):  # warm-up: start the workers
        if i == 10:
            break
    synchronize(device)
    start = time.perf_counter()
    count = 0
    for xb, yb in loader:
        xb = xb.to(device, non_blocking=True)
        yb = yb.to(device, non_blocking=True)
        count += len(xb)
    synchronize(device)
    return count / (time.perf_counter() - start)


def loader_share_of_epoch(data: ImageData, device: torch.device, batch_size: int) -> tuple[float, float, float]:
    """(loader seconds, epoch seconds, share) for one epoch of the smallest kernel_size.yaml net."""
    space = harness.load_space("search_spaces/kernel_size.yaml")
    values = {name: 3 if "kernel" in name else 1 for name in space.searched}
    spec, config = space.build(values)
    c, h, w = data.input_shape
    model = harness.build_model(spec, in_channels=c, num_classes=data.num_classes).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
        torch.backends.cudnn.benchmark = True
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=device.type == "cuda")
    batches = TrainBatches(data, device, batch_size, data.augment, seed=0)

    def epoch() -> float:
        synchronize(device)
        start = time.perf_counter()
        for xb, yb in batches:
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                loss = F.cross_entropy(model(xb).float(), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        synchronize(device)
        return time.perf_counter() - start

    epoch()  # warm-up (cuDNN autotuning)
    epoch_seconds = epoch()
    synchronize(device)
    start = time.perf_counter()
    for _ in batches:
        pass
    synchronize(device)
    loader_seconds = time.perf_counter() - start
    return loader_seconds, epoch_seconds, loader_seconds / epoch_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=None, help="training images (default 50,000; 10,000 on CPU)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1))
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    device = resolve_device(args.device)
    n = args.images or (50_000 if device.type == "cuda" else 10_000)
    data = cifar_shaped(n).to(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device {device} ({name}), torch {torch.__version__}, {n} images 3x32x32, batch {args.batch_size}, "
          f"crop 4 + flip, {args.workers} DataLoader workers")
    ours = time_harness_loader(data, device, args.batch_size)
    print(f"harness TrainBatches (on the device):       {ours:12,.0f} images/s", flush=True)
    theirs = time_torchvision_loader(data, device, args.batch_size, args.workers)
    print(f"torchvision DataLoader (per-sample v2):     {theirs:12,.0f} images/s   (harness x{ours / theirs:.1f})",
          flush=True)
    loader_s, epoch_s, share = loader_share_of_epoch(data, device, args.batch_size)
    print(f"smallest kernel_size.yaml net: epoch {epoch_s:.3f} s, loader alone {loader_s:.4f} s: "
          f"loader share {share:.1%} (target <= 5%)")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "device": name, "images": n, "batch": args.batch_size, "harness_ips": ours, "torchvision_ips": theirs,
            "epoch_s": epoch_s, "loader_s": loader_s, "loader_share": share}, indent=2))


if __name__ == "__main__":
    main()
