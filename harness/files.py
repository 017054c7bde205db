"""Writing files safely, the one place harness writes a file: `atomic_write` (and its forms
`write_text`, `write_bytes`) writes beside the target, then renames over it; `append_bytes` adds to
a log and takes back a partial record; `open_lock` opens a lock file.

A crash (kill, power cut aside) in the middle of any write leaves the old file or the new one,
never half of one; a write that fails (a full disk) leaves the old file and no temporary one.
tests/test_atomic.py checks that no other module writes a file directly.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO


def temporary_path(path: Path) -> Path:
    """Where `atomic_write` writes before the rename: hidden, beside `path` (same file system, so
    the rename is atomic), named for this process, since several workers may rewrite one file at
    once; it keeps the suffix, which some writers read to choose a format."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp{path.suffix}")


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp)` on a temporary path beside `path`, then rename it to `path`: a reader (or a
    kill mid-write) never sees a half-written file. When `write` or the rename fails (a full or
    read-only disk), the temporary file is removed and the error raised: `path` is as it was."""
    path = Path(path)
    tmp = temporary_path(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(err, OSError) and err.filename is None:  # a write's error names no file: say which
            raise OSError(err.errno, err.strerror, os.fspath(path)) from err
        raise


def write_text(path: Path, text: str, encoding: str = "utf-8") -> None:
    """`text` at `path`, atomically (see `atomic_write`)."""
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding=encoding))


def write_bytes(path: Path, data: bytes) -> None:
    """`data` at `path`, atomically (see `atomic_write`)."""
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def append_bytes(path: Path, data: bytes) -> None:
    """Append `data` to `path` and flush it to the disk. A write that fails part-way (a full disk)
    is cut back off, so the file ends where it ended before; the caller holds the file's lock.
    For logs read record by record (a journal), where renaming a copy of the whole would cost
    the whole file's size on every record."""
    # Unbuffered (os.write): a buffered file would write what is left of its buffer again when closed.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        start = os.lseek(fd, 0, os.SEEK_END)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)  # frees space: possible on a full disk
            raise
    except OSError as err:
        if err.filename is None:  # os.write's error names no file: say which
            raise OSError(err.errno, err.strerror, os.fspath(path)) from err
        raise
    finally:
        os.close(fd)


def open_lock(path: Path) -> IO[str]:
    """The lock file at `path` opened to read and append (made if missing), for fcntl.flock; its
    content is at most a line naming the holder."""
    return open(path, "a+")  # noqa: SIM115 - the caller holds it open for the lifetime of the lock
