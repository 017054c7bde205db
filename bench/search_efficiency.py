"""Benchmark: how many trials each sampler needs to find a top-5% architecture, replayed on a table.

The way tabular NAS benchmarks compare search methods: first evaluate every architecture of a
small discrete space once (a results table), then replay the samplers against that table without
training, and count the trials each needs until the best it has found is in the table's top 5%.

1. Table. The space's architectures are enumerated with Optuna's BruteForceSampler over
   `space.suggest` (define-by-run, as a `--sampler grid` study asks them), so each row is keyed
   by the trial parameters as the samplers name them (one column per parameter, e.g.
   `s1.kernel_size`) and by `spec_id` plus a hash of the training config (`config_key`). Each
   architecture is trained once with `harness.evaluate_spec` on --dataset (the embedded default
   dataset), with the space's training config and --epochs epochs (default 2, to keep the table
   cheap: the accuracies are those of a brief run, not of converged networks), on --device, with
   the same weight seed (--seed) for all. Rows go to --table (a CSV) as they are made; a later
   run reuses the rows it finds there and evaluates only what is missing, so an interrupted run
   resumes and a finished table makes the replay free.
2. Replay. For each sampler (default random, tpe, gp, nsga2; built by harness.search.samplers.make_sampler,
   Optuna's defaults) and --seeds sampler seeds (0, 1, ...): an in-memory Optuna study
   maximising accuracy, whose objective looks the sampled architecture up in the table. It runs
   until the best accuracy found reaches the top-5% threshold (the accuracy of the
   ceil(5% x N)-th best architecture; ties with it count as top) or --cap trials. Reported per
   sampler: median trials needed, the interquartile range, the median number of distinct
   architectures among them (repeats are free in a harness study, which reuses a result for
   the same spec and training config), and how many seeds hit the cap (counted as the cap).

Optuna defaults worth knowing when reading the figures: tpe and gp start with 10 random trials
(n_startup_trials=10); nsga2's first generation is its population of 50 random trials, so for
its first 50 trials it is random search. With the same seed these random starts are the very
trials RandomSampler draws (measured: tpe and gp match random's first 10 trials, nsga2 its first
50), so the samplers differ only after that, and a target reached within 10 trials is reached
at the same trial by all four.

Evaluating every architecture is the expensive part: at 2 epochs a network of these spaces takes
about 1.6-2 s on 2 idle CPU cores (many times that when other jobs share the cores), so
search_spaces/kernel_size.yaml (the default: per-stage kernel size 3/5/7/9 and per-stage
dilation 1/2, 8^3 = 512 networks) takes about 15 minutes, and bench/search_efficiency_space.yaml
(the same with dilation fixed at 1, 4^3 = 64 networks, a subset: its rows are reused by the
larger space, same spec_id and config) about 2 minutes. The replay takes seconds.

    python bench/search_efficiency.py [--space search_spaces/kernel_size.yaml] [--epochs 2]
        [--device cpu] [--table bench/results/search_efficiency_table.csv] [--seeds 20]
        [--cap 200] [--top 0.05] [--samplers random,tpe,gp,nsga2]
    python bench/search_efficiency.py --space bench/search_efficiency_space.yaml   # 64, ~2 min on CPU
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import json
import math
import os
import statistics
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch

import harness
from harness.errors import HarnessError
from harness.search.samplers import make_sampler
from harness.search.space import SearchSpace, load_space
from harness.train.device import resolve_device
from harness.train.loop import TrainConfig
from harness.zoo.spec import ArchSpec

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SPACE = ROOT / "search_spaces" / "kernel_size.yaml"
DEFAULT_TABLE = ROOT / "bench" / "results" / "search_efficiency_table.csv"
REPLAYED = ("random", "tpe", "gp", "nsga2")
PROGRESS_EVERY = 32
# Columns before the parameter columns and after them; the parameter columns are named by the
# parameters (`s1.kernel_size`, ...), so a metric column must not be a possible parameter name.
KEY_COLUMNS = ("spec_id", "config_key", "label")
METRIC_COLUMNS = ("accuracy", "val_loss", "n_params", "flops", "train_seconds", "epochs", "device", "error")

Key = tuple[str, str]  # (spec_id, config_key)


@dataclass(frozen=True)
class Point:
    """One architecture of the space (with its training config), as the samplers ask for it."""

    params: dict[str, Any]
    spec: ArchSpec
    config: TrainConfig

    @property
    def key(self) -> Key:
        return self.spec.spec_id, config_key(self.config)


def config_key(config: TrainConfig) -> str:
    """A short hash of the whole training config: a table row is one spec under one config."""
    blob = json.dumps(dataclasses.asdict(config), sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:10]


def with_epochs(config: TrainConfig, epochs: int) -> TrainConfig:
    return dataclasses.replace(config, epochs=epochs)


def enumerate_space(space: SearchSpace, epochs: int) -> list[Point]:
    """Every architecture (and searched training value) of `space`, by BruteForceSampler over
    `space.suggest`, deduplicated by (spec_id, config): parameter values that make the same
    network (a null option equal to the family default) are one row."""
    points: dict[Key, Point] = {}

    def objective(trial: optuna.Trial) -> float:
        spec, config = space.suggest(trial)
        point = Point(dict(trial.params), spec, with_epochs(config, epochs))
        points.setdefault(point.key, point)
        return 0.0

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.BruteForceSampler(seed=0)
    study = optuna.create_study(sampler=sampler)
    # BruteForceSampler stops the study itself once every point has been asked; the bound is
    # only a guard against a space that is not finite after all.
    study.optimize(objective, n_trials=1_000_000)
    return list(points.values())


# ------------------------------------------------------------------------ the table
def read_table(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def write_table(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write all rows (atomically: a temporary file, then a rename)."""
    names = sorted({k for row in rows for k in row} - set(KEY_COLUMNS) - set(METRIC_COLUMNS))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[*KEY_COLUMNS, *names, *METRIC_COLUMNS], restval="")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def evaluate_point(point: Point, data: harness.ImageData, device: torch.device, seed: int) -> dict[str, Any]:
    row: dict[str, Any] = {"spec_id": point.spec.spec_id, "config_key": config_key(point.config),
                           "label": point.spec.label, **point.params,
                           "epochs": point.config.epochs, "device": str(device)}
    try:
        ev = harness.evaluate_spec(point.spec, data, point.config, device=device, seed=seed)
    except HarnessError as err:  # a network that cannot work at this input size: no accuracy
        row["error"] = str(err)
        return row
    row.update(accuracy=ev.result.val_accuracy, val_loss=ev.result.val_loss, n_params=ev.costs.params,
               flops=ev.costs.flops, train_seconds=round(ev.result.train_seconds, 3))
    return row


def build_table(points: list[Point], path: Path, args: argparse.Namespace) -> dict[Key, float]:
    """Accuracy per architecture (NaN where it could not be evaluated), from the rows already in
    `path`, evaluating and appending the missing ones."""
    rows: list[dict[str, Any]] = read_table(path)
    done = {(r["spec_id"], r["config_key"]) for r in rows}
    todo = [p for p in points if p.key not in done]
    print(f"table {path}: {len(points)} architectures in the space, {len(points) - len(todo)} already "
          f"evaluated, {len(todo)} to evaluate ({args.epochs} epochs each)", flush=True)
    if todo:
        device = resolve_device(args.device)
        data = harness.load_dataset(args.dataset).to(device)
        print(f"  {data.describe()}; device {device}; {torch.get_num_threads()} threads", flush=True)
        start = time.perf_counter()
        for i, point in enumerate(todo, start=1):
            rows.append(evaluate_point(point, data, device, args.seed))
            write_table(path, rows)  # after every row: an interrupted run keeps what it made
            if i % PROGRESS_EVERY == 0 or i == len(todo):
                elapsed = time.perf_counter() - start
                eta = elapsed / i * (len(todo) - i)
                print(f"  {i}/{len(todo)} evaluated, {elapsed:.0f} s, ETA {eta:.0f} s", flush=True)
    by_key = {(r["spec_id"], r["config_key"]): r for r in rows}
    table = {}
    for point in points:
        acc = by_key[point.key].get("accuracy")
        table[point.key] = float(acc) if acc not in (None, "") else math.nan
    return table


# ------------------------------------------------------------------------ the replay
@dataclass(frozen=True)
class Run:
    trials: int | None  # trials until the best was in the top; None: the cap was reached first
    distinct: int  # distinct architectures among those trials


def replay(space: SearchSpace, table: dict[Key, float], sampler: str, seed: int, threshold: float,
           cap: int, epochs: int) -> Run:
    """One search with `sampler` (seeded) against the table, until a top architecture or `cap`."""
    study = optuna.create_study(direction="maximize", sampler=make_sampler(sampler, seed, space))
    seen: set[Key] = set()
    found: list[int] = []

    def objective(trial: optuna.Trial) -> float:
        spec, config = space.suggest(trial)
        key = spec.spec_id, config_key(with_epochs(config, epochs))
        accuracy = table[key]
        seen.add(key)
        if accuracy >= threshold:  # NaN (could not be evaluated) never is; Optuna fails the trial
            found.append(trial.number + 1)
            trial.study.stop()
        return accuracy

    study.optimize(objective, n_trials=cap)
    return Run(found[0] if found else None, len(seen))


def quartiles(values: list[float]) -> tuple[float, float, float]:
    q1, q2, q3 = np.percentile(values, [25, 50, 75])
    return float(q1), float(q2), float(q3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default=str(DEFAULT_SPACE), help="a small discrete space (YAML)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per architecture in the table (default 2)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dataset", default="default")
    parser.add_argument("--seed", type=int, default=0, help="weight seed of every architecture in the table")
    parser.add_argument("--table", default=str(DEFAULT_TABLE), help="the results table (CSV), reused if present")
    parser.add_argument("--samplers", default=",".join(REPLAYED))
    parser.add_argument("--seeds", type=int, default=20, help="sampler seeds per sampler (0, 1, ...)")
    parser.add_argument("--cap", type=int, default=200, help="trials after which a search gives up")
    parser.add_argument("--top", type=float, default=0.05, help="the target: this fraction of the best")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)

    space = load_space(args.space)
    points = enumerate_space(space, args.epochs)
    table = build_table(points, Path(args.table), args)

    accuracies = sorted((a for a in table.values() if not math.isnan(a)), reverse=True)
    failed = len(table) - len(accuracies)
    k = max(1, math.ceil(args.top * len(table)))
    threshold = accuracies[k - 1]
    n_top = sum(a >= threshold for a in accuracies)
    print(f"\nspace {space.name} ({args.space}): {len(table)} architectures ({space.architecture_count()} "
          f"counted by the space){f', {failed} could not be evaluated' if failed else ''}; "
          f"{args.epochs} epochs each")
    print(f"accuracy: best {accuracies[0]:.3f}, median {statistics.median(accuracies):.3f}, "
          f"worst {accuracies[-1]:.3f}; top {args.top:.0%} = the {k} best: accuracy >= {threshold:.3f} "
          f"({n_top} architectures)")

    lines = ["| sampler | median trials | IQR (25%-75%) | median distinct archs | seeds at cap | seconds |",
             "|---|---|---|---|---|---|"]
    start = time.perf_counter()
    for name in args.samplers.split(","):
        t0 = time.perf_counter()
        runs = [replay(space, table, name, seed, threshold, args.cap, args.epochs) for seed in range(args.seeds)]
        trials = [r.trials if r.trials is not None else args.cap for r in runs]
        q1, med, q3 = quartiles(trials)
        distinct = statistics.median(r.distinct for r in runs)
        capped = sum(r.trials is None for r in runs)
        lines.append(f"| {name} | {med:g} | {q1:g}-{q3:g} | {distinct:g} | {capped}/{args.seeds} | "
                     f"{time.perf_counter() - t0:.1f} |")
    p = n_top / len(table)
    reference = math.ceil(math.log(0.5) / math.log(1 - p)) if p < 1 else 1
    print(f"\nTrials to reach the top {args.top:.0%} ({args.seeds} sampler seeds each, cap {args.cap}; "
          f"a capped seed counts as {args.cap}):\n")
    print("\n".join(lines))
    print(f"\nreplay: {time.perf_counter() - start:.1f} s. Reference: uniform sampling with replacement "
          f"over the architectures needs a median of {reference} trials (p = {n_top}/{len(table)} per trial).")
    print("Optuna defaults: tpe and gp begin with 10 random trials; nsga2's first generation is 50 random "
          "trials (population_size=50), so it is random search for its first 50 trials. With the same seed "
          "these are random's own trials, so all four agree until trial 10 (nsga2: 50).")


if __name__ == "__main__":
    main()
