"""MNIST's idx files (as LeCun and Zalando ship them, gzipped or not): finding the four files in
a folder, and reading one into a numpy array with every header field checked.

An idx file is a big-endian header, magic `0x0000TTDD` (TT the element type, 0x08 for unsigned
bytes; DD the number of dimensions), then one 32-bit size per dimension, then the elements.
Images are magic 2051 (3 dimensions: N, 28, 28), labels 2049 (1 dimension: N).
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from harness.errors import DatasetError

IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension
# The files of one dataset, by role, under their original names (without .gz).
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def idx_file(folder: Path, name: str) -> Path | None:
    """`folder/name` or `folder/name.gz`, whichever is a file (the uncompressed one first)."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def find_idx_files(folder: Path) -> dict[str, Path] | None:
    """The four idx files in `folder` by role (gzipped or not), or None unless all four are there."""
    found = {role: idx_file(folder, name) for role, name in IDX_FILES.items()}
    if any(path is None for path in found.values()):
        return None
    return found  # type: ignore[return-value]


def file_bytes(path: Path) -> bytes:
    """The contents of `path`, decompressed when it ends in .gz; a damaged file is a DatasetError
    naming it."""
    try:
        data = path.read_bytes()
        return gzip.decompress(data) if path.suffix == ".gz" else data
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        why = "truncated" if isinstance(err, EOFError) else f"not a valid gzip file ({err})"
        raise DatasetError(f"{path}: {why}; download it again") from None
    except OSError as err:
        raise DatasetError(f"{path}: cannot be read: {err.strerror or err}") from None


def read_idx(path: Path, magic: int) -> np.ndarray:
    """The array stored in idx file `path` (uint8, shape from its header), which must have
    `magic` (IMAGES_MAGIC or LABELS_MAGIC) and exactly as many bytes as its header says."""
    data = file_bytes(path)
    dims = magic & 0xFF
    header = 4 + 4 * dims
    if len(data) < header:
        raise DatasetError(f"{path}: {len(data)} bytes, shorter than an idx header; download it again")
    found = struct.unpack(">i", data[:4])[0]
    if found != magic:
        kind = {IMAGES_MAGIC: "images", LABELS_MAGIC: "labels"}[magic]
        raise DatasetError(f"{path}: not an idx file of {kind}: magic number {found}, expected {magic}")
    shape = struct.unpack(f">{dims}i", data[4:header])
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(data) != expected:
        raise DatasetError(f"{path}: {len(data)} bytes where its header ({' x '.join(map(str, shape))}) says "
                           f"{expected}; the file is {'truncated' if len(data) < expected else 'too long'}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def read_idx_pair(images: Path, labels: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, H, W) and labels (N,) from their two idx files, which must agree on N."""
    x = read_idx(images, IMAGES_MAGIC)
    y = read_idx(labels, LABELS_MAGIC)
    if len(x) != len(y):
        raise DatasetError(f"{images} holds {len(x)} images but {labels} holds {len(y)} labels; "
                           "they are not a pair (download both again)")
    return x, y
