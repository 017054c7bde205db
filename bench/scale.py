"""Benchmark: trials per hour with 1, 2 and 4 local workers on one study (journal storage, CPU).

Each configuration runs `harness search` on a tiny space (one epoch of a small network on 1,000
images of the default dataset's shape) with `--workers W --storage journal` into a fresh folder,
and times the whole command, start-up and report included. Torch threads are split between the
workers (cores // W each), as they would be on a real machine.

    python bench/scale.py [--workers 1,2,4] [--trials 24]
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
  width: {each: [8, 16]}
  stride: 2
  kernel_size: {choices: [3, 5, 7], per_stage: true}
train: {epochs: 1, batch_size: 128}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--trials", type=int, default=24)
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
               "--workers", str(w)]
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
