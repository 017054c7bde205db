"""What the fault tests share: a tiny search space and the command that searches it fast, every
file of a folder hashed (to show that nothing was changed), the trials a storage holds read by
Optuna itself, and a real tmpfs mounted for a test (a full disk, a read-only one).

Mounting needs root, as CI and this machine run the tests; a test that needs it fails elsewhere
rather than being skipped."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import optuna

from tests.support.inprocess import CliResult, run_cli

# Six architectures, one epoch on 256 training images: a trial takes a fraction of a second.
SPACE = """\
stem: {width: 8}
stages: {count: 1, width: [8, 16], stride: 2, kernel_size: [3, 5, 7]}
train: {epochs: 1, batch_size: 64}
"""
FAST = ("--train-images", "256", "--device", "cpu", "--no-report")


def space_file(folder: Path, name: str = "tiny") -> Path:
    """The tiny space as `folder`/`name`.yaml (the study takes the file's stem as its name)."""
    path = folder / f"{name}.yaml"
    path.write_text(SPACE)
    return path


def search(space: Path, results: Path, trials: int, *extra: str) -> CliResult:
    """`harness search SPACE --trials N --results DIR` on the tiny space, in this process."""
    return run_cli("search", str(space), "--trials", str(trials), "--results", str(results), *FAST, *extra)


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder`, hidden ones too, by path relative to it -> its SHA-256."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def one_line(text: str) -> str:
    """The only line of `text` (a command's stderr); fails when there are more or none."""
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def ended_trials(storage: str | Path, name: str) -> dict[int, tuple[str, list[float] | None]]:
    """Trial number -> (state, values) of study `name`, read by Optuna itself from `storage`: an
    SQLite file or a journal file (by its suffix). The storage's files are closed afterwards."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    path = Path(storage)
    if path.suffix == ".journal":
        opened: optuna.storages.BaseStorage = JournalStorage(JournalFileBackend(str(path)))
    else:
        opened = optuna.storages.RDBStorage(f"sqlite:///{path}")
    try:
        study = optuna.load_study(study_name=name, storage=opened)
        return {t.number: (t.state.name, t.values) for t in study.get_trials(deepcopy=False)
                if t.state.is_finished()}
    finally:
        engine = getattr(opened, "engine", None)
        if engine is not None:
            engine.dispose()  # no open file left on a tmpfs to unmount
        del opened
        gc.collect()


@contextlib.contextmanager
def tmpfs(path: Path, size_kib: int) -> Iterator[Path]:
    """A tmpfs of `size_kib` KiB mounted at `path` (made if missing) for the block; unmounted after."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        gc.collect()  # storages of in-process commands still open on it
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], check=True)


def remount_read_only(path: Path) -> None:
    """Make the tmpfs at `path` read-only: every write there fails with EROFS."""
    gc.collect()  # storages of in-process commands still open on it: a file open to write keeps it writable
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)


def fill(mount: Path, leave_kib: int = 0) -> Path:
    """A ballast file that leaves `leave_kib` KiB free on the file system at `mount`; its path."""
    st = os.statvfs(mount)
    free = st.f_bavail * st.f_frsize
    ballast = mount / "ballast"
    with open(ballast, "wb") as f:
        f.write(b"\0" * max(0, free - leave_kib * 1024))
    return ballast


def free_kib(mount: Path) -> int:
    """KiB free on the file system at `mount`."""
    st = os.statvfs(mount)
    return st.f_bavail * st.f_frsize // 1024


def held_kib(mount: Path) -> int:
    """KiB the files under `mount` hold (their allocated blocks): on a tmpfs the whole of what is
    used, unless a file deleted but still open, or lost, holds some too."""
    return sum(p.stat().st_blocks * 512 for p in mount.rglob("*") if p.is_file() and not p.is_symlink()) // 1024
