"""Benchmark: a study survives workers killed at random. `run_chaos` starts W `harness search`
workers on one study (PostgreSQL or a journal), SIGKILLs a random one every few seconds and
starts a new one in its place (bounded in count and time), and at the end checks what the study
holds against what it held before each kill:

  - exactly N ended trials (complete, pruned or failed with a reason), no trial number twice;
  - every trial that had finished before a kill is still there with the same state and values;
  - every trial a kill interrupted is failed (not counted) and queued again (Optuna's retry,
    through the heartbeat), and the retry ran, unless its architecture was already killed
    MAX_RETRIES + 1 times (then it is retired, as a network that kills its worker must be);
  - `harness report` draws the study.

    python bench/chaos.py [--storage postgres,journal] [--workers 8] [--trials 300] [--kill-every 4]
        [--max-kills 40] [--limit 1800]

tests/test_chaos.py runs a small version (3 workers, 12 trials, up to 3 kills about 3 s apart).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# One short epoch on a 256-image subset: a second or two a trial on 2 cores, so that kills land
# mid-trial, between trials and during start-up alike.
SPACE = """
stem: {width: 8}
stages:
  count: 2
  width: {choices: [8, 16], per_stage: true}
  stride: 2
  kernel_size: {choices: [3, 5, 7], per_stage: true}
train: {epochs: 1, batch_size: 64}
"""
HEARTBEAT_S = 1  # workers' heartbeat: a killed worker's trial is failed and queued after 3 s


@dataclass
class ChaosResult:
    """What a chaos run did and found (`problems` empty: nothing lost, nothing counted twice)."""

    storage: str
    workers: int
    trials: int
    ended: int = 0
    kills: int = 0
    killed_trials: int = 0  # trials running in a worker when it was killed
    retried: int = 0  # of those, queued again and run
    retired: int = 0  # of those, not queued again: their architecture had been run MAX_RETRIES + 1 times
    lost: int = 0  # trials finished before a kill and missing or changed at the end
    duplicates: int = 0
    workers_started: int = 0
    crashed: int = 0  # workers that ended with an error without being killed
    wall_s: float = 0.0
    report: bool = False
    problems: list[str] = field(default_factory=list)


def _worker(space: Path, results: Path, trials: int, index: int, storage: str) -> subprocess.Popen[bytes]:
    """Worker `index`: `harness search` on the study; its stderr in results/../worker-INDEX.err."""
    env = {**os.environ, "HARNESS_STORAGE": storage, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "harness", "search", str(space), "--results", str(results), "--study", "chaos",
           "--device", "cpu", "--trials", str(trials), "--heartbeat", str(HEARTBEAT_S), "--worker-index", str(index),
           "--no-report", "--quiet", "--sampler", "random", "--pruner", "none", "--repeat",
           "--train-images", "256"]
    with open(results.parent / f"worker-{index}.err", "wb") as err:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)


def _load(storage: str, folder: Path) -> Any:
    import optuna

    from harness.store.storage import open_storage, resolve_storage

    with contextlib.suppress(Exception):
        return optuna.load_study(study_name="chaos", storage=open_storage(resolve_storage(storage, folder),
                                                                          heartbeat=None))
    return None


def run_chaos(storage: str, root: Path, workers: int = 8, trials: int = 300, kill_every: float = 4.0,
              max_kills: int = 40, limit_s: float = 1800.0, seed: int = 0) -> ChaosResult:
    """Run the chaos (see the module) with `storage` (journal or a PostgreSQL URL) under `root`."""
    from optuna.trial import TrialState

    from harness.search.search_config import counted

    rng = random.Random(seed)
    space, results = root / "chaos.yaml", root / "results"
    space.write_text(SPACE)
    folder = results / "chaos"
    kind = "journal" if storage.startswith("journal") else "postgres"
    out = ChaosResult(kind, workers, trials)
    start = time.monotonic()
    procs = {i: _worker(space, results, trials, i, storage) for i in range(1, workers + 1)}
    out.workers_started = workers
    finished: dict[int, tuple[str, tuple[float, ...] | None]] = {}  # number -> (state, values) before a kill
    interrupted: set[int] = set()
    killed: set[int] = set()  # worker indexes the driver killed
    study = None
    next_kill = time.monotonic() + kill_every
    try:
        while any(p.poll() is None for p in procs.values()):
            if time.monotonic() - start > limit_s:
                out.problems.append(f"not done after {limit_s:.0f} s")
                break
            time.sleep(0.2)
            if out.kills >= max_kills or time.monotonic() < next_kill:
                continue
            study = study or _load(storage, folder)
            if study is None:
                continue  # not created yet
            now = study.get_trials(deepcopy=False)
            if sum(counted(t) for t in now) >= trials:
                continue  # the last workers are finishing: nothing left to kill for
            alive = [i for i, p in procs.items() if p.poll() is None]
            running = {(t.user_attrs.get("worker") or {}).get("pid") for t in now if t.state == TrialState.RUNNING}
            busy = [i for i in alive if procs[i].pid in running]
            if not busy and not any(t.state.is_finished() for t in now):
                continue  # still starting up: the first kill waits for a trial to run
            # Mostly a worker in the middle of a trial (what a kill costs), sometimes any.
            index = rng.choice(busy if busy and rng.random() < 0.8 else alive)
            victim = procs[index]
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            killed.add(index)
            out.kills += 1
            after = study.get_trials(deepcopy=False)  # read after the kill: the victim wrote nothing since
            for t in after:
                if t.state.is_finished():
                    finished.setdefault(t.number, (t.state.name, tuple(t.values) if t.values else None))
                elif t.state == TrialState.RUNNING and (t.user_attrs.get("worker") or {}).get("pid") == victim.pid:
                    interrupted.add(t.number)
            new = max(procs) + 1
            procs[new] = _worker(space, results, trials, new, storage)
            out.workers_started += 1
            next_kill = time.monotonic() + kill_every * rng.uniform(0.5, 1.5)
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait()
    out.wall_s = round(time.monotonic() - start, 1)
    for index, p in procs.items():
        if index not in killed and p.returncode not in (0, -signal.SIGKILL):
            out.crashed += 1
            lines = (root / f"worker-{index}.err").read_text(errors="replace").strip().splitlines()
            out.problems.append(f"worker {index} ended with status {p.returncode}: {lines[-1] if lines else ''}")
    study = _load(storage, folder)
    if study is None:
        out.problems.append("no study was made")
        return out
    _check(out, study.get_trials(deepcopy=False), finished, interrupted)
    env = {**os.environ, "HARNESS_STORAGE": storage, "OMP_NUM_THREADS": "1"}
    report = subprocess.run([sys.executable, "-m", "harness", "report", str(folder)], env=env, capture_output=True,
                            text=True)
    out.report = report.returncode == 0 and (folder / "report.html").is_file()
    if not out.report:
        out.problems.append(f"harness report failed: {(report.stderr or report.stdout).strip()[-300:]}")
    return out


def _check(out: ChaosResult, trials: list[Any], finished: dict[int, tuple[str, tuple[float, ...] | None]],
           interrupted: set[int]) -> None:
    """Fill in `out`'s counts from the study's trials at the end, and its problems."""
    from optuna.storages import RetryHeartbeatStaleTrialCallback as Retry
    from optuna.trial import TrialState

    from harness.search.search_config import counted
    from harness.store.storage import MAX_RETRIES

    numbers = [t.number for t in trials]
    out.duplicates = len(numbers) - len(set(numbers))
    out.ended = sum(counted(t) for t in trials)
    by_number = {t.number: t for t in trials}
    for number, (state, values) in finished.items():
        t = by_number.get(number)
        if t is None or t.state.name != state or (tuple(t.values) if t.values else None) != values:
            out.lost += 1
    out.killed_trials = len(interrupted)
    retries: dict[int, Any] = {}
    with warnings.catch_warnings():  # retry_history is marked experimental; it is Optuna's record of retries
        warnings.simplefilter("ignore")
        for t in trials:
            for number in Retry.retry_history(t):
                retries.setdefault(number, t)
    for number in interrupted:
        t = by_number.get(number)
        if t is None or t.state != TrialState.FAIL or counted(t):
            out.problems.append(f"trial {number}, interrupted by a kill, is {t.state.name if t else 'gone'}")
        elif number in retries and retries[number].state.is_finished():
            out.retried += 1
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                history = Retry.retry_history(t)
            if len(history) >= MAX_RETRIES:  # by design: a trial that keeps killing its worker stops
                out.retired += 1
                continue
            out.problems.append(f"trial {number}, interrupted by a kill, was not run again (itself a retry of "
                                f"{history or 'none'}; a retry of it: {number in retries})")
    if out.ended != out.trials:
        out.problems.append(f"{out.ended} ended trials, not {out.trials}")
    if out.duplicates:
        out.problems.append(f"{out.duplicates} trial numbers twice")
    if out.lost:
        out.problems.append(f"{out.lost} trials finished before a kill are missing or changed")
    if any(t.state == TrialState.RUNNING for t in trials):
        out.problems.append("trials still running at the end")


@contextlib.contextmanager
def _storage(kind: str, root: Path) -> Iterator[str]:
    if kind == "journal":
        yield f"journal:{root / 'chaos.journal'}"
        return
    repo = str(Path(__file__).resolve().parents[1])  # on the path for the test helpers' package
    if repo not in sys.path:
        sys.path.insert(0, repo)
    from tests.support.pgcluster import temporary_cluster

    with temporary_cluster() as url:
        yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", default="postgres,journal")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--kill-every", type=float, default=4.0, help="seconds between kills, on average")
    parser.add_argument("--max-kills", type=int, default=40)
    parser.add_argument("--limit", type=float, default=1800.0, help="give up after this many seconds")
    args = parser.parse_args()
    failed = False
    for kind in args.storage.split(","):
        with tempfile.TemporaryDirectory(prefix="harness-chaos-") as tmp, _storage(kind, Path(tmp)) as storage:
            result = run_chaos(storage, Path(tmp), args.workers, args.trials, args.kill_every, args.max_kills,
                               args.limit)
        print(", ".join(f"{k} {v}" for k, v in asdict(result).items() if k != "problems"), flush=True)
        for problem in result.problems:
            print(f"  problem: {problem}")
        failed |= bool(result.problems)
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
