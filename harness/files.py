"""Writing files safely: `atomic_write` writes beside the target, then renames over it."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp)` on a temporary path beside `path`, then rename it to `path`: a reader (or a
    kill mid-write) never sees a half-written file. The temporary name is the process's own, since
    several workers may rewrite the same file at once."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{path.suffix}")
    write(tmp)
    os.replace(tmp, path)
