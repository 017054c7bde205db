"""The standard benchmarks, read through torchvision's dataset classes from torchvision's layout:
mnist, fashion_mnist, cifar10, cifar100, svhn.

They are looked for in PATH (`cifar10:PATH`), else `--data-dir`, else $HARNESS_DATA, else
~/.cache/harness/data: the folder torchvision's `root` argument names, so data downloaded by
torchvision elsewhere is found there as it is. harness checks that the files are present and
lets torchvision read them; torchvision's checksums are checked when it downloads (`--download`),
not again on every run (hashing CIFAR's 170 MB each time would cost more than reading it).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from harness.data import Augment, DataRequest, DatasetSource, RawData, register_dataset
from harness.errors import DatasetError

_MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                "t10k-labels-idx1-ubyte")


@dataclass(frozen=True)
class Benchmark:
    """One torchvision benchmark: its class, the files its reader needs under `root`, its shape."""

    name: str
    title: str
    torchvision_class: str  # the class's name in torchvision.datasets
    files: tuple[str, ...]  # relative to root
    shape: tuple[tuple[int, int, int], int]
    augment: Augment
    split_arg: str = "train"  # how the class is told which split: train=bool, or split="train"


BENCHMARKS = (
    Benchmark("mnist", "MNIST handwritten digits (60,000 train / 10,000 test, 1x28x28)", "MNIST",
              tuple(f"MNIST/raw/{f}" for f in _MNIST_FILES), ((1, 28, 28), 10), Augment(2, False)),
    Benchmark("fashion_mnist", "Fashion-MNIST clothing (60,000 train / 10,000 test, 1x28x28)", "FashionMNIST",
              tuple(f"FashionMNIST/raw/{f}" for f in _MNIST_FILES), ((1, 28, 28), 10), Augment(2, True)),
    Benchmark("cifar10", "CIFAR-10 (50,000 train / 10,000 test, 3x32x32, 10 classes)", "CIFAR10",
              tuple(f"cifar-10-batches-py/{f}" for f in
                    (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta")),
              ((3, 32, 32), 10), Augment(4, True)),
    Benchmark("cifar100", "CIFAR-100 (50,000 train / 10,000 test, 3x32x32, 100 classes)", "CIFAR100",
              ("cifar-100-python/train", "cifar-100-python/test", "cifar-100-python/meta"),
              ((3, 32, 32), 100), Augment(4, True)),
    # House numbers: no flips (a mirrored digit is not a digit).
    Benchmark("svhn", "SVHN house-number digits (73,257 train / 26,032 test, 3x32x32)", "SVHN",
              ("train_32x32.mat", "test_32x32.mat"), ((3, 32, 32), 10), Augment(4, False), split_arg="split"),
)


def _reader(benchmark: Benchmark, download: bool) -> Callable[..., object]:
    import torchvision.datasets as tvd

    cls = getattr(tvd, benchmark.torchvision_class)
    if download or not hasattr(cls, "_check_integrity"):
        return cls

    class Present(cls):  # type: ignore[misc,valid-type]
        """torchvision's reader without its per-run MD5 checks (presence is checked before)."""

        if isinstance(getattr(cls, "meta", None), dict) and "md5" in cls.meta:
            meta = {**cls.meta, "md5": None}  # check_integrity(path, None) checks presence only

        def _check_integrity(self) -> bool:
            return True

    return Present


def _split(benchmark: Benchmark, root: Path, train: bool, download: bool
           ) -> tuple[torch.Tensor, torch.Tensor, tuple[str, ...]]:
    reader = _reader(benchmark, download)
    split = {"train": train} if benchmark.split_arg == "train" else {"split": "train" if train else "test"}
    try:
        ds = reader(str(root), download=download, **split)
    except ImportError as err:
        raise DatasetError(f"dataset {benchmark.name!r} needs {err.name or 'a missing package'} to read its files "
                           f"(pip install {err.name or 'scipy'})") from None
    except (pickle.UnpicklingError, EOFError, KeyError, ValueError, OSError, RuntimeError) as err:
        raise DatasetError(f"dataset {benchmark.name!r}: could not read its files in {root}: {err}") from None
    data = ds.data  # type: ignore[attr-defined]
    x = torch.as_tensor(np.asarray(data)) if not isinstance(data, torch.Tensor) else data
    if x.ndim == 3:  # MNIST-like: (N, H, W)
        x = x.unsqueeze(1)
    elif benchmark.name.startswith("cifar"):  # (N, H, W, C) -> (N, C, H, W)
        x = x.permute(0, 3, 1, 2)
    labels = getattr(ds, "targets", None)
    if labels is None:
        labels = ds.labels  # type: ignore[attr-defined]
    y = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    classes = tuple(getattr(ds, "classes", None) or (str(i) for i in range(benchmark.shape[1])))
    return x.to(torch.uint8).contiguous(), y, classes


def missing_files(benchmark: Benchmark, root: Path) -> list[str]:
    """The files of `benchmark` that are not under `root`."""
    return [f for f in benchmark.files if not (root / f).is_file()]


def read_benchmark(benchmark: Benchmark, request: DataRequest) -> RawData:
    """Train and test splits of `benchmark` from PATH or the data folder (downloading if asked)."""
    root = Path(request.path).expanduser() if request.path else request.data_dir
    if request.download:
        root.mkdir(parents=True, exist_ok=True)
    else:
        missing = missing_files(benchmark, root)
        if missing:
            shown = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
            raise DatasetError(
                f"dataset {benchmark.name!r} not found in {root}: missing {shown} (torchvision's layout). "
                f"Give the folder with {benchmark.name}:PATH or --data-dir, or add --download to fetch it there"
            )
    train_x, train_y, classes = _split(benchmark, root, True, request.download)
    test_x, test_y, _ = _split(benchmark, root, False, request.download)
    return RawData(train_x=train_x, train_y=train_y, classes=classes, test_x=test_x, test_y=test_y,
                   source=str(root), augment=benchmark.augment)


def _register(benchmark: Benchmark) -> None:
    register_dataset(DatasetSource(
        name=benchmark.name,
        description=benchmark.title,
        needs=f"torchvision's files in the data folder or PATH: {', '.join(benchmark.files[:2])}, ...",
        read=lambda request: read_benchmark(benchmark, request),
        shape=benchmark.shape,
        path="optional",
    ))


for _benchmark in BENCHMARKS:
    _register(_benchmark)
