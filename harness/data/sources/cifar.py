"""CIFAR-10 and CIFAR-100 as Toronto ships them: the python pickles, read from the extracted
folder (`cifar-10-batches-py/`, `cifar-100-python/`) or straight from the original archive
(`cifar-10-python.tar.gz`, `cifar-100-python.tar.gz`) without extracting it.

Each batch is a pickled dict: `data` uint8 (N, 3072), rows of 1024 red, then green, then blue
bytes of a 32x32 image; `labels` (CIFAR-10) or `fine_labels` (CIFAR-100); the class names are in
the meta pickle. The pickles are read with an unpickler that admits only the numpy types they
hold, so a file made to run code when unpickled is refused rather than run.
"""

from __future__ import annotations

import io
import pickle
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.errors import DatasetError


@dataclass(frozen=True)
class CifarLayout:
    """Where one CIFAR's pickles are and what their keys are."""

    folder: str  # the extracted folder's name
    archive: str  # the original archive's file name
    train: tuple[str, ...]  # batch files of the training split
    test: tuple[str, ...]
    meta: str
    label_key: str
    names_key: str

    @property
    def files(self) -> tuple[str, ...]:
        """Every pickle's name, training batches first."""
        return (*self.train, *self.test, self.meta)


LAYOUTS = {
    "cifar10": CifarLayout("cifar-10-batches-py", "cifar-10-python.tar.gz",
                           tuple(f"data_batch_{i}" for i in range(1, 6)), ("test_batch",), "batches.meta",
                           "labels", "label_names"),
    "cifar100": CifarLayout("cifar-100-python", "cifar-100-python.tar.gz", ("train",), ("test",), "meta",
                            "fine_labels", "fine_label_names"),
}
_ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar")}


class _NumpyOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refused to load {module}.{name} (a CIFAR pickle holds only numpy arrays)")
        return super().find_class(module, name)


@dataclass(frozen=True)
class CifarSource:
    """Where the pickles were found: an extracted folder or an archive (the file to check)."""

    layout: CifarLayout
    path: Path  # the folder holding the pickles, or the archive
    archive: bool

    def originals(self) -> list[Path]:
        """The files as shipped or extracted: the archive, or each pickle in the folder."""
        return [self.path] if self.archive else [self.path / f for f in self.layout.files]


def find_cifar(name: str, root: Path) -> CifarSource | None:
    """The CIFAR `name` under `root`, which may be the archive itself, a folder holding it, the
    extracted folder, or a folder holding that (torchvision's root); None when it is none of these."""
    layout = LAYOUTS[name]
    if root.is_file():
        return CifarSource(layout, root, archive=True)
    for folder in (root / layout.folder, root):
        if all((folder / f).is_file() for f in layout.files):
            return CifarSource(layout, folder, archive=False)
    if (root / layout.archive).is_file():
        return CifarSource(layout, root / layout.archive, archive=True)
    return None


def _unpickle(raw: bytes, where: str) -> dict:
    try:
        blob = _NumpyOnly(io.BytesIO(raw), encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as err:
        raise DatasetError(f"{where}: not a CIFAR pickle ({err}); download it again") from None
    if not isinstance(blob, dict):
        raise DatasetError(f"{where}: not a CIFAR pickle (holds a {type(blob).__name__}, not a dict)")
    return blob


def _members(source: CifarSource) -> Callable[[str], bytes]:
    """A function giving the bytes of one pickle by name, from the folder or the archive."""
    if not source.archive:
        def from_folder(name: str) -> bytes:
            try:
                return (source.path / name).read_bytes()
            except OSError as err:
                raise DatasetError(f"{source.path / name}: cannot be read: {err.strerror or err}") from None
        return from_folder
    try:  # one pass over the archive: gzip cannot seek, so members are read in the order stored
        wanted = {f"{source.layout.folder}/{f}": f for f in source.layout.files}
        found: dict[str, bytes] = {}
        with tarfile.open(source.path, "r:*") as tar:
            for member in tar:
                if member.name in wanted and member.isfile():
                    handle = tar.extractfile(member)
                    if handle is not None:
                        found[wanted[member.name]] = handle.read()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
        why = "truncated" if isinstance(err, EOFError) else f"not a readable tar.gz archive ({err})"
        raise DatasetError(f"{source.path}: {why}; download it again") from None
    missing = [f for f in source.layout.files if f not in found]
    if missing:
        lacks = ", ".join(f"{source.layout.folder}/{m}" for m in missing)
        raise DatasetError(f"{source.path}: the archive lacks {lacks} (is it {source.layout.archive}?)")
    return found.__getitem__


def read_cifar(source: CifarSource) -> dict[str, np.ndarray | list[str]]:
    """The splits as arrays: train_x/test_x uint8 (N, 3, 32, 32), train_y/test_y int64, classes."""
    layout, read = source.layout, _members(source)

    def where(name: str) -> str:
        return f"{source.path}: {layout.folder}/{name}" if source.archive else str(source.path / name)

    out: dict[str, np.ndarray | list[str]] = {}
    for split, names in (("train", layout.train), ("test", layout.test)):
        xs, ys = [], []
        for name in names:
            blob = _unpickle(read(name), where(name))
            data, labels = blob.get("data"), blob.get(layout.label_key)
            if not isinstance(data, np.ndarray) or labels is None:
                raise DatasetError(f"{where(name)}: no 'data' and '{layout.label_key}' (is it {layout.folder}?)")
            if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
                raise DatasetError(f"{where(name)}: data is {data.dtype} {data.shape}, not uint8 (N, 3072)")
            labels = np.asarray(labels, dtype=np.int64)
            if len(labels) != len(data):
                raise DatasetError(f"{where(name)}: {len(data)} images but {len(labels)} labels")
            xs.append(data.reshape(-1, 3, 32, 32))
            ys.append(labels)
        out[f"{split}_x"], out[f"{split}_y"] = np.concatenate(xs), np.concatenate(ys)
    meta = _unpickle(read(layout.meta), where(layout.meta))
    names = meta.get(layout.names_key)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise DatasetError(f"{where(layout.meta)}: no class names under '{layout.names_key}'")
    out["classes"] = names
    return out
