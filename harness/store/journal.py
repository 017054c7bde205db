"""The journal file of a study (`--storage journal`): Optuna's JournalFileBackend, made to survive
the record a crash cut off.

Optuna's reader skips a last line without its newline, which is what a process killed mid-write
(or a full disk) leaves; but the next record appended to the file joins that line, and from then
on the journal cannot be read at all. So `MendingJournalBackend`:
  - reading (`mend=False`: a report, an export): reads up to the torn record and says so (a
    StorageWarning, one line); the file is not touched;
  - appending (a search, a ranking): before its first record and before every append, under the
    journal's lock, moves the torn bytes to a hidden file beside the journal (never deleted
    silently) and cuts the journal back to its last whole record, saying so once;
  - appends through harness.files.append_bytes: a write that fails part-way (a full disk) is
    cut back off at once, leaving no torn record behind.
A journal damaged elsewhere (a line that is no record, followed by others) is refused before
anything is written: harness.store.damage.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock
from optuna.storages.journal._file import get_lock_file

from harness.errors import StorageWarning
from harness.files import append_bytes, write_bytes
from harness.store.damage import damaged_line, journal_damage, journal_tail


class MendingJournalBackend(JournalFileBackend):
    """Optuna's journal file with a torn last record handled: read up to it (`mend=False`), or
    moved aside under the journal's lock before anything is appended (see the module's doc)."""

    def __init__(self, path: Path, mend: bool) -> None:
        self.path = Path(path)
        tail = journal_tail(self.path)  # refuses a damaged end before anything is made
        self.path.parent.mkdir(parents=True, exist_ok=True)
        super().__init__(str(self.path), lock_obj=JournalFileOpenLock(str(self.path)))
        if not tail.torn:
            return
        if mend:
            if damaged_line(self.path):  # damaged elsewhere too: refused whole, before anything moves
                raise journal_damage(self.path)
            with get_lock_file(self._lock):
                self._mend()
        else:
            warnings.warn(StorageWarning(
                f"{self.path}: its last record ({tail.torn} bytes) was cut off mid-write (a crash); read up to "
                "it. The next search on it moves those bytes aside"), stacklevel=2)

    def _mend(self) -> None:
        """Under the lock: move what follows the last whole record to a hidden file beside the
        journal and cut it back to that record, saying so."""
        tail = journal_tail(self.path)
        if not tail.torn:
            return
        with open(self.path, "rb") as f:
            f.seek(tail.end)
            torn = f.read()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = self.path.with_name(f".{self.path.name}.torn-{stamp}-{os.getpid()}")
        write_bytes(aside, torn)  # first: the bytes are kept before the journal lets them go
        os.truncate(self.path, tail.end)
        warnings.warn(StorageWarning(
            f"{self.path}: its last record ({len(torn)} bytes) was cut off mid-write (a crash); moved those bytes "
            f"aside to {aside.name} so that new records stay readable"), stacklevel=2)

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        """Optuna's append (one write of JSON lines, flushed to the disk, under the lock), after
        mending a torn record another process may have left."""
        data = ("\n".join(json.dumps(log, separators=(",", ":")) for log in logs) + "\n").encode("utf-8")
        with get_lock_file(self._lock):
            if self._torn_end():
                self._mend()
            append_bytes(self.path, data)

    def _torn_end(self) -> bool:
        """Whether the journal ends other than with a newline (cheap: one byte read)."""
        with open(self.path, "rb") as f:
            size = f.seek(0, 2)
            if size == 0:
                return False
            f.seek(size - 1)
            return f.read(1) != b"\n"
