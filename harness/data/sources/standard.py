"""The standard benchmarks in the forms people have them: mnist, fashion_mnist, cifar10, cifar100, svhn.

They are looked for in PATH (`cifar10:PATH`), else `--data-dir`, else $HARNESS_DATA, else
~/.cache/harness/data. Accepted forms:
  - mnist, fashion_mnist: a folder holding the four idx files under their original names,
    gzipped or not (what LeCun's and Zalando's downloads and Debian's `dataset-fashion-mnist`
    give), or torchvision's layout (`MNIST/raw/`, `FashionMNIST/raw/` under the folder);
  - cifar10, cifar100: the original archive (`cifar-10-python.tar.gz`: the file, or a folder
    holding it), or the extracted `cifar-10-batches-py/` (the folder itself, or the folder
    holding it, torchvision's root);
  - svhn: torchvision's `train_32x32.mat` and `test_32x32.mat`, read by torchvision.
`--download` lets torchvision fetch a missing one into the data folder (its checksums checked).

The decoded uint8 tensors are cached (harness.data.cache) keyed by each original file's path, size
and mtime, so a second run does not decompress again. `--verify` checks the original files
against their published MD5s first (a gzip that Debian recompressed is checked by its contents).
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.data.cache import cache_path, read_cache, write_cache
from harness.data.image_data import Augment, DataRequest, DatasetSource, RawData, fingerprint, register_dataset
from harness.data.sources.cifar import LAYOUTS, find_cifar, read_cifar
from harness.data.sources.idx import IDX_FILES, file_bytes, find_idx_files, read_idx_pair
from harness.errors import DatasetError

CACHE_VERSION = 1  # bump whenever decoding changes, so older cache entries are not reused
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")
# Published MD5s of the original files: the compressed downloads (torchvision's resources, the
# authors' pages) and, for the idx files, the uncompressed contents (Zalando's README).
PUBLISHED_MD5 = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
    "cifar10": {
        "cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a",
        "data_batch_1": "c99cafc152244af753f735de768cd75f",
        "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
        "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
        "data_batch_4": "634d18415352ddfa80567beed471001a",
        "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
        "test_batch": "40351d587109b95175f43aff81a1287e",
        "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
    },
    "cifar100": {
        "cifar-100-python.tar.gz": "eb9058c3a382ffc7106e4002c42a8d85",
        "train": "16019d7e3df5f24257cddd939b257f8d",
        "test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
        "meta": "7973b15100ade9c7d40fb424638fde48",
    },
    "svhn": {
        "train_32x32.mat": "e26dedcc434d2e4c54c9b2d4a06d8373",
        "test_32x32.mat": "eb5a983be6a315427106f1b164d9cef3",
    },
}


@dataclass(frozen=True)
class Benchmark:
    """One standard benchmark: how its files are found and read, its shape and augmentation."""

    name: str
    title: str
    form: str  # "idx", "cifar" or "mat" (torchvision's SVHN reader)
    torchvision_class: str  # for --download (and SVHN's reading)
    forms: str  # the accepted forms, for `harness datasets` and errors
    shape: tuple[tuple[int, int, int], int]
    augment: Augment


_IDX_FORMS = "the four idx files (train-images-idx3-ubyte.gz, ...; gzipped or not) in PATH, or {0}/raw/ under it"
_CIFAR_FORMS = "{0} (the file or a folder holding it), or the extracted {1}/ (or a folder holding it)"
BENCHMARKS = (
    Benchmark("mnist", "MNIST handwritten digits (60,000 train / 10,000 test, 1x28x28)", "idx", "MNIST",
              _IDX_FORMS.format("MNIST"), ((1, 28, 28), 10), Augment(2, False)),
    Benchmark("fashion_mnist", "Fashion-MNIST clothing (60,000 train / 10,000 test, 1x28x28)", "idx", "FashionMNIST",
              _IDX_FORMS.format("FashionMNIST"), ((1, 28, 28), 10), Augment(2, True)),
    Benchmark("cifar10", "CIFAR-10 (50,000 train / 10,000 test, 3x32x32, 10 classes)", "cifar", "CIFAR10",
              _CIFAR_FORMS.format("cifar-10-python.tar.gz", "cifar-10-batches-py"), ((3, 32, 32), 10),
              Augment(4, True)),
    Benchmark("cifar100", "CIFAR-100 (50,000 train / 10,000 test, 3x32x32, 100 classes)", "cifar", "CIFAR100",
              _CIFAR_FORMS.format("cifar-100-python.tar.gz", "cifar-100-python"), ((3, 32, 32), 100),
              Augment(4, True)),
    # House numbers: no flips (a mirrored digit is not a digit).
    Benchmark("svhn", "SVHN house-number digits (73,257 train / 26,032 test, 3x32x32)", "mat", "SVHN",
              "train_32x32.mat and test_32x32.mat in PATH", ((3, 32, 32), 10), Augment(4, False)),
)
_MNIST_CLASSES = tuple(f"{d} - {w}" for d, w in enumerate(
    ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")))  # torchvision's names


RawArrays = dict  # train_x, train_y, test_x, test_y (numpy arrays) and classes


# ------------------------------------------------------------------ finding the files
def find_originals(benchmark: Benchmark, root: Path) -> tuple[list[Path], Callable[[], RawArrays]] | None:
    """The original files of `benchmark` under `root` and a function decoding them; None when
    none of its accepted forms is there."""
    if benchmark.form == "idx":
        for folder in (root, root / benchmark.torchvision_class / "raw"):
            found = find_idx_files(folder)
            if found is not None:
                return list(found.values()), lambda f=found: _decode_idx(benchmark, f)
        return None
    if benchmark.form == "cifar":
        source = find_cifar(benchmark.name, root)
        if source is None:
            return None
        return source.originals(), lambda s=source: read_cifar(s)
    files = [root / "train_32x32.mat", root / "test_32x32.mat"]
    if all(f.is_file() for f in files):
        return files, lambda: _decode_torchvision(benchmark, root)
    return None


def _decode_idx(benchmark: Benchmark, files: dict[str, Path]) -> RawArrays:
    train_x, train_y = read_idx_pair(files["train_images"], files["train_labels"])
    test_x, test_y = read_idx_pair(files["test_images"], files["test_labels"])
    classes = FASHION_CLASSES if benchmark.name == "fashion_mnist" else _MNIST_CLASSES
    for path, y in ((files["train_labels"], train_y), (files["test_labels"], test_y)):
        if len(y) and int(y.max()) >= len(classes):
            raise DatasetError(f"{path}: label {int(y.max())} outside 0..{len(classes) - 1}")
    return {"train_x": train_x[:, None], "train_y": train_y, "test_x": test_x[:, None], "test_y": test_y,
            "classes": classes}


def _decode_torchvision(benchmark: Benchmark, root: Path) -> RawArrays:
    import torchvision.datasets as tvd

    cls = getattr(tvd, benchmark.torchvision_class)

    class Present(cls):  # type: ignore[misc,valid-type]
        """torchvision's reader without its per-run MD5 checks (presence is checked before; --verify checks)."""

        def _check_integrity(self) -> bool:
            return True

    out: RawArrays = {}
    for split in ("train", "test"):
        try:
            ds = Present(str(root), split=split)
        except ImportError as err:
            raise DatasetError(f"dataset {benchmark.name!r} needs {err.name or 'scipy'} to read its files "
                               f"(pip install {err.name or 'scipy'})") from None
        except (pickle.UnpicklingError, EOFError, KeyError, ValueError, OSError, RuntimeError, TypeError) as err:
            raise DatasetError(f"dataset {benchmark.name!r}: could not read {root / f'{split}_32x32.mat'}: "
                               f"{err}") from None
        out[f"{split}_x"], out[f"{split}_y"] = np.asarray(ds.data), np.asarray(ds.labels)
    out["classes"] = tuple(str(i) for i in range(10))
    return out


# ------------------------------------------------------------------ verifying and reading
def md5(path: Path, data: bytes | None = None) -> str:
    """MD5 hex digest of `data`, else of the file at `path` (read in 1 MiB chunks)."""
    digest = hashlib.md5(usedforsecurity=False)
    if data is not None:
        digest.update(data)
        return digest.hexdigest()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_files(name: str, files: list[Path]) -> list[str]:
    """Check `files` of dataset `name` against their published MD5s: one line per file saying
    what matched; a mismatch raises DatasetError naming the file and both digests."""
    published = PUBLISHED_MD5[name]
    lines = []
    for path in files:
        expected = published.get(path.name)
        if expected is None:
            lines.append(f"{path}: no published MD5 for this file name; not checked")
            continue
        found = md5(path)
        if found == expected:
            lines.append(f"{path}: MD5 {found} matches the published one")
            continue
        inner = published.get(path.name.removesuffix(".gz")) if path.suffix == ".gz" else None
        if inner is not None and md5(path, file_bytes(path)) == inner:
            lines.append(f"{path}: recompressed (MD5 {found}, not the published {expected}), but its contents "
                         f"match the published MD5 {inner}")
            continue
        raise DatasetError(f"{path}: MD5 {found} differs from the published {expected}"
                           f"{' (also its contents)' if inner else ''}: the file is damaged or another version; "
                           "download it again")
    return lines


def verify_dataset(ref: str, data_dir: str | Path | None = None) -> list[str]:
    """Check the original files of standard dataset `ref` (`NAME` or `NAME:PATH`) against their
    published MD5s: one line per file (see verify_files); a mismatch or a missing dataset raises."""
    from harness.data.image_data import default_data_dir, parse_dataset, verifiable_datasets

    name, path = parse_dataset(ref)
    benchmark = {b.name: b for b in BENCHMARKS}.get(name)
    if benchmark is None:
        raise DatasetError(f"{{verify}} checks the published MD5s of a standard dataset's original files; "
                           f"{name!r} has none (verifiable: {', '.join(verifiable_datasets())})", settings=("verify",))
    root = Path(path).expanduser() if path else (Path(data_dir).expanduser() if data_dir else default_data_dir())
    found = find_originals(benchmark, root)
    if found is None:
        raise DatasetError(f"dataset {name!r} not found in {root}: harness reads {benchmark.forms}")
    return verify_files(name, found[0])


def _key(files: list[Path]) -> list[tuple[str, int, int]]:
    out = []
    for path in files:
        st = path.stat()
        out.append((str(path.resolve()), st.st_size, st.st_mtime_ns))
    return out


def read_benchmark(benchmark: Benchmark, request: DataRequest) -> RawData:
    """Train and test splits of `benchmark` from PATH or the data folder (downloading if asked),
    through the cache."""
    root = Path(request.path).expanduser() if request.path else request.data_dir
    found = find_originals(benchmark, root)
    if found is None and request.download:
        _download(benchmark, root)
        found = find_originals(benchmark, root)
    if found is None:
        where = "it is not there" if not root.exists() else "none of its forms is there"
        raise DatasetError(
            f"dataset {benchmark.name!r} not found in {root} ({where}): harness reads {benchmark.forms}. "
            f"Give the folder with {benchmark.name}:PATH or {{data_dir}}, or add {{download=True}} to fetch it there",
            settings=("data_dir", "download"))
    files, decode = found
    if request.verify:
        verify_files(benchmark.name, files)
    key = _key(files)
    path = cache_path("standard", fingerprint(benchmark.name, [k[0] for k in key]),
                      fingerprint(CACHE_VERSION, benchmark.name, key))
    blob = read_cache(path, CACHE_VERSION, ("train_x", "train_y", "test_x", "test_y"))
    if blob is None or not isinstance(blob.get("classes"), list):
        import torch

        arrays = decode()
        blob = {"version": CACHE_VERSION, "classes": list(arrays["classes"])}
        for split in ("train", "test"):
            blob[f"{split}_x"] = torch.from_numpy(np.array(arrays[f"{split}_x"], dtype=np.uint8, order="C"))
            blob[f"{split}_y"] = torch.from_numpy(np.array(arrays[f"{split}_y"], dtype=np.int64))
        write_cache(path, blob)
    source = str(files[0] if len(files) == 1 else root)  # the archive, else the folder as given
    return RawData(train_x=blob["train_x"], train_y=blob["train_y"], classes=tuple(blob["classes"]),
                   test_x=blob["test_x"], test_y=blob["test_y"], source=source, augment=benchmark.augment)


def _download(benchmark: Benchmark, root: Path) -> None:
    """Let torchvision fetch `benchmark` into `root` (its own layout, its checksums checked)."""
    import torchvision.datasets as tvd

    root.mkdir(parents=True, exist_ok=True)
    cls = getattr(tvd, benchmark.torchvision_class)
    for split in ("train", "test"):
        kwargs = {"split": split} if benchmark.form == "mat" else {"train": split == "train"}
        try:
            cls(str(root), download=True, **kwargs)
        except (OSError, RuntimeError, ValueError) as err:
            raise DatasetError(f"dataset {benchmark.name!r}: the download into {root} failed: {err}") from None


def _register(benchmark: Benchmark) -> None:
    register_dataset(DatasetSource(
        name=benchmark.name,
        description=benchmark.title,
        needs=benchmark.forms,
        read=lambda request: read_benchmark(benchmark, request),
        shape=benchmark.shape,
        path="optional",
        verifiable=True,
    ))


for _benchmark in BENCHMARKS:
    _register(_benchmark)


__all__ = ["BENCHMARKS", "IDX_FILES", "LAYOUTS", "PUBLISHED_MD5", "Benchmark", "read_benchmark", "verify_dataset",
           "verify_files"]
