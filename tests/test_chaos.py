"""Workers killed at random (bench/chaos.py, small): 3 workers on one study, a random one SIGKILLed
every few seconds and replaced; at the end exactly N ended trials, no number twice, nothing that
had finished before a kill lost or changed, every interrupted trial failed, queued again and run,
and a report drawn. On a journal and on PostgreSQL (a real server, tests/support/pgcluster.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.chaos import run_chaos
from tests.support.pgcluster import pg_bin, temporary_cluster


def _small(storage: str, root: Path) -> None:
    # Kills about every 3 s over 12 trials of a second or two: trials got shorter outside training
    # (one write per record point), and 10 trials at one kill per 4 s left room for a single kill.
    result = run_chaos(storage, root, workers=3, trials=12, kill_every=3.0, max_kills=3, limit_s=500, seed=1)
    assert result.problems == []
    assert result.ended == 12 and result.duplicates == 0 and result.lost == 0 and result.report
    assert result.kills >= 2 and result.workers_started == 3 + result.kills
    assert result.killed_trials >= 1 and result.retried + result.retired == result.killed_trials


def test_journal_survives_random_kills(tmp_path: Path) -> None:
    _small(f"journal:{tmp_path / 'chaos.journal'}", tmp_path)


def test_postgres_survives_random_kills(tmp_path: Path) -> None:
    if pg_bin() is None:
        if os.environ.get("HARNESS_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL's initdb and pg_ctl were not found, and HARNESS_REQUIRE_POSTGRES=1")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    with temporary_cluster() as url:
        _small(url, tmp_path)
