"""Provenance: what a run records about itself in run.json (the command, library versions, the
device), appended under a lock since several workers may start at once."""

from __future__ import annotations

import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.files import atomic_write, open_lock

if TYPE_CHECKING:
    import torch


def safe_command(argv: list[str]) -> list[str]:
    """The command line with any password in a URL (a --storage value) replaced by ***, and bytes that
    are not UTF-8 (a folder's name) as `\\xNN` (harness.names.stored_name)."""
    from harness.names import stored_name
    from harness.store.storage import redact

    return [stored_name(redact(word) if "://" in word else word) for word in argv]


def append_run_record(path: Path, record: dict[str, Any]) -> None:
    """Append `record` to the run.json at `path` (its "runs", and as "latest"), under a file lock:
    several workers may start at once."""
    import fcntl

    with open_lock(path.with_name(f".{path.name}.lock")) as lock:  # hidden: not a result to look at
        fcntl.flock(lock, fcntl.LOCK_EX)
        info: dict[str, Any] = {"runs": []}
        if path.exists():
            try:
                info = json.loads(path.read_text())
            except (json.JSONDecodeError, OSError):
                info = {"runs": []}
        info["runs"] = [*info.get("runs", []), record]
        info["latest"] = record
        atomic_write(path, lambda p: p.write_text(json.dumps(info, indent=2, default=str)))


def versions() -> dict[str, str]:
    """Versions of Python and the libraries that shape results."""
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for package in ("harness", "torch", "torchvision", "optuna", "fvcore", "numpy", "pandas"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "not installed"
    return out


def describe_device(device: torch.device) -> dict[str, Any]:
    """The device a run trains on: type, name, and for CPUs the core and thread counts."""
    import torch

    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return {"type": "cuda", "name": props.name, "memory_gib": round(props.total_memory / 2**30, 1),
                "cuda": torch.version.cuda}
    return {"type": "cpu", "name": platform.processor() or platform.machine(),
            "cores": os.cpu_count(), "torch_threads": torch.get_num_threads()}
