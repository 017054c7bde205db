"""Many workers on one study: PostgreSQL (a real server started here) and a journal file.

For each storage: 3 worker processes on one study end with exactly N ended trials, no duplicate
numbers, every trial's results present; a worker killed with SIGKILL mid-trial has its trial
marked failed (heartbeat) and run again, and the study still reaches N. SQLite refuses a second
process with a message that points to these storages; a password in a storage URL is in no
output or file.

The PostgreSQL server comes from Debian's package (`.ci/run` installs it): the fixture makes a
cluster in a temporary folder and starts it on loopback with password authentication. Where the
binaries are missing the PostgreSQL tests are skipped, saying so, unless HARNESS_REQUIRE_POSTGRES=1
(set by CI), which turns that into a failure.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from harness.search.search_config import counted
from tests.support.inprocess import run_cli
from tests.support.pgcluster import PASSWORD

SPACE = """
stem: {width: 8}
stages:
  count: 2
  width: {each: [8, 16]}
  stride: 2
  kernel_size: {choices: [3, 5, 7], per_stage: true}
train: {epochs: 2, batch_size: 128}
"""


@pytest.fixture
def space(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(SPACE)
    return path


def _env(storage: str) -> dict[str, str]:
    return {**os.environ, "HARNESS_STORAGE": storage, "PYTHONUNBUFFERED": "1"}


def _search(space: Path, results: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "harness", "search", str(space), "--results", str(results), "--device", "cpu",
            "--sampler", "random", "--pruner", "none", *extra]


def _study(storage: str, results: Path) -> optuna.Study:
    from harness.store.storage import open_storage, resolve_storage

    ref = resolve_storage(storage, results / "tiny")
    return optuna.load_study(study_name="tiny", storage=open_storage(ref, heartbeat=None))


def _check_exactly(study: optuna.Study, n: int) -> list:
    trials = study.get_trials(deepcopy=False)
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers))
    ended = [t for t in trials if counted(t)]
    assert len(ended) == n
    for t in ended:  # every trial's results are there
        assert t.state == TrialState.COMPLETE and t.values is not None
        assert {"spec", "accuracy", "params", "flops", "worker"} <= set(t.user_attrs)
    return trials


def _three_workers_reach_n(storage: str, space: Path, results: Path) -> tuple[str, list]:
    done = subprocess.run(_search(space, results, "--trials", "5", "--workers", "3", "--storage", storage,
                                  "--epochs", "1", "--train-images", "512"),
                          capture_output=True, text=True, timeout=600,
                          env={k: v for k, v in os.environ.items() if k != "HARNESS_STORAGE"})
    assert done.returncode == 0, done.stdout + done.stderr
    trials = _check_exactly(_study(storage, results), 5)
    workers = {t.user_attrs["worker"]["index"] for t in trials if counted(t)}
    assert len(workers) >= 2  # the work was shared
    assert (results / "tiny" / "trials.csv").read_text().count("COMPLETE") == 5
    assert (results / "tiny" / "report.html").is_file()
    return done.stdout + done.stderr, trials


def _kill_one_mid_trial(storage: str, space: Path, results: Path) -> None:
    # Two workers: one to kill, one to notice (heartbeats) and run its trial again.
    procs = [subprocess.Popen(_search(space, results, "--trials", "4", "--heartbeat", "1", "--worker-index",
                                      str(i + 1), "--no-report", "--epochs", "3"),
                              env=_env(storage), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for i in range(2)]
    pids = {p.pid: p for p in procs}
    victim = None
    deadline = time.monotonic() + 300
    while victim is None and time.monotonic() < deadline:
        time.sleep(0.1)
        try:
            study = _study(storage, results)
        except (KeyError, Exception):  # not created yet
            continue
        # Any running trial will do, the workers' first ones included: waiting for a first COMPLETE
        # left, on a fast CI machine, only the last short trials to catch, and none was caught.
        for t in study.get_trials(deepcopy=False):
            pid = (t.user_attrs.get("worker") or {}).get("pid")
            # Early in its 3 epochs (on a quiet machine an epoch of the tiny space can end between
            # two polls, so "no epoch yet" alone is missed): at most 1 epoch done, 2 to go.
            if t.state == TrialState.RUNNING and pid in pids and len(t.user_attrs.get("history") or []) < 2:
                victim = (t.number, pids[pid])
                break
    assert victim is not None, "no trial was caught running"
    number, proc = victim
    proc.send_signal(signal.SIGKILL)
    for p in procs:
        assert p.wait(timeout=600) in (0, -signal.SIGKILL)
    study = _study(storage, results)
    trials = _check_exactly(study, 4)
    killed = next(t for t in trials if t.number == number)
    assert killed.state == TrialState.FAIL and "failure_reason" not in killed.user_attrs
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == number]
    assert len(retried) == 1 and retried[0].state == TrialState.COMPLETE
    assert retried[0].params == killed.params  # the same architecture, run again


def test_postgres_three_workers_reach_exactly_n_and_keep_the_password_secret(
        postgres_url: str, space: Path, tmp_path: Path) -> None:
    output, _ = _three_workers_reach_n(postgres_url, space, tmp_path / "results")
    assert PASSWORD not in output and "harness:***@" in output
    for path in (tmp_path / "results").rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), f"the password is in {path}"
    # A report from the storage, and an export, say nothing of it either.
    for args in (["report", str(tmp_path / "results" / "tiny"), "--storage", postgres_url],
                 ["export", str(tmp_path / "results" / "tiny"), "--trial", "0", "--storage", postgres_url]):
        shown = run_cli(*args)
        assert shown.returncode == 0, shown.stderr
        assert PASSWORD not in shown.stdout + shown.stderr
    wrong = postgres_url.replace(PASSWORD, "wrong-" + PASSWORD)
    bad = run_cli("report", str(tmp_path / "x"), "--storage", wrong)
    assert bad.returncode == 2 and "cannot open the storage" in bad.stderr and PASSWORD not in bad.stderr


def _new_database(url: str, name: str) -> str:
    from sqlalchemy import text

    with optuna.storages.RDBStorage(url).engine.connect().execution_options(isolation_level="AUTOCOMMIT") as con:
        con.execute(text(f"CREATE DATABASE {name}"))
    return url.rsplit("/", 1)[0] + f"/{name}"


def test_postgres_workers_starting_together_on_an_empty_database_all_open_it(postgres_url: str) -> None:
    # They all create Optuna's tables at once; PostgreSQL fails all but one, and they must retry.
    url = _new_database(postgres_url, f"race{os.getpid()}")
    code = ("import sys; from harness.store.storage import StorageRef, open_storage; "
            "open_storage(StorageRef('rdb', sys.argv[1])); print('opened')")
    procs = [subprocess.Popen([sys.executable, "-c", code, url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for _ in range(6)]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 and "opened" in out for p, out in zip(procs, outputs, strict=True)), outputs


def test_postgres_a_killed_worker_trial_is_run_again(postgres_url: str, space: Path, tmp_path: Path) -> None:
    # Its own database, so that the study starts empty.
    _kill_one_mid_trial(_new_database(postgres_url, f"kill{os.getpid()}"), space, tmp_path / "results")


def test_journal_three_workers_reach_exactly_n(space: Path, tmp_path: Path) -> None:
    _three_workers_reach_n("journal", space, tmp_path / "results")


def test_journal_a_killed_worker_trial_is_run_again(space: Path, tmp_path: Path) -> None:
    _kill_one_mid_trial("journal", space, tmp_path / "results")


def test_sqlite_refuses_a_second_process_and_workers(space: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.errors import HarnessError
    from harness.store.storage import SQLiteLock, resolve_storage

    # In this process: the lock is an flock on its own open file, which a second open in the same
    # process conflicts with as another process's would (the pair below shows it).
    monkeypatch.delenv("HARNESS_STORAGE", raising=False)
    results = tmp_path / "results"
    ref = resolve_storage(None, results / "tiny")
    with SQLiteLock(ref):  # as a running search holds it
        done = run_cli(*_search(space, results, "--trials", "1")[3:])
    assert done.returncode == 2 and "--storage journal" in done.stderr and "postgresql" in done.stderr
    assert "Traceback" not in done.stderr
    with pytest.raises(HarnessError), SQLiteLock(ref), SQLiteLock(ref):
        pass
    many = run_cli(*_search(space, results, "--trials", "2", "--workers", "2")[3:])
    assert many.returncode == 2 and "SQLite" in many.stderr and "--storage journal" in many.stderr
