"""Whether a storage file is whole, checked before anything opens it (or makes a file beside it):
`check_sqlite` (SQLite's header: the magic string, and the size the header gives against the
file's), `journal_tail` (a journal's end: whole, or a last record a crash cut off) and
`damaged_line` (the first line of a journal that is no record, once reading it failed).

The SQLite check reads 100 bytes whatever the study's size. SQLite's own `PRAGMA quick_check`
would also find a page damaged in the middle, but reads the whole file, seconds per command and
per worker at 10,000 trials; such damage is rare (a file cut short is the common case: a copy or a
disk that stopped), and SQLite reports it when it meets it ("database disk image is malformed"),
which harness.store.faults turns into the same kind of line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError

SQLITE_MAGIC = b"SQLite format 3\x00"
_BLOCK = 1 << 16  # a journal's end is looked for this many bytes at a time, from the end


def _beside(path: Path) -> str:
    """What the folder still holds when its storage is damaged."""
    csv = path.parent / "trials.csv"
    return "; trials.csv beside it holds the trials as last written" if csv.is_file() else ""


def check_sqlite(path: Path) -> None:
    """HarnessError (one line: the file, what is wrong, what to do) when `path` exists but is not
    an SQLite database, or is shorter than its header says (cut short). A missing or empty file is
    fine: SQLite makes it a database. A file with a hot rollback journal or a write-ahead log
    beside it is left to SQLite, which completes or undoes the interrupted write on opening."""
    try:
        size = path.stat().st_size
        if size == 0:
            return
        with open(path, "rb") as f:
            head = f.read(100)
    except FileNotFoundError:
        return
    afresh = f"move it aside to start afresh (mv {path} {path}.damaged), or restore a copy{_beside(path)}"
    if not head.startswith(SQLITE_MAGIC):
        raise HarnessError(f"{path} is not an SQLite database (no SQLite header): {afresh}")
    if len(head) < 100:
        raise HarnessError(f"{path} is cut short ({size} bytes, less than SQLite's header): {afresh}")
    if any(path.with_name(path.name + suffix).exists() for suffix in ("-journal", "-wal")):
        return
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(head[28:32], "big")
    # The header's page count is valid when its "version-valid-for" matches the change counter
    # (SQLite >= 3.7.0 writes both); otherwise SQLite itself goes by the file's size.
    if pages and head[24:28] == head[92:96] and size < pages * page_size:
        raise HarnessError(f"{path} is cut short ({size:,} of the {pages * page_size:,} bytes its header gives; a "
                           f"copy or a write that stopped early): {afresh}")


@dataclass(frozen=True)
class JournalTail:
    """A journal file's end: its size and where its last whole record ends (after its newline)."""

    size: int
    end: int

    @property
    def torn(self) -> int:
        """Bytes after the last whole record: a record a crash cut off mid-write (0: none)."""
        return self.size - self.end


def _last_newline(f, size: int, before: int) -> int:  # noqa: ANN001 - a binary file
    """The offset of the last b"\\n" before offset `before` (-1: none)."""
    pos = before
    while pos > 0:
        start = max(0, pos - _BLOCK)
        f.seek(start)
        at = f.read(pos - start).rfind(b"\n")
        if at >= 0:
            return start + at
        pos = start
    return -1


def journal_tail(path: Path) -> JournalTail:
    """The end of the journal at `path` (missing: empty), read from the end. HarnessError when its
    end is not what a crash leaves: the last whole record must be JSON and what follows it must be
    the start of one (Optuna writes one JSON object per line; a write cut short leaves a line
    without its newline)."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return JournalTail(0, 0)
    with f:
        size = f.seek(0, 2)
        last = _last_newline(f, size, size)
        end = last + 1
        f.seek(end)
        torn = f.read(min(size - end, 1))
        previous = _last_newline(f, size, last) if last >= 0 else -1
        f.seek(previous + 1)
        line = f.read(last - previous) if last >= 0 else b""
    afresh = f"restore a copy, or move it aside to start afresh (mv {path} {path}.damaged){_beside(path)}"
    if torn and torn != b"{":
        raise HarnessError(f"{path} is not an Optuna journal (its end is no record): {afresh}")
    if line.strip():
        try:
            json.loads(line)
        except ValueError:
            raise HarnessError(f"{path}: its last whole line is no journal record (damaged): {afresh}") from None
    return JournalTail(size, end)


def damaged_line(path: Path) -> tuple[int, int] | None:
    """(number of the first line that is no JSON record, lines after it) in the journal at
    `path`, counting from 1; None when every whole line is one. Reads the whole file: call it
    once reading the journal failed, to say where."""
    bad = None
    after = 0
    with open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            if not line.endswith(b"\n"):
                break  # a torn last record is what a crash leaves, not damage
            if bad is not None:
                after += 1
                continue
            try:
                json.loads(line)
            except ValueError:
                bad = number
    return None if bad is None else (bad, after)


def journal_damage(path: Path) -> HarnessError:
    """The one-line error for a journal that Optuna could not read (see `damaged_line`)."""
    where = damaged_line(path)
    what = (f"line {where[0]} is no journal record, and the {where[1]} record(s) after it cannot be read"
            if where else "it holds records Optuna cannot replay")
    return HarnessError(f"{path} is damaged ({what}): restore a copy, or move it aside to start afresh "
                        f"(mv {path} {path}.damaged){_beside(path)}")
