"""Benchmark on real data: time to accuracy of `harness run` on Fashion-MNIST, from nothing.

On Debian's `dataset-fashion-mnist` folder as it is (Zalando's four .gz idx files), through the CLI as
a user types it, from an empty cache (decoding the data is in the time):

    harness run search_spaces/fashion.yaml --budget B

for each budget given (default 10m and 60m), one after the other on a quiet machine. Reported per
budget, from the run's own records: the wall time of the command, the plan and the time each stage
took, the winner and its test accuracy over its seeds with the 95% interval, Kendall's tau of each
search rung against the ranking (n, p), and the best validated final run's test accuracy; and, over
all budgets, the best test accuracy reached against wall minutes. Beside them the published table
(Fashion-MNIST's README) and the hand-written reference (bench/hand_reference.py), whose figures
are read from bench/results/hand_reference.json when it was run.

    python bench/real_fashion.py [--budgets 10m,60m] [--data /usr/share/datasets/fashion-mnist]
        [--out bench/results/real_fashion]

Writes OUT/real_fashion.json and prints a Markdown table for the README.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = {"2 conv + pooling": 0.916, "2 conv + pooling + BN": 0.934, "Google AutoML, 24 h": 0.939,
             "ResNet18": 0.949, "MobileNet": 0.950, "DenseNet-BC": 0.954, "WRN-28-10": 0.959}


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            flags = Path("/proc/cpuinfo").read_text()
            bf16 = "avx512_bf16" in flags or "amx_bf16" in flags
            native = "AVX512-BF16" if bf16 else "no native bf16"
            return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores, {native}"
    return "unknown CPU"


def run_budget(budget: str, data: str, out: Path) -> dict:
    """One `harness run` from an empty cache; its figures from state.json and fidelity.csv."""
    name = f"fashion-{budget}"
    folder = out / name
    if folder.exists():
        shutil.rmtree(folder)
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "HARNESS_CACHE": cache, "PYTHONUNBUFFERED": "1"}
        command = ["harness", "run", str(ROOT / "search_spaces" / "fashion.yaml"), "--budget", budget,
                   "--dataset", f"fashion_mnist:{data}", "--results", str(out), "--name", name, "--quiet"]
        start = time.monotonic()
        with open(out / f"{name}.log", "w") as log:
            code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env).returncode
        wall = time.monotonic() - start
    if code != 0:
        sys.exit(f"{' '.join(command)} ended with {code}; see {out / f'{name}.log'}")
    state = json.loads((folder / "state.json").read_text())
    outputs = state["stages"]["outputs"]
    fidelity = [line.split(",") for line in (folder / "fidelity.csv").read_text().splitlines()[1:]]
    model = json.loads((Path(outputs["model"]) / "metrics.json").read_text())
    return {"budget": budget, "wall_s": wall, "plan": state["plan"], "stages": state["stages"],
            "winner": outputs["winner"], "label": outputs["label"], "tests": outputs["tests"],
            "mean": outputs["mean"], "ci": outputs["ci"], "kept_test": model["test"]["accuracy"],
            "fidelity": [{"rung": int(r[0]), "n": int(r[1]), "tau": float(r[2] or "nan"),
                          "p": float(r[3] or "nan")} for r in fidelity]}


def markdown(rows: list[dict], cpu: str, hand: dict | None) -> str:
    lines = [f"CPU: {cpu}", "",
             "| budget | wall | search / ranking / final ended at | winner | final runs | test acc, mean (95% CI) "
             "| tau per rung (n, p) |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        st = r["stages"]
        ends = " / ".join(f"{st.get(k, {}).get('ended_at_s', float('nan')) / 60:.1f}"
                          for k in ("search", "rank", "final"))
        final = st["final"]
        taus = "; ".join(f"{f['rung']} ep: {f['tau']:+.2f} ({f['n']}, {f['p']:.3f})" for f in r["fidelity"])
        ci = r["ci"]
        lines.append(f"| {r['budget']} | {r['wall_s'] / 60:.1f} min | {ends} min | {r['label']} | "
                     f"{len(r['tests'])} x {final['epochs']} epochs | {100 * r['mean']:.2f}% "
                     f"({100 * ci[0]:.2f}-{100 * ci[1]:.2f}) | {taus or '-'} |")
    if hand:
        lines += ["", "Hand-written reference (bench/hand_reference.py): " + "; ".join(
            f"{h['who']} {h['precision']} {h['epochs']} epochs: {h['wall_s'] / 60:.1f} min, test "
            f"{100 * h['test_accuracy']:.2f}%" for h in hand["rows"] if h["epochs"] > 1)]
    lines += ["", "Published (Fashion-MNIST README): " + ", ".join(f"{k} {v:.3f}" for k, v in PUBLISHED.items())]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", default="10m,60m")
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--out", default="bench/results/real_fashion")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for budget in args.budgets.split(","):
        rows.append(run_budget(budget, args.data, out))
        print(json.dumps({k: v for k, v in rows[-1].items() if k not in ("plan", "stages")}), flush=True)
    hand_path = ROOT / "bench" / "results" / "hand_reference.json"
    hand = json.loads(hand_path.read_text()) if hand_path.is_file() else None
    cpu = cpu_name()
    (out / "real_fashion.json").write_text(json.dumps({"cpu": cpu, "runs": rows}, indent=2, default=str))
    print(markdown(rows, cpu, hand))


if __name__ == "__main__":
    main()
