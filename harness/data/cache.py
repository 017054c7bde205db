"""The cache of decoded datasets: one torch file per source and key under cache_dir(), written
atomically, read back only when its format version and tensors are as expected.

Image folders and the standard datasets' original files (idx, CIFAR archives) are decoded once;
a second run reads the uint8 tensors from here in a fraction of a second. A file's name is
`<prefix>-<key>.pt`: the prefix names the source (which folder, which files), the key what was
read (every file's path, size and mtime, and the decoder's version), so a changed file gives a new
key and the older entry of the same prefix is deleted: the cache does not grow with each edit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.data.image_data import cache_dir, warn
from harness.files import atomic_write


def cache_path(kind: str, prefix: str, key: str) -> Path:
    """Where the entry `prefix`-`key` of `kind` ("folders", "standard") lives."""
    return cache_dir() / kind / f"{prefix}-{key}.pt"


def read_cache(path: Path, version: int, tensors: tuple[str, ...]) -> dict[str, Any] | None:
    """The entry at `path` when it is of `version` and holds tensors under every name in
    `tensors`; None otherwise (missing, truncated, older or foreign: the caller decodes again)."""
    import torch  # here: the cache module is loaded by listing the datasets, which needs no torch

    try:
        blob = torch.load(path, weights_only=True)
    except Exception:  # any unreadable file is a cache miss, never an error
        return None
    ok = (isinstance(blob, dict) and blob.get("version") == version
          and all(isinstance(blob.get(k), torch.Tensor) for k in tensors))
    return blob if ok else None


def write_cache(path: Path, blob: dict[str, Any]) -> None:
    """Write `blob` to `path` atomically and delete the other entries with its prefix; a failure
    (read-only or full disk) is one warning: the data was decoded and the run goes on."""
    import torch

    prefix = path.name.rsplit("-", 1)[0]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda tmp: torch.save(blob, tmp))  # a concurrent reader never sees half a file
        for old in path.parent.glob(f"{prefix}-*.pt"):  # earlier versions for the same source
            if old != path:
                old.unlink(missing_ok=True)
    except OSError as err:
        warn(f"could not cache the decoded images in {path.parent}: {err}")
