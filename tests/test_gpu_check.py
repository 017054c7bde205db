"""bench/gpu_check.sh, the one prepared GPU call: its dry run passes here (every step's program
starts, the tests collect, the summary is written), and its summary judges the targets from the
benchmarks' figures: met, missed, or not measured (never a pass)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _summary_module():
    spec = importlib.util.spec_from_file_location("gpu_summary", ROOT / "bench" / "gpu_summary.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_dry_run_checks_every_step_and_writes_the_summary(tmp_path: Path) -> None:
    done = subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh"), "--dry-run"], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "OUT": str(tmp_path)})
    assert done.returncode == 0, done.stdout[-3000:] + (tmp_path / "gpu_check.log").read_text()[-3000:]
    summary = json.loads((tmp_path / "gpu_check.json").read_text())
    assert summary["dry_run"] is True and summary["failed_steps"] == []
    assert [s["step"] for s in summary["steps"]] == ["install", "machine", "tests", "speed", "mps", "loader"]
    assert all(s["rc"] == 0 for s in summary["steps"])
    assert sum(s["limit"] for s in summary["steps"]) <= 480  # the real run's limits are checked below
    assert {t["met"] for t in summary["targets"]} == {None}  # nothing measured without a GPU
    log = (tmp_path / "gpu_check.log").read_text()
    assert "=== tests: exit 0" in log and "tests collected" in log


def test_the_real_run_fits_eight_minutes() -> None:
    script = (ROOT / "bench" / "gpu_check.sh").read_text()
    real = script[script.index("\nstep install "):]
    limits = [int(line.split()[2]) for line in real.splitlines() if line.startswith("step ")]
    assert len(limits) == 6 and sum(limits) <= 480


def test_the_summary_judges_the_targets(tmp_path: Path) -> None:
    summary = _summary_module()
    speed = {"specs": {"plain-small": {"ratio": 0.97, "mfu": 0.1}, "resnet18-cifar": {"ratio": 0.93, "mfu": 0.31}},
             "k": [{"k": 1, "steady_per_hour": 100.0}, {"k": 4, "steady_per_hour": 350.0}]}
    (tmp_path / "train_speed.json").write_text(json.dumps(speed))
    (tmp_path / "steps.jsonl").write_text(json.dumps({"step": "speed", "rc": 0, "seconds": 1.0, "limit": 9}) + "\n"
                                          + json.dumps({"step": "mps", "rc": 3, "seconds": 0.1, "limit": 9}) + "\n")
    checks = {c["target"]: c for c in summary.targets(speed, None)}
    assert checks["harness/bare plain-small"]["met"] is True
    assert checks["harness/bare resnet18-cifar"]["met"] is False  # 0.93 < 0.95
    assert checks["MFU resnet18-cifar"]["met"] is True
    assert checks["k trials per GPU"]["met"] is True and checks["k trials per GPU"]["value"] == 3.5
    assert checks["k trials per GPU under MPS"]["met"] is None  # no MPS figures: not measured
    assert summary.main([str(tmp_path)]) == 1  # a missed target fails the run
    written = json.loads((tmp_path / "gpu_check.json").read_text())
    assert written["failed_steps"] == []  # MPS missing from the image (exit 3) is no failed step
    speed["specs"]["resnet18-cifar"]["ratio"] = 0.96
    (tmp_path / "train_speed.json").write_text(json.dumps(speed))
    assert summary.main([str(tmp_path)]) == 0
