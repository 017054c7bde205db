"""Benchmark: what a trial refused by a hard constraint costs against one that trains.

A random-sampler search of search_spaces/kernel_size.yaml with --max-flops near the middle of
the space's FLOP range: about half the trials break it. Each trial's wall time is read from the
study (start to end: sampling, building, FLOP counting, storage writes, and training for the
feasible ones). Target: an infeasible trial costs under 2% of a feasible one.

    python bench/infeasible_cost.py [--trials 16] [--max-flops 5M] [--epochs 4]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

import optuna

import harness
from harness.search.constraints import Constraints, parse_count
from harness.search.search_config import SearchConfig, study_name_for
from harness.search.study import run_search


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="search_spaces/kernel_size.yaml")
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--max-flops", default="5M")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    space = harness.load_space(args.space)
    with tempfile.TemporaryDirectory() as results:
        config = SearchConfig(trials=args.trials, epochs=args.epochs, sampler="random", device=args.device,
                              results_dir=results, repeat=True,
                              constraints=Constraints(max_flops=parse_count(args.max_flops)))
        run_search(space, config, progress=None)
        name = study_name_for(space, None)
        study = optuna.load_study(study_name=name,
                                  storage=f"sqlite:///{results}/{name}/study.db")
    feasible, infeasible = [], []
    for trial in study.trials:
        seconds = (trial.datetime_complete - trial.datetime_start).total_seconds()
        (infeasible if "infeasible" in trial.user_attrs else feasible).append(seconds)
    if not feasible or not infeasible:
        print(f"need both kinds: {len(feasible)} feasible, {len(infeasible)} infeasible; change --max-flops")
        return
    f, i = statistics.median(feasible), statistics.median(infeasible)
    print(f"{args.space}, max {args.max_flops} FLOPs, {args.epochs} epochs, device {args.device}")
    print(f"feasible trials:   {len(feasible):3}  median {f:7.3f} s per trial")
    print(f"infeasible trials: {len(infeasible):3}  median {i:7.3f} s per trial  "
          f"({i / f:.1%} of a feasible one; target < 2%)")


if __name__ == "__main__":
    main()
