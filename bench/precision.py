"""Benchmark: the main job in fp32 against bf16 autocast, over seeds, on this machine's device.

For each seed and precision, side by side in one process run after run (fp32 then bf16 per
seed, so drifts of the machine hit both alike): `harness search search_spaces/kernel_size.yaml`
with `--precision P --seed S` in its own results folder. Per run: the command's wall time, the
trials' summed training seconds, the best and the mean validation accuracy. Then per precision the
mean over seeds, the bf16/fp32 time ratio, and the accuracy difference with the seeds' spread, so
"the same within seed noise" is a figure, not a claim. Trials differ between seeds (the sampler
is seeded), not between precisions of one seed, unless a pruning decision falls differently.

    python bench/precision.py [--seeds 0,1,2] [--trials 12] [--device cpu] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SPACE = ROOT / "search_spaces" / "kernel_size.yaml"


def run_once(precision: str, seed: int, trials: int, device: str, root: Path) -> dict[str, float]:
    """One main-job run: wall seconds, summed training seconds, best and mean accuracy."""
    folder = root / f"{precision}-s{seed}"
    cmd = [sys.executable, "-m", "harness", "search", str(SPACE), "--trials", str(trials), "--seed", str(seed),
           "--precision", precision, "--device", device, "--results", str(folder), "--no-report"]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{precision} seed {seed} failed:\n{done.stderr[-3000:]}")
    frame = pd.read_csv(folder / "kernel_size" / "trials.csv")
    assert set(frame["precision"].dropna()) == {precision}, frame["precision"]
    done_rows = frame[frame["state"] == "COMPLETE"]
    return {"precision": precision, "seed": seed, "wall_s": wall, "train_s": float(frame["train_seconds"].sum()),
            "best": float(done_rows["accuracy"].max()), "mean": float(done_rows["accuracy"].mean()),
            "completed": len(done_rows), "pruned": int((frame["state"] == "PRUNED").sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="harness-precision-"))
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        for precision in ("fp32", "bf16"):
            row = run_once(precision, seed, args.trials, args.device, root)
            rows.append(row)
            print(f"seed {seed} {precision}: {row['wall_s']:.0f} s wall, {row['train_s']:.0f} s training, "
                  f"best {row['best']:.3f}, mean {row['mean']:.3f} ({row['completed']} complete, "
                  f"{row['pruned']} pruned)", flush=True)
    by = {p: [r for r in rows if r["precision"] == p] for p in ("fp32", "bf16")}
    summary = {}
    for p, rs in by.items():
        summary[p] = {k: statistics.mean(r[k] for r in rs) for k in ("wall_s", "train_s", "best", "mean")}
        summary[p]["best_sd"] = statistics.stdev(r["best"] for r in rs) if len(rs) > 1 else float("nan")
    diffs = [b["best"] - f["best"] for f, b in zip(by["fp32"], by["bf16"], strict=True)]
    summary["bf16_over_fp32_wall"] = summary["bf16"]["wall_s"] / summary["fp32"]["wall_s"]
    summary["bf16_over_fp32_train"] = summary["bf16"]["train_s"] / summary["fp32"]["train_s"]
    summary["best_diff_mean"] = statistics.mean(diffs)
    summary["best_diff_sd"] = statistics.stdev(diffs) if len(diffs) > 1 else float("nan")
    print(f"bf16/fp32: wall x{summary['bf16_over_fp32_wall']:.2f}, training x{summary['bf16_over_fp32_train']:.2f}; "
          f"best accuracy fp32 {summary['fp32']['best']:.3f} (sd {summary['fp32']['best_sd']:.3f}), "
          f"bf16 {summary['bf16']['best']:.3f} (sd {summary['bf16']['best_sd']:.3f}); "
          f"bf16 - fp32 per seed {summary['best_diff_mean']:+.3f} (sd {summary['best_diff_sd']:.3f})")
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": rows, "summary": summary}, indent=2))


if __name__ == "__main__":
    main()
