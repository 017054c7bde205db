"""Benchmark on real data: from nothing to a ranked Fashion-MNIST architecture, timed, beside the literature.

On Debian's `dataset-fashion-mnist` folder as it is (Zalando's four .gz idx files), through the
CLI as a user types it, with a fresh cache (so decoding the data is in the time):
  1. `harness search search_spaces/fashion.yaml`: brief trials (3 epochs on a 10,000-image
     stratified subset of the 54,000 training images; validated on all 6,000 validation images),
     for at most --search-minutes;
  2. `harness rank --from` the study's top K, beside two reference networks from the literature
     (bench/specs: TensorFlow's tutorial CNN, ResNet-18 in its CIFAR form), each trained on the
     full training split for --rank-seconds per run (the same CPU time for every network) over
     --seeds seeds, then tested once on the 10,000 test images;
  3. with --brief-full, the same top K trained once at the search's brief budget (3 epochs) on
     the full training split: what the subset did to the search's ranking, and the time it saved.
Reported: mean test accuracy ± 95% CI per candidate next to the published figures, the best test
accuracy reached at 15, 30 and 60 minutes, Kendall's tau (with n and p) between the search's
brief ranking and the long one and for the cheap predictors, and the subset's effect.

    python bench/real_fashion.py [--data /usr/share/datasets/fashion-mnist] [--out bench/results/real_fashion]
        [--search-minutes 12] [--trials 30] [--top 5] [--seeds 3] [--rank-seconds 120]
        [--brief-full | --brief-full-only] [--fresh]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import optuna
import pandas as pd

from harness.rank.stats import kendall

ROOT = Path(__file__).resolve().parent.parent
SPECS = [ROOT / "bench" / "specs" / "tf_tutorial_fashion.yaml", ROOT / "bench" / "specs" / "resnet18_cifar.yaml"]
# Test accuracies published in the Fashion-MNIST README (60,000 train / 10,000 test).
PUBLISHED = [
    ("2 conv + pooling (TensorFlow's tutorial)", 0.916), ("2 conv + pooling + BN", 0.934),
    ("Google AutoML, 24 compute hours", 0.939), ("ResNet18", 0.949), ("MobileNet", 0.950),
    ("DenseNet-BC (768k params)", 0.954), ("WRN-28-10", 0.959), ("WRN-40-4", 0.967),
]


def run(cmd: list[str], log: Path, env: dict[str, str]) -> float:
    """Run `cmd` (echoing and logging its output); its wall time in seconds. Stops on failure."""
    print("$ " + " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    with open(log, "a") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            f.write(line)
        if proc.wait() != 0:
            sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}")
    return time.perf_counter() - t0


def completed_runs(folder: Path) -> pd.DataFrame:
    """The ranking's completed runs with their end times (from its storage): candidate, seed, test accuracy."""
    storage = f"sqlite:///{(folder / 'rank.db').resolve()}"
    study = optuna.load_study(study_name=folder.name, storage=storage)
    rows = []
    for t in study.get_trials(deepcopy=False, states=[optuna.trial.TrialState.COMPLETE]):
        rows.append({"candidate": t.user_attrs.get("candidate"), "seed_index": t.user_attrs.get("seed_index"),
                     "test_accuracy": t.user_attrs.get("test_accuracy"), "end": t.datetime_complete})
    return pd.DataFrame(rows)


def timeline(runs: pd.DataFrame, start: datetime, marks: tuple[int, ...]) -> dict[str, dict[str, object]]:
    """At each mark (minutes after `start`): the best single-run test accuracy so far, and the best
    mean test accuracy of a candidate with at least 2 completed runs."""
    out: dict[str, dict[str, object]] = {}
    runs = runs.assign(minutes=[(e - start).total_seconds() / 60 for e in runs["end"]])  # Optuna's: naive, local
    for mark in marks:
        done = runs[runs["minutes"] <= mark]
        best_run = float(done["test_accuracy"].max()) if len(done) else None
        means = done.groupby("candidate")["test_accuracy"].agg(["mean", "count"])
        means = means[means["count"] >= 2]
        best_mean = (str(means["mean"].idxmax()), float(means["mean"].max())) if len(means) else None
        out[f"{mark} min"] = {"best_run": best_run, "best_mean": best_mean, "runs_done": int(len(done))}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--out", default="bench/results/real_fashion")
    parser.add_argument("--search-minutes", type=float, default=12.0)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rank-seconds", type=float, default=120.0)
    parser.add_argument("--brief-full", action="store_true", help="also train the top K briefly on all the data")
    parser.add_argument("--brief-full-only", action="store_true",
                        help="only the --brief-full step, on an earlier run's search and ranking in --out")
    parser.add_argument("--brief-epochs", type=int, default=3, help="the search's epochs (fashion.yaml: 3)")
    parser.add_argument("--search-args", default="", help="extra `harness search` options (e.g. for a smoke test)")
    parser.add_argument("--fresh", action="store_true", help="delete the output folder first")
    args = parser.parse_args()
    out = (ROOT / args.out).resolve()
    if args.brief_full_only:
        saved = out / "real_fashion.json"
        if not saved.is_file():
            sys.exit(f"--brief-full-only: no earlier run in {out} (real_fashion.json is missing)")
        result = json.loads(saved.read_text())
        env = {**os.environ, "HARNESS_CACHE": str(out / "cache"), "PYTHONUNBUFFERED": "1"}
        result["subset"] = brief_full(out, args.top, args.brief_epochs, out / "log.txt", env)
        saved.write_text(json.dumps(result, indent=2, default=str))
        print(report(result))
        return
    if args.fresh and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    # From nothing: an empty cache, so the first step decodes the .gz files.
    env = {**os.environ, "HARNESS_CACHE": str(out / "cache"), "PYTHONUNBUFFERED": "1"}
    shutil.rmtree(out / "cache", ignore_errors=True)
    log = out / "log.txt"
    dataset = f"fashion_mnist:{args.data}"
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown CPU")
    start = datetime.now()  # naive local time, as Optuna stores a trial's end
    t0 = time.perf_counter()
    harness = [sys.executable, "-m", "harness"]
    t_search = run([*harness, "search", "search_spaces/fashion.yaml", "--dataset", dataset, "--results", str(out),
                    "--trials", str(args.trials), "--timeout", str(args.search_minutes * 60), "--device", "cpu",
                    *args.search_args.split()], log, env)
    study = out / "fashion"
    specs = [a for s in SPECS for a in ("--spec", str(s))]
    t_rank = run([*harness, "rank", "--from", str(study), "--top", str(args.top), *specs, "--seeds", str(args.seeds),
                  "--seconds", str(args.rank_seconds), "--device", "cpu"], log, env)
    total = time.perf_counter() - t0
    rank_folder = out / "fashion-rank"
    table = pd.read_csv(rank_folder / "rank.csv")
    fidelity = pd.read_csv(rank_folder / "fidelity.csv")
    trials = pd.read_csv(study / "trials.csv")
    trained = trials[trials["state"].isin(["COMPLETE", "PRUNED"])]
    result: dict[str, object] = {
        "cpu": cpu, "cores": os.cpu_count(), "started": start.astimezone(timezone.utc).isoformat(timespec="seconds"),
        "seconds": {"search": round(t_search), "rank": round(t_rank), "total": round(total)},
        "search": {"trials": int(len(trials)), "trained": int(len(trained)),
                   "infeasible": int(trials["infeasible"].notna().sum()) if "infeasible" in trials else 0,
                   "best_val_accuracy": float(trained["accuracy"].max()),
                   "mean_train_seconds": float(trained["train_seconds"].mean())},
        "rank": table[["rank", "candidate", "n", "mean", "test_n", "test_mean", "test_ci_low", "test_ci_high",
                       "prob_best", "group", "params", "flops", "search_accuracy", "label"]].to_dict(orient="records"),
        "fidelity": fidelity.to_dict(orient="records"),
        "timeline": timeline(completed_runs(rank_folder), start, (15, 30, 45, 60, max(60, int(total / 60) + 1))),
    }
    if args.brief_full:
        result["subset"] = brief_full(out, args.top, args.brief_epochs, log, env)
    (out / "real_fashion.json").write_text(json.dumps(result, indent=2, default=str))
    print(report(result))


def brief_full(out: Path, top: int, epochs: int, log: Path, env: dict[str, str]) -> dict[str, object]:
    """The study's top `top` trained once for `epochs` epochs on the full training split, beside the
    search's subset scores and the long ranking in `out`: taus (n, tau, p) and seconds per brief run."""
    study = out / "fashion"
    harness = [sys.executable, "-m", "harness"]
    t_brief = run([*harness, "rank", "--from", str(study), "--top", str(top), "--seeds", "1", "--epochs",
                   str(epochs), "--name", "fashion-brief-full", "--device", "cpu"], log, env)
    brief = pd.read_csv(out / "fashion-brief-full" / "rank.csv").set_index("candidate")
    long = pd.read_csv(out / "fashion-rank" / "rank.csv").set_index("candidate")
    trials = pd.read_csv(study / "trials.csv")
    trained = trials[trials["state"].isin(["COMPLETE", "PRUNED"])]
    names = [n for n in brief.index if n in long.index]
    subset_acc = [float(brief.loc[n, "search_accuracy"]) for n in names]
    full_acc = [float(brief.loc[n, "mean"]) for n in names]
    long_acc = [float(long.loc[n, "mean"]) for n in names]
    runs = pd.read_csv(out / "fashion-brief-full" / "runs.csv")
    top_trials = trained.set_index("number").loc[[int(brief.loc[n, "search_trial"]) for n in names]]
    return {
        "candidates": names,
        "tau_subset_vs_full_brief": kendall(subset_acc, full_acc),
        "tau_subset_brief_vs_long": kendall(subset_acc, long_acc),
        "tau_full_brief_vs_long": kendall(full_acc, long_acc),
        "train_seconds_subset": float(top_trials["train_seconds"].mean()),
        "train_seconds_full": float(runs["train_seconds"].mean()),
        "seconds": round(t_brief),
    }


def _pct(x: object) -> str:
    return "-" if x is None or x != x else f"{100 * float(x):.1f}%"  # NaN != NaN


def report(r: dict) -> str:
    """The result as the README's markdown."""
    lines = [f"{r['cpu']}, {r['cores']} cores: search {r['seconds']['search'] / 60:.1f} min, "
             f"rank {r['seconds']['rank'] / 60:.1f} min, total {r['seconds']['total'] / 60:.1f} min", "",
             "| candidate | architecture | params | MFLOPs | search val acc | test acc, mean (95% CI) | n | P(best) |",
             "|---|---|---|---|---|---|---|---|"]
    for row in r["rank"]:
        ci = f"{_pct(row['test_mean'])} ({_pct(row['test_ci_low'])}-{_pct(row['test_ci_high'])})"
        lines.append(f"| {row['candidate']} | {row['label']} | {row['params'] / 1e3:.0f}k | {row['flops'] / 1e6:.1f} | "
                     f"{_pct(row['search_accuracy'])} | {ci} | {row['test_n']} | {_pct(row['prob_best'])} |")
    lines += ["", "published (Fashion-MNIST README): " + ", ".join(f"{n} {a:.3f}" for n, a in PUBLISHED), ""]
    for mark, v in r["timeline"].items():
        mean = f"{v['best_mean'][0]} {_pct(v['best_mean'][1])}" if v["best_mean"] else "-"
        lines.append(f"at {mark}: best run {_pct(v['best_run'])}, best mean of >= 2 seeds {mean} "
                     f"({v['runs_done']} runs)")
    lines.append("")
    for f in r["fidelity"]:
        lines.append(f"fidelity {f['predictor']}: tau {f['tau']:+.2f}, p {f['p']:.3f}, n {f['n']}")
    if "subset" in r:
        s = r["subset"]
        for key in ("tau_subset_vs_full_brief", "tau_subset_brief_vs_long", "tau_full_brief_vs_long"):
            n, tau, p = s[key]
            lines.append(f"{key}: tau {tau:+.2f}, p {p:.3f}, n {n}")
        lines.append(f"brief training per trial: {s['train_seconds_subset']:.1f} s on the subset vs "
                     f"{s['train_seconds_full']:.1f} s on all the data")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
