"""Benchmark: how far does the search's brief training rank architectures as longer training does?

On the embedded default dataset: a kernel-size search (the README's main job, its default budget of
4 epochs, no pruning so every trial trains to the end) gives N architectures; `harness rank` then
re-trains all of them with S seeds at the same budget (1x) and at F times the budget (default 5x).
Reported, as Kendall's tau-b against the 5x ranking (mean over seeds):

- the search's ranking (one brief run each): what a user of the search alone gets;
- the 1x ranking, mean over S seeds: what re-evaluation at the search's budget buys;
- one 5x seed against the mean of the other 5x seeds: the noise floor of the long ranking itself;
- cheap predictors: params, FLOPs, and the sum of training losses over the first 2 epochs (of the
  search's brief runs, and of the 5x runs' first epochs).

    python bench/rank_fidelity.py [--trials 14] [--seeds 3] [--factor 5] [--out bench/results/rank_fidelity]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import optuna
import pandas as pd

import harness
from harness.rank.candidates import from_study
from harness.rank.rank_tables import loss_over_first
from harness.rank.ranking import RankConfig
from harness.rank.runs import run_rank
from harness.rank.stats import kendall
from harness.search.search_config import SearchConfig
from harness.search.study import run_search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="search_spaces/kernel_size.yaml")
    parser.add_argument("--trials", type=int, default=14)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--factor", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default="bench/results/rank_fidelity")
    parser.add_argument("--fresh", action="store_true", help="delete the output folder first")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    out = Path(args.out)
    if args.fresh and out.exists():
        shutil.rmtree(out)
    space = harness.load_space(args.space)
    data = harness.load_dataset("default")
    t0 = time.perf_counter()
    run_search(space, SearchConfig(trials=args.trials, pruner="none", seed=args.seed, device=args.device,
                                   results_dir=str(out), study_name="search"), data=data, progress=None)
    t_search = time.perf_counter() - t0
    candidates, study, _ = from_study(out / "search", top=args.trials)
    print(f"{args.space}: {len(candidates)} distinct architectures from {args.trials} trials "
          f"({t_search:.0f} s), budget {candidates[0].budget}")

    rankings = {}
    for label, factor in (("1x", None), (f"{args.factor:g}x", args.factor)):
        t0 = time.perf_counter()
        rankings[label] = run_rank(candidates, RankConfig(seeds=args.seeds, budget_factor=factor, device=args.device,
                                                          seed=args.seed, results_dir=str(out), name=f"rank-{label}"),
                                   study=study, data=data, progress=None)
        print(f"rank at {label}: {len(rankings[label].runs)} runs, {time.perf_counter() - t0:.0f} s")
    long_label = f"{args.factor:g}x"
    long = rankings[long_label]
    target = long.table.set_index("candidate")["mean"].astype(float)
    brief = rankings["1x"].table.set_index("candidate")
    search = pd.read_csv(out / "search" / "trials.csv").set_index("number")

    names = list(target.index)
    trial_of = {c.name: c.search_trial for c in candidates}
    search_curve = {n: search.loc[trial_of[n], "curve"] for n in names}
    runs = long.runs[long.runs["state"] == "COMPLETE"]
    first = runs[runs["seed_index"] == 0].set_index("candidate")["accuracy"].astype(float)
    others = runs[runs["seed_index"] > 0].groupby("candidate")["accuracy"].mean()
    long_loss = runs.assign(loss=[loss_over_first(c, 2) for c in runs["curve"]]).groupby("candidate")["loss"].mean()

    def tau(values: dict | pd.Series) -> tuple[int, float, float]:
        return kendall([values[n] for n in names], [target[n] for n in names])

    table = long.table.set_index("candidate")
    rows = [
        ("search ranking (1 run, 1x)", tau({n: float(search.loc[trial_of[n], "accuracy"]) for n in names})),
        (f"1x ranking (mean of {args.seeds} seeds)", tau(brief["mean"].astype(float))),
        (f"one {long_label} seed vs the mean of the others", kendall([first[n] for n in names],
                                                                     [others[n] for n in names])),
        ("params", tau(table["params"].astype(float))),
        ("FLOPs", tau(table["flops"].astype(float))),
        ("-(train loss, first 2 epochs of the search's run)",
         tau({n: -loss_over_first(search_curve[n], 2) for n in names})),
        (f"-(train loss, first 2 epochs of the {long_label} runs)", tau(-long_loss)),
    ]
    print(f"\nKendall's tau-b against the {long_label} ranking ({len(names)} architectures, {args.seeds} seeds):")
    for name, (n, t, p) in rows:
        print(f"  {name:<52} tau {t:+.2f}  p {p:.3f}  (n {n})")
    spread = long.table[["candidate", "mean", "std"]].copy()
    spread["brief_mean"] = spread["candidate"].map(brief["mean"].astype(float))
    print("\naccuracy, mean over seeds: brief (1x) and long:")
    for _, r in spread.iterrows():
        print(f"  {r['candidate']:<10} 1x {r['brief_mean']:.3f}  {long_label} {r['mean']:.3f} ± {r['std']:.3f}")
    top = long.table[long.table["top"].fillna(False).astype(bool)]["candidate"].tolist()
    print(f"top group at {long_label}: {', '.join(top)}")
    result = {"space": args.space, "architectures": len(names), "seeds": args.seeds, "factor": args.factor,
              "tau": {name: {"n": n, "tau": t, "p": p} for name, (n, t, p) in rows}, "top_group": top,
              "accuracy": spread.to_dict(orient="records")}
    (out / "rank_fidelity.json").write_text(json.dumps(result, indent=2, default=float))


if __name__ == "__main__":
    main()
