"""Benchmark: Ctrl-C or kill at any moment of a search is a clean stop. Each run starts
`harness search` on a tiny space (trials of a fraction of a second, so that a stop lands in
training, in writing the results folder, in the first plot's imports and between trials alike),
waits for its first trial in trials.csv, sleeps a random 0..--max-delay seconds, sends the
signal once and counts what the process did:

  - clean: exit status 130, the "interrupted: ... resume" line, no traceback;
  - anything else (a traceback, death by SIGINT, another status), printed with its stderr.

    python bench/stop_anywhere.py [--runs 60] [--signal TERM|INT] [--max-delay 3] [--seed 7]

Each run costs about 5 s on 2 cores (mostly the Python and torch start-up).
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPACE = """\
stem: {width: 8}
stages: {count: 1, width: [8, 16], stride: 2, kernel_size: [3, 5, 7]}
train: {epochs: 2, batch_size: 64}
"""


def one_stop(folder: Path, sig: signal.Signals, delay: float) -> tuple[str, str]:
    """Start a search in `folder`, stop it `delay` s after its first trial; (outcome, stderr)."""
    space = folder / "tiny.yaml"
    space.write_text(SPACE)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "harness", "search", str(space), "--trials", "30",
                             "--results", str(folder), "--train-images", "256", "--device", "cpu", "--no-report"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    csv = folder / "tiny" / "trials.csv"
    while not csv.exists() and proc.poll() is None:
        time.sleep(0.01)
    time.sleep(delay)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=300)
    if proc.returncode == 130 and "run the same command again to resume" in err and "Traceback" not in err:
        return "clean", err
    if proc.returncode < 0:
        return f"died of {signal.Signals(-proc.returncode).name}", err
    return ("traceback" if "Traceback" in err else f"exit {proc.returncode}"), err


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--signal", choices=["TERM", "INT"], default="TERM")
    parser.add_argument("--max-delay", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    sig = signal.Signals[f"SIG{args.signal}"]
    outcomes: collections.Counter[str] = collections.Counter()
    start = time.monotonic()
    for i in range(args.runs):
        delay = rng.uniform(0, args.max_delay)
        with tempfile.TemporaryDirectory(prefix="stop_anywhere_") as tmp:
            outcome, err = one_stop(Path(tmp), sig, delay)
        outcomes[outcome] += 1
        if outcome != "clean":
            print(f"run {i} (stopped {delay:.2f} s after the first trial): {outcome}\n{err[-2000:]}", flush=True)
    summary = ", ".join(f"{n} {what}" for what, n in outcomes.most_common())
    print(f"{args.runs} runs, SIG{args.signal} at a random moment: {summary} ({time.monotonic() - start:.0f} s)")


if __name__ == "__main__":
    main()
