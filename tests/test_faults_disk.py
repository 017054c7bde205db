"""The disk under a results folder, failing for real: full (a small tmpfs filled with a ballast file),
read-only (a tmpfs remounted read-only: EROFS), and someone else's (a folder owned by `nobody`,
written by a `harness` process that has dropped root's power to override file permissions).

A full disk stops a search with one line naming the folder and "no space", exit 2, no traceback,
whether it met the storage (SQLite's "database or disk is full", the journal's ENOSPC) or a file
(the plot): the storage stays readable (Optuna reads it; `harness export` too), no temporary file
is left, the journal ends on a whole record, and once the ballast is gone the same command resumes
to its N trials with every trial that ended before unchanged. A folder that is read-only or not
ours is one line and exit 2 for a search and a report, with nothing in it changed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.faults import (
    FAST,
    ended_trials,
    fill,
    free_kib,
    held_kib,
    one_line,
    remount_read_only,
    search,
    snapshot,
    space_file,
    tmpfs,
)
from tests.support.inprocess import run_cli

pytestmark = pytest.mark.usefixtures("one_thread")

NO_SPACE = "no space left on device for "
STORAGES = {"sqlite": (), "journal": ("--storage", "journal")}


def _storage_file(folder: Path, kind: str) -> Path:
    return folder / ("study.journal" if kind == "journal" else "study.db")


def _left_over(folder: Path) -> list[str]:
    """Temporary files of interrupted writes, and SQLite's journal of an unfinished transaction."""
    return [p.name for p in folder.iterdir() if ".tmp" in p.name or p.name.endswith("-journal")]


def _resumes(space: Path, results: Path, storage: Path, before: dict[int, tuple[str, list[float] | None]],
             *options: str) -> None:
    """The same command, run again with space, reaches its 6 trials with the earlier ones unchanged."""
    out = search(space, results, 6, *options)
    assert out.returncode == 0, out.stderr
    after = ended_trials(storage, "tiny")
    assert sum(state in ("COMPLETE", "PRUNED") for state, _ in after.values()) == 6
    assert all(after[n] == before[n] for n in before)  # every trial that ended before: same state, same values


@pytest.mark.parametrize("kind", STORAGES)
def test_a_full_disk_stops_the_search_in_one_line_and_the_same_command_resumes(tmp_path: Path, kind: str) -> None:
    space = space_file(tmp_path)
    with tmpfs(tmp_path / "disk", 1024) as disk:
        folder = disk / "tiny"
        out = search(space, disk, 2, *STORAGES[kind])
        assert out.returncode == 0, out.stderr
        ballast = fill(disk, leave_kib=16)  # room for a few records, not for four more trials
        out = search(space, disk, 6, *STORAGES[kind])
        line = one_line(out.stderr)
        assert out.returncode == 2 and line.startswith(f"harness: error: {NO_SPACE}{folder}")
        assert "free some space, then run the same command again" in line
        before = ended_trials(_storage_file(folder, kind), "tiny")  # readable as it was left
        assert len(before) >= 2 and not _left_over(folder)
        if kind == "journal":
            assert _storage_file(folder, kind).read_bytes().endswith(b"\n")  # no record cut off
        assert run_cli("export", str(folder), "--trial", "1").returncode == 0  # it writes nothing
        ballast.unlink()
        _resumes(space, disk, _storage_file(folder, kind), before, *STORAGES[kind])


@pytest.mark.parametrize("kind", STORAGES)
def test_a_full_disk_under_the_storage_is_named_and_loses_nothing(tmp_path: Path, kind: str) -> None:
    """The storage on a file system of its own, full from the start of the second run: its first
    write fails (SQLite's "database or disk is full", or the journal's ENOSPC)."""
    space = space_file(tmp_path)
    with tmpfs(tmp_path / "store", 1024) as store:
        name = "study.journal" if kind == "journal" else "study.db"
        storage = ("--storage", f"journal:{store / name}" if kind == "journal" else f"sqlite:///{store / name}")
        out = search(space, tmp_path / "results", 2, *storage)
        assert out.returncode == 0, out.stderr
        ballast = fill(store)
        stored = (store / name).read_bytes()
        out = search(space, tmp_path / "results", 6, *storage)
        line = one_line(out.stderr)
        site = "the storage" if kind == "sqlite" else name
        assert out.returncode == 2 and line.startswith(f"harness: error: {NO_SPACE}{tmp_path / 'results' / 'tiny'} "
                                                       f"(writing {site})")
        before = ended_trials(store / name, "tiny")
        assert len(before) == 2 and not _left_over(store)
        if kind == "journal":  # what fitted in its last block went in; the record that did not was cut back off
            assert (store / name).read_bytes().startswith(stored) and (store / name).read_bytes().endswith(b"\n")
        ballast.unlink()
        _resumes(space, tmp_path / "results", store / name, before, *storage)


def test_a_full_disk_under_the_results_files_stops_at_the_plot(tmp_path: Path) -> None:
    """The results folder full but for 24 KiB, the storage elsewhere: run.json, space.yaml and
    trials.csv fit, the plot (about 40 kB) does not. Without a plot in the folder the search draws
    one after its first trial; that trial is kept in the storage."""
    space = space_file(tmp_path)
    db = tmp_path / "store" / "study.db"
    db.parent.mkdir()
    with tmpfs(tmp_path / "disk", 1024) as disk:
        folder = disk / "tiny"
        out = search(space, disk, 2, "--storage", f"sqlite:///{db}")
        assert out.returncode == 0, out.stderr
        (folder / "acc_vs_flops.png").unlink()
        ballast = fill(disk, leave_kib=24)
        held = held_kib(disk)
        out = search(space, disk, 6, "--storage", f"sqlite:///{db}")
        line = one_line(out.stderr)
        assert out.returncode == 2 and line.startswith(f"harness: error: {NO_SPACE}{folder} (writing acc_vs_flops.png)")
        before = ended_trials(db, "tiny")
        assert len(before) == 3 and not _left_over(folder)  # the trial the plot was drawn for is kept
        assert not (folder / "acc_vs_flops.png").exists()  # no half a plot
        # The partial temporary file was removed: the space gone is what run.json and trials.csv grew by.
        assert free_kib(disk) == 24 - (held_kib(disk) - held)
        ballast.unlink()
        _resumes(space, disk, db, before, "--storage", f"sqlite:///{db}")


def test_a_disk_that_fills_while_the_plot_waits_is_one_error_and_no_redraw(tmp_path: Path) -> None:
    """The disk fills between trials while the plot is due for a redraw (the last trial only
    rewrote trials.csv: plots are redrawn every PLOT_EVERY_S): the search stops with the one
    OSError of trials.csv. It does not redraw on its way out, which would fail the same way and
    be a second line (harness.search.study._run_missing; seen in CI as a warning before the error)."""
    import errno
    import warnings

    from harness import load_space
    from harness.data import DataOptions
    from harness.errors import StorageWarning
    from harness.search.search_config import SearchConfig
    from harness.search.study import run_search

    db = tmp_path / "store" / "study.db"
    db.parent.mkdir()
    with tmpfs(tmp_path / "disk", 1024) as disk:
        config = SearchConfig(trials=4, device="cpu", results_dir=str(disk), storage=f"sqlite:///{db}",
                              report=False, data_options=DataOptions(train_images=256))
        trial_lines: list[str] = []

        def progress(line: str) -> None:  # called before the trial's files are written
            if " trial " in line:
                trial_lines.append(line)
                if len(trial_lines) == 3:  # trial 0 drew the plot, trial 1 did not: it is stale
                    fill(disk)

        with warnings.catch_warnings(record=True) as caught, pytest.raises(OSError) as raised:
            warnings.simplefilter("always")
            run_search(load_space(str(space_file(tmp_path))), config, progress=progress)
        assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(disk / "tiny" / "trials.csv")
        assert [str(w.message) for w in caught if issubclass(w.category, StorageWarning)] == []
        assert len(trial_lines) == 3 and len(ended_trials(db, "tiny")) == 3  # the storage has the third
        assert len((disk / "tiny" / "trials.csv").read_text().splitlines()) == 1 + 2  # as trial 1 left it


@pytest.mark.parametrize("kind", STORAGES)
def test_a_read_only_results_folder_is_one_line(tmp_path: Path, kind: str) -> None:
    space = space_file(tmp_path)
    with tmpfs(tmp_path / "disk", 1024) as disk:
        folder = disk / "tiny"
        out = search(space, disk, 2, *STORAGES[kind])
        assert out.returncode == 0, out.stderr
        remount_read_only(disk)
        before = snapshot(disk)
        out = search(space, disk, 3, *STORAGES[kind])
        line = one_line(out.stderr)
        assert out.returncode == 2 and line.startswith(f"harness: error: {folder} is not writable (read-only file "
                                                       "system: ")
        out = run_cli("report", str(folder))
        line = one_line(out.stderr)
        assert out.returncode == 2 and line.startswith(f"harness: error: {folder} is not writable (read-only file "
                                                       "system: ")
        exported = run_cli("export", str(folder), "--trial", "0")  # reading is fine
        assert exported.returncode == 0
        # A command that no folder wraps (train writes a model folder): the CLI's own handler.
        spec = tmp_path / "spec.yaml"
        spec.write_text(exported.stdout)
        out = run_cli("train", "--spec", str(spec), "--out", str(disk / "model"), *FAST[:-1], "--epochs", "1")
        line = one_line(out.stderr)
        assert out.returncode == 2
        assert line == f"harness: error: {disk / 'model'} is not writable (read-only file system)"
        assert snapshot(disk) == before


def _as_someone_else(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m harness ARGS` as root without root's power over file permissions (setpriv drops
    CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH and CAP_FOWNER from the process's bounding set): it reads
    what others may read, and writes only where its owner (root) may, like any user. (Running it as
    `nobody` is not possible: Python lives under /root, mode 700.)"""
    drop = "-dac_override,-dac_read_search,-fowner"
    return subprocess.run(["setpriv", f"--bounding-set={drop}", "--", sys.executable, "-m", "harness", *args],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})


def test_a_folder_owned_by_someone_else_is_one_line(tmp_path: Path) -> None:
    space = space_file(tmp_path)
    out = search(space, tmp_path, 2)
    assert out.returncode == 0, out.stderr
    folder = tmp_path / "tiny"
    for path in (folder, *folder.iterdir()):
        os.chown(path, 65534, 65534)  # nobody's; still readable by all (0644, folder 0755)
    before = snapshot(folder)
    out = _as_someone_else("search", str(space), "--trials", "3", "--results", str(tmp_path), *FAST)
    line = one_line(out.stderr)
    assert out.returncode == 2
    assert line.startswith(f"harness: error: {folder / '.study.db.lock'} is not writable by root (permission "
                           "denied, owned by nobody)")
    out = _as_someone_else("report", str(folder))
    line = one_line(out.stderr)
    assert out.returncode == 2 and "is not writable by root (permission denied, owned by nobody)" in line
    assert snapshot(folder) == before


def test_a_storage_owned_by_someone_else_is_one_line(tmp_path: Path) -> None:
    """Our folder, someone else's study.db: SQLite opens it read-only and refuses the first write."""
    space = space_file(tmp_path)
    out = search(space, tmp_path, 2)
    assert out.returncode == 0, out.stderr
    folder = tmp_path / "tiny"
    os.chown(folder / "study.db", 65534, 65534)
    stored = (folder / "study.db").read_bytes()
    out = _as_someone_else("search", str(space), "--trials", "3", "--results", str(tmp_path), *FAST)
    line = one_line(out.stderr)
    assert out.returncode == 2 and line.startswith(f"harness: error: the storage in {folder} is not writable by root "
                                                   "(SQLite: ")
    assert "readonly database" in line and (folder / "study.db").read_bytes() == stored


def test_a_finished_search_whose_report_finds_the_disk_read_only_says_so(tmp_path: Path) -> None:
    """The end of a search (harness.search.study._report) on a folder that turned read-only: the
    trials are saved, so it is a warning naming the folder and the command to run later, not silence."""
    import warnings

    import optuna

    from harness.errors import StorageWarning
    from harness.search.study import _report
    from harness.store.storage import resolve_storage
    from harness.store.trials import trials_frame

    with tmpfs(tmp_path / "mnt", 2048) as mount:
        folder = mount / "study"
        folder.mkdir()
        study = optuna.create_study(study_name="study")
        remount_read_only(mount)
        lines: list[str] = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _report(trials_frame(study), study, folder, resolve_storage(None, folder), lines.append)
        shown = [str(w.message) for w in caught if issubclass(w.category, StorageWarning)]
        assert len(shown) == 1 and "no report was written" in shown[0] and str(folder) in shown[0]
        assert f"harness report {folder}" in shown[0]
        assert not (folder / "report.html").exists()
