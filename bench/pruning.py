"""Benchmark: the two-objective Pareto pruning policy against no pruning, on the embedded dataset.

The same trials (random sampler, same seed: the architectures drawn do not depend on results)
run as an accuracy-vs-FLOPs study twice: without pruning, and with the default policy. Other
policies (--replay-margins) are replayed offline on the unpruned run's recorded learning curves
(training is deterministic on CPU, so a replay stops the same trials a live run would; its time
saved is estimated from each trial's per-epoch seconds). For each it reports the training time
and epochs spent, and how much of the unpruned run's Pareto front it keeps: the hypervolume
ratio (accuracy vs log10 FLOPs, reference point: the most expensive trial's FLOPs and accuracy
--ref-acc) and the share of the unpruned front's points matched by a point at no more FLOPs and
no less accuracy (within 0.5 points).

    python bench/pruning.py [--space search_spaces/kernel_size.yaml] [--trials 24] [--epochs 4] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import optuna

import harness
from harness.pareto import front_indices, front_kept, hypervolume
from harness.search.pruning import Curve, ParetoPruner
from harness.search.search_config import SearchConfig
from harness.search.study import run_search


def front_points(frame) -> list[tuple[float, float]]:
    done = frame[(frame["state"] == "COMPLETE") & frame["accuracy"].notna()]
    return list(zip(done["flops"].astype(float), done["accuracy"].astype(float), strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="search_spaces/kernel_size.yaml")
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--replay-margins", default="0.05,0.1", help="margins replayed offline (warmup 1)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ref-acc", type=float, default=0.5, help="hypervolume reference accuracy")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    space = harness.load_space(args.space)
    data = harness.load_dataset("default")
    policies = {"none": None, "pareto (default: margin 0.02, warmup 1), live": ParetoPruner()}
    print(f"{args.space}, {args.trials} trials x {args.epochs} epochs, random sampler seed {args.seed}, "
          f"accuracy vs FLOPs, device {args.device}")
    runs = {}
    for name, policy in policies.items():
        with tempfile.TemporaryDirectory() as results:
            config = SearchConfig(trials=args.trials, epochs=args.epochs, sampler="random", seed=args.seed,
                                  objectives="accuracy,flops", pruner="none" if policy is None else "pareto",
                                  pareto=policy or ParetoPruner(), device=args.device, results_dir=results,
                                  repeat=True)
            start = time.perf_counter()
            frame = run_search(space, config, data=data, progress=None)
            wall = time.perf_counter() - start
        runs[name] = (frame, wall)
        print(f"  ran {name}: {wall:.0f} s", flush=True)
    base_frame, _ = runs["none"]
    base = front_points(base_frame)
    ref_cost = max(c for c, _ in base) * 1.01
    base_hv = hypervolume(base, ref_cost=ref_cost, ref_acc=args.ref_acc, log_cost=True)
    base_front = [base[i] for i in front_indices(base)]
    base_train = base_frame["train_seconds"].sum()
    base_epochs = base_frame["epochs"].sum()
    print("\n| policy | train time (s) | saved | epochs | pruned trials | hypervolume kept | front points kept |")
    print("|---|---|---|---|---|---|---|")
    rows = [(name, frame) for name, (frame, _) in runs.items()]
    curves = [json.loads(c) for c in base_frame["curve"]]
    for margin in [float(m) for m in args.replay_margins.split(",") if m]:
        rows.append((f"pareto (margin {margin:g}, warmup 1), replayed", replayed(base_frame, curves, margin)))
    for name, frame in rows:
        points = front_points(frame)
        hv = hypervolume(points, ref_cost=ref_cost, ref_acc=args.ref_acc, log_cost=True)
        kept = front_kept(base_front, points, tol=0.005)
        train = frame["train_seconds"].sum()
        epochs = frame["epochs"].sum()
        saved = f"{epochs} ({1 - epochs / base_epochs:.0%} saved)"
        print(f"| {name} | {train:.0f} | {1 - train / base_train:.0%} | {saved} "
              f"| {(frame['state'] == 'PRUNED').sum()} | {hv / base_hv:.3f} | {kept:.0%} |")


def replayed(base, curves: list[list[dict]], margin: float):
    """The unpruned run's table as the policy would have left it: trials in order, each stopped
    at the first epoch the policy calls (finished = earlier trials it let complete)."""
    policy = ParetoPruner(margin=margin)
    frame = base.copy()
    finished: list[Curve] = []
    for index, curve in zip(frame.index, curves, strict=True):
        cost = float(frame.at[index, "flops"])
        total = len(curve)
        for point in curve:
            if policy.should_stop(point["epoch"], total, point["val_accuracy"], cost, finished):
                frame.at[index, "state"] = "PRUNED"
                frame.at[index, "epochs"] = point["epoch"]
                frame.at[index, "train_seconds"] = point["seconds"]
                frame.at[index, "accuracy"] = point["val_accuracy"]
                break
        else:
            finished.append(Curve(cost, tuple(p["val_accuracy"] for p in curve)))
    return frame


if __name__ == "__main__":
    main()
