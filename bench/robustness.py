"""Benchmark: what the robustness evaluation costs a trial of the main job, at the default settings.

Runs `harness search search_spaces/kernel_size.yaml --robustness` (all six shifts, severity 3,
the validation split's 1,000 images each) for --trials trials on the device, then from trials.csv:
the mean seconds per trial of the shifted evaluation (robust_seconds) against the mean whole
trial (build, count, warm-up, training, per-epoch evaluation, robustness), and the one-off
seconds of making the shifted copies (the search's wall time minus its trials' time is an upper
bound; here they are timed directly). Target: under 10% of a trial's time.

    python bench/robustness.py [--trials 4] [--device cpu]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
PARTS = ["build_seconds", "count_seconds", "warmup_seconds", "train_seconds", "eval_seconds", "robust_seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    import torch

    from harness.data import load_dataset
    from harness.data.shifts import Robustness, shifted_copies

    data = load_dataset("default")
    start = time.perf_counter()
    shifted_copies(data.val_x, Robustness())
    copies = time.perf_counter() - start
    folder = Path(tempfile.mkdtemp(prefix="harness-robust-"))
    cmd = [sys.executable, "-m", "harness", "search", str(ROOT / "search_spaces" / "kernel_size.yaml"),
           "--trials", str(args.trials), "--robustness", "--device", args.device, "--results", str(folder),
           "--no-report", "--pruner", "none"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    frame = pd.read_csv(folder / "kernel_size" / "trials.csv")
    ran = frame[frame["state"] == "COMPLETE"]
    trial = ran[PARTS].sum(axis=1).mean()
    robust = ran["robust_seconds"].mean()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}; "
          f"{len(ran)} trials of search_spaces/kernel_size.yaml with all 6 shifts at severity 3")
    print(f"shifted copies of the 1,000 validation images, made once per study: {copies:.2f} s")
    print(f"per trial: robustness {robust:.2f} s of {trial:.2f} s = {robust / trial:.1%} (target < 10%); "
          f"robust accuracy {ran['robust_accuracy'].mean():.3f} against accuracy {ran['accuracy'].mean():.3f}")
    cols = [c for c in ran.columns if c.startswith("robust.")]
    print("mean accuracy per shift: " + ", ".join(f"{c[7:]} {ran[c].mean():.3f}" for c in cols))


if __name__ == "__main__":
    main()
