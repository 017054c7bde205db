"""Benchmark (a check): the same seed gives the same trials.csv, report tables and ranking with the
code before and after a change, compared side by side.

    python bench/same_seed.py --before PATH [--after PATH] [--out DIR]

PATH is the root of a checkout (a `git worktree add` of the earlier commit); --after defaults to
this checkout. Each runs, in its own process with one thread (the same arithmetic, so the same
numbers): `harness search` of search_spaces/kernel_size.yaml on the default dataset (6 trials of 2
epochs, seed 0), the report, and `harness rank` of its 2 best (2 seeds, 1 epoch). Then every table
is compared cell by cell, leaving out what is measured in seconds (training and overhead times,
latency, throughput) and where it ran (worker, device). Exit status 1 when a table differs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
# Measured (wall-clock) or machine columns: not the same from one run to the next.
MEASURED = ("seconds", "latency_ms", "throughput", "images_per_second", "memory", "worker")
SEARCH = ["search", "search_spaces/kernel_size.yaml", "--trials", "6", "--epochs", "2", "--seed", "0",
          "--device", "cpu", "--sampler", "random"]
RANK = ["rank", "--top", "2", "--seeds", "2", "--epochs", "1", "--device", "cpu", "--from"]


def run(code: Path, out: Path) -> Path:
    """The search, report and ranking with the harness of `code`, into out/; the study's folder."""
    env = {**os.environ, "PYTHONPATH": str(code), "OMP_NUM_THREADS": "1", "HARNESS_STORAGE": ""}
    env.pop("HARNESS_STORAGE")
    for args in ([*SEARCH, "--results", str(out)], [*RANK, str(out / "kernel_size")]):
        done = subprocess.run([sys.executable, "-m", "harness", *args], cwd=code, env=env, capture_output=True,
                              text=True)
        if done.returncode != 0:
            raise SystemExit(f"{code}: harness {args[0]} failed:\n{done.stderr[-2000:]}")
    return out / "kernel_size"


def tables(folder: Path) -> dict[str, pd.DataFrame]:
    """Every CSV table of a study's folder and of its ranking, the measured columns left out."""
    out = {}
    for path in sorted([*folder.glob("*.csv"), *folder.parent.glob("kernel_size-rank/*.csv")]):
        frame = pd.read_csv(path)
        if "curve" in frame:  # each epoch's record, its seconds left out
            frame["curve"] = frame["curve"].map(lambda text: json.dumps(
                [{k: v for k, v in point.items() if k != "seconds"} for point in json.loads(text)])
                if isinstance(text, str) else text)
        out[str(path.relative_to(folder.parent))] = frame[[c for c in frame.columns
                                                          if not any(m in c for m in MEASURED)]]
    return out


def compare(before: Path, after: Path) -> list[str]:
    """What differs between the two runs' tables and leaderboards, in words ([] when nothing)."""
    diffs = []
    a, b = tables(before), tables(after)
    for name in sorted(set(a) | set(b)):
        if name not in a or name not in b:
            diffs.append(f"{name}: only {'after' if name in b else 'before'}")
            continue
        if list(a[name].columns) != list(b[name].columns):
            diffs.append(f"{name}: columns {list(a[name].columns)} != {list(b[name].columns)}")
            continue
        try:
            pd.testing.assert_frame_equal(a[name], b[name], check_dtype=False)
        except AssertionError as err:
            diffs.append(f"{name}: {str(err).splitlines()[0]} {' '.join(str(err).splitlines()[1:4])}")
    for name in ("leaderboard.md",):
        if (before / name).read_text() != (after / name).read_text():
            diffs.append(f"{name} differs")
    return diffs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="root of the checkout before the change")
    parser.add_argument("--after", default=str(ROOT), help="root of the checkout after (default: this one)")
    parser.add_argument("--out", help="keep the runs here (default: a temporary folder)")
    parser.add_argument("--reuse-before", action="store_true", help="compare with the run already in "
                        "OUT/before (the code before a change does not change)")
    args = parser.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="harness-same-seed-")).resolve()
    kept = out / "before" / "kernel_size"
    before = kept if args.reuse_before and kept.is_dir() else run(Path(args.before).resolve(), out / "before")
    shutil.rmtree(out / "after", ignore_errors=True)
    after = run(Path(args.after).resolve(), out / "after")
    diffs = compare(before, after)
    counted = {name: len(frame) for name, frame in tables(after).items()}
    print(f"compared {', '.join(f'{n} ({k} rows)' for n, k in counted.items())} and leaderboard.md in {out}")
    if diffs:
        print("differences:\n  " + "\n  ".join(diffs))
        raise SystemExit(1)
    print("the same, cell by cell (measured seconds, latency and throughput left out)")


if __name__ == "__main__":
    main()
