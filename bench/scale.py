"""Benchmark: trials per hour with 1, 2 and 4 local workers on one study (journal storage, CPU).

Each configuration runs `harness search` on a tiny space (three epochs of a small network on the
default dataset, about 2 s a trial on 2 cores) with `--workers W --storage journal --repeat` into
a fresh folder (--repeat: every trial trains, none reuses an earlier trial's result), and times
the whole command, start-up and report included. Torch threads are split between the workers
(cores // W each), as they would be on a real machine.

    python bench/scale.py [--workers 1,2,4] [--trials 16]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPACE = """
stem: {width: 8}
stages:
  count: 2
  width: {each: [16, 32]}
  stride: 2
  kernel_size: {choices: [3, 5, 7], per_stage: true}
train: {epochs: 3, batch_size: 128}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--trials", type=int, default=16)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    root = Path(tempfile.mkdtemp(prefix="harness-scale-"))
    space = root / "tiny.yaml"
    space.write_text(SPACE)
    print(f"{args.trials} trials per run, {cores} cores, journal storage")
    base = None
    for w in (int(x) for x in args.workers.split(",")):
        env = {**os.environ, "OMP_NUM_THREADS": str(max(1, cores // w))}
        env.pop("HARNESS_STORAGE", None)
        cmd = [sys.executable, "-m", "harness", "search", str(space), "--trials", str(args.trials), "--device", "cpu",
               "--sampler", "random", "--pruner", "none", "--results", str(root / f"w{w}"), "--storage", "journal",
               "--workers", str(w), "--repeat"]
        start = time.perf_counter()
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            print(done.stdout[-2000:], done.stderr[-2000:])
            raise SystemExit(done.returncode)
        per_hour = args.trials * 3600 / seconds
        base = base or per_hour
        print(f"workers {w}: {seconds:6.1f} s, {per_hour:7.0f} trials/hour, x{per_hour / base:.2f}")


if __name__ == "__main__":
    main()
