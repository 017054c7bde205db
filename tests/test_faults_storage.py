"""Damaged storages, made for real from a study that ran: a study.db that is text or random bytes,
one cut to half its size, one with its pages overwritten in the middle; a journal whose last record
a full disk cut off mid-write (Optuna's own writer on a full tmpfs), and one with a bad line in the
middle. Each command that opens the folder's storage answers a damaged one with one line naming
the file and what to do, exit 2, and touches nothing (every file hashed before and after, hidden
ones too: no lock file appears). A torn journal is read up to its last whole record (one warning
line); a search moves the torn bytes aside to a hidden file and appends after them, readable."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest

from tests.support.faults import ended_trials, fill, one_line, search, snapshot, space_file, tmpfs
from tests.support.inprocess import run_cli

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the tiny space (tiny.yaml) and two studies of 2 trials: sqlite/tiny (study.db)
    and journal/tiny (study.journal)."""
    root = tmp_path_factory.mktemp("studies")
    space = space_file(root)
    for kind, extra in (("sqlite", ()), ("journal", ("--storage", "journal"))):
        out = search(space, root / kind, 2, *extra)
        assert out.returncode == 0, out.stderr
    return root


def _copy(studies: Path, kind: str, to: Path) -> tuple[Path, Path]:
    """A copy of the `kind` study under `to`: (the space file, the study's folder)."""
    shutil.copytree(studies / kind, to / kind)
    shutil.copy(studies / "tiny.yaml", to / "tiny.yaml")
    return to / "tiny.yaml", to / kind / "tiny"


def _not_a_database(db: Path) -> None:
    db.write_text("trials: 2\nthis is a note, not a database\n")


def _random_bytes(db: Path) -> None:
    db.write_bytes(random.Random(0).randbytes(db.stat().st_size))


def _cut_in_half(db: Path) -> None:
    os.truncate(db, db.stat().st_size // 2)


def _pages_overwritten(db: Path) -> None:
    """Garbage over every page but the first and the last two: the header is whole, so it opens,
    and SQLite meets the damage when it reads ("database disk image is malformed")."""
    data = bytearray(db.read_bytes())
    start, end = 4096, len(data) - 8192
    data[start:end] = random.Random(1).randbytes(end - start)
    db.write_bytes(bytes(data))


DAMAGES = {"text": _not_a_database, "random bytes": _random_bytes, "cut in half": _cut_in_half}
# The commands that open a results folder's storage, each as its arguments after the folder's path.
COMMANDS = {
    "search": lambda space, folder: ("search", str(space), "--trials", "3", "--results", str(folder.parent),
                                     "--train-images", "256", "--device", "cpu"),
    "report": lambda space, folder: ("report", str(folder)),
    "export": lambda space, folder: ("export", str(folder), "--trial", "0"),
    "warm start": lambda space, folder: ("search", str(space), "--trials", "1", "--study", "fresh", "--warm-start",
                                         str(folder), "--results", str(folder.parent), "--device", "cpu"),
}


@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.parametrize("command", COMMANDS)
def test_a_damaged_study_db_is_one_line_and_nothing_is_touched(studies: Path, tmp_path: Path, damage: str,
                                                                command: str) -> None:
    space, folder = _copy(studies, "sqlite", tmp_path)
    DAMAGES[damage](folder / "study.db")
    before = snapshot(tmp_path)
    out = run_cli(*COMMANDS[command](space, folder))
    line = one_line(out.stderr)
    assert out.returncode == 2 and line.startswith(f"harness: error: {folder / 'study.db'} is ")
    expected = "cut short (" if damage == "cut in half" else "not an SQLite database"
    assert expected in line and "move it aside to start afresh" in line and "restore a copy" in line
    assert "trials.csv beside it holds the trials as last written" in line
    assert snapshot(tmp_path) == before  # nothing written, no lock file made beside it


@pytest.mark.parametrize("command", ["report", "export", "search"])
def test_a_study_db_damaged_inside_is_one_line(studies: Path, tmp_path: Path, command: str) -> None:
    space, folder = _copy(studies, "sqlite", tmp_path)
    _pages_overwritten(folder / "study.db")
    out = run_cli(*COMMANDS[command](space, folder))
    line = one_line(out.stderr)
    assert out.returncode == 2 and "database disk image is malformed" in line
    assert "study.db is damaged" in line and "restore a copy, or move it aside to start afresh" in line


def _tear_on_a_full_disk(journal: Path, mount: Path) -> bytes:
    """Cut off the journal's next record for real: Optuna's own journal writer appends a record
    (a 20 kB study attribute) to a copy of the journal on a tmpfs with no block left; the kernel
    takes what fits in the file's last block and refuses the rest (ENOSPC). The torn journal is
    copied back over `journal`; returns the torn bytes."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    whole = journal.read_bytes()
    with tmpfs(mount, 256):
        copy = mount / journal.name
        shutil.copy(journal, copy)
        fill(mount)
        storage = JournalStorage(JournalFileBackend(str(copy)))
        with pytest.raises(OSError, match="No space left on device"):
            storage.set_study_user_attr(storage.get_all_studies()[0]._study_id, "note", "x" * 20_000)
        shutil.copy(copy, journal)
    torn = journal.read_bytes()
    assert torn.startswith(whole) and len(torn) > len(whole) and not torn.endswith(b"\n")
    return torn[len(whole):]


def test_a_journal_cut_off_mid_write_is_read_up_to_it_then_mended_by_a_search(
        studies: Path, tmp_path: Path) -> None:
    space, folder = _copy(studies, "journal", tmp_path)
    journal = folder / "study.journal"
    whole = journal.read_bytes()
    before = ended_trials(journal, "tiny")
    torn = _tear_on_a_full_disk(journal, tmp_path / "full")
    assert torn.startswith(b'{"op_code"')

    # Reading: up to the last whole record, saying so; the journal is not touched.
    damaged = journal.read_bytes()
    out = run_cli("export", str(folder), "--trial", "1")
    line = one_line(out.stderr)
    assert out.returncode == 0 and line.startswith("harness: warning: ")
    assert f"{journal}: its last record ({len(torn)} bytes) was cut off mid-write" in line and "read up to it" in line
    assert "kernel_size" in out.stdout and journal.read_bytes() == damaged

    # A search moves the torn bytes aside (kept, in a hidden file) before it appends.
    out = search(space, folder.parent, 3, "--storage", "journal")
    assert out.returncode == 0, out.stderr
    line = one_line(out.stderr)
    aside = [p for p in folder.iterdir() if p.name.startswith(".study.journal.torn-")]
    assert len(aside) == 1 and aside[0].read_bytes() == torn
    assert line.startswith("harness: warning: ") and f"moved those bytes aside to {aside[0].name}" in line
    mended = journal.read_bytes()
    assert mended.startswith(whole) and mended.endswith(b"\n") and mended[len(whole):len(whole) + 1] == b"{"
    after = ended_trials(journal, "tiny")  # Optuna reads every record, the new ones too
    assert len(after) == 3 and all(after[n] == before[n] for n in before)
    out = run_cli("export", str(folder), "--trial", "2")
    assert out.returncode == 0 and out.stderr == ""


@pytest.mark.parametrize("command", ["report", "export", "search"])
def test_a_journal_damaged_in_the_middle_is_one_line_and_untouched(studies: Path, tmp_path: Path,
                                                                   command: str) -> None:
    space, folder = _copy(studies, "journal", tmp_path)
    journal = folder / "study.journal"
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join([*lines[:5], b"{\"op_code\": 4, \"trial_id\": \n", *lines[5:]]))
    before = snapshot(tmp_path)
    args = COMMANDS[command](space, folder) + (("--storage", "journal") if command == "search" else ())
    out = run_cli(*args)
    line = one_line(out.stderr)
    assert out.returncode == 2
    assert line == (f"harness: error: {journal} is damaged (line 6 is no journal record, and the {len(lines) - 5} "
                    f"record(s) after it cannot be read): restore a copy, or move it aside to start afresh (mv "
                    f"{journal} {journal}.damaged); trials.csv beside it holds the trials as last written")
    assert snapshot(tmp_path) == before


def test_a_journal_that_is_no_journal_is_one_line(studies: Path, tmp_path: Path) -> None:
    space, folder = _copy(studies, "journal", tmp_path)
    (folder / "study.journal").write_bytes(random.Random(2).randbytes(5000).replace(b"\n", b" ").replace(b"{", b"("))
    before = snapshot(tmp_path)
    for args in (("report", str(folder)), COMMANDS["search"](space, folder) + ("--storage", "journal")):
        out = run_cli(*args)
        line = one_line(out.stderr)
        assert out.returncode == 2 and "study.journal is not an Optuna journal" in line and "restore a copy" in line
    assert snapshot(tmp_path) == before
