"""The summary of bench/gpu_check.sh: its steps' records and figures -> OUT/gpu_check.json, and the targets.

Reads OUT/steps.jsonl (one record per step: name, exit status, seconds, limit), and the JSON the
benchmarks wrote: train_speed.json (harness vs bare, MFU, compile, k trials at once), its MPS
twin train_speed_mps.json, loader.json. Checks the targets the GPU work is held to:

  harness/bare  >= 0.95 for every reference spec (the harness's loop costs at most 5%)
  MFU           >= 25% for resnet18-cifar, of the measured bf16 GEMM rate
  k trials      >= 3x one: steady trials per hour with the most workers over one worker

A target whose figure is missing is "not measured", never a pass. Exit status: 0 when every step
ended well and every measured target is met (in --dry-run: when the steps ran), 1 otherwise.

    python bench/gpu_summary.py OUT [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

RATIO_TARGET = 0.95
MFU_TARGET = 0.25
K_TARGET = 3.0


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _steps(out: Path) -> list[dict[str, Any]]:
    try:
        lines = (out / "steps.jsonl").read_text().splitlines()
    except OSError:
        return []
    return [json.loads(line) for line in lines if line.strip()]


def _k_gain(speed: dict[str, Any] | None) -> tuple[float | None, str]:
    runs = (speed or {}).get("k") or []
    if len(runs) < 2:
        return None, "not measured"
    one = next((r for r in runs if r["k"] == 1), None)
    most = max(runs, key=lambda r: r["k"])
    if one is None or not one.get("steady_per_hour"):
        return None, "not measured"
    gain = most["steady_per_hour"] / one["steady_per_hour"]
    return gain, f"k={most['k']}: x{gain:.2f} the trials per hour of k=1"


def targets(speed: dict[str, Any] | None, mps: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Each target with its figure, whether it is met (None: not measured) and a line saying so."""
    checks: list[dict[str, Any]] = []
    specs = (speed or {}).get("specs") or {}
    for label, row in specs.items():
        ratio = row.get("ratio")
        checks.append({"target": f"harness/bare {label}", "value": ratio,
                       "met": None if ratio is None else ratio >= RATIO_TARGET,
                       "line": f"{ratio:.3f} (>= {RATIO_TARGET})" if ratio is not None else "not measured"})
    if not specs:
        checks.append({"target": "harness/bare", "value": None, "met": None, "line": "not measured"})
    mfu = specs.get("resnet18-cifar", {}).get("mfu")
    checks.append({"target": "MFU resnet18-cifar", "value": mfu, "met": None if mfu is None else mfu >= MFU_TARGET,
                   "line": f"{mfu:.1%} of the measured bf16 GEMM rate (>= {MFU_TARGET:.0%})" if mfu is not None
                   else "not measured"})
    for name, source in (("k trials per GPU", speed), ("k trials per GPU under MPS", mps)):
        gain, line = _k_gain(source)
        checks.append({"target": name, "value": gain, "met": None if gain is None else gain >= K_TARGET,
                       "line": f"{line} (>= {K_TARGET:g}x)" if gain is not None else line})
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--dry-run", action="store_true", help="a dry run: steps only, no figures expected")
    args = parser.parse_args(argv)
    steps = _steps(args.out)
    speed, mps = _read(args.out / "train_speed.json"), _read(args.out / "train_speed_mps.json")
    loader = _read(args.out / "loader.json")
    checks = targets(speed, mps)
    # MPS may be absent from the image (exit 3): that is a missing figure, not a failure.
    failed_steps = [s["step"] for s in steps if s["rc"] != 0 and not (s["step"] == "mps" and s["rc"] == 3)]
    summary = {"dry_run": args.dry_run, "steps": steps, "targets": checks, "train_speed": speed,
               "train_speed_mps": mps, "loader": loader, "failed_steps": failed_steps}
    (args.out / "gpu_check.json").write_text(json.dumps(summary, indent=2, default=str))
    print(f"{'dry run: ' if args.dry_run else ''}{len(steps)} step(s) in "
          f"{sum(s['seconds'] for s in steps):.0f} s; failed: {', '.join(failed_steps) or 'none'}")
    for check in checks:
        verdict = {True: "met", False: "MISSED", None: "-"}[check["met"]]
        print(f"  {check['target']:28s} {verdict:6s} {check['line']}")
    if loader:
        print(f"  loader: harness {loader['harness_ips']:,.0f} img/s vs torchvision {loader['torchvision_ips']:,.0f}; "
              f"share of an epoch {loader['loader_share']:.1%}")
    if not steps or failed_steps:
        return 1
    if args.dry_run:
        return 0
    return 0 if all(c["met"] is not False for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
