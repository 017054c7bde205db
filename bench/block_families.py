"""Benchmark: the block families of the zoo side by side on the embedded dataset, with the budget
of search_spaces/blocks.yaml (3 stages of widths 16-32-64, max-pool downsampling, 4 epochs).

For each family, at one norm and kernel size, it trains --seeds networks and prints mean +-
standard deviation of validation accuracy, params, FLOPs (multiply-adds per image), receptive
field and seconds per trial.

    python bench/block_families.py [--seeds 2] [--norm batch] [--kernel 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time

import harness


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="search_spaces/blocks.yaml")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--norm", default="batch")
    parser.add_argument("--kernel", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    space = harness.load_space(args.space)
    data = harness.load_dataset("default")
    print(f"{data.describe()}; budget from {args.space}; norm {args.norm}, kernel {args.kernel}; "
          f"{args.seeds} seeds; device {args.device}")
    print(f"{'block':<18} {'accuracy':>15} {'params':>8} {'FLOPs':>8} {'RF':>5} {'s/trial':>8}")
    for block in harness.BLOCKS.names():
        spec, config = space.build({"block": block, "norm": args.norm, "kernel_size": args.kernel})
        accs, secs = [], []
        for seed in range(args.seeds):
            start = time.perf_counter()
            ev = harness.evaluate_spec(spec, data, config, device=args.device, seed=seed)
            secs.append(time.perf_counter() - start)
            accs.append(ev.result.val_accuracy * 100)
        sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
        print(f"{block:<18} {statistics.mean(accs):7.1f} +- {sd:4.1f} % {ev.costs.params / 1e3:7.0f}k "
              f"{ev.costs.flops / 1e6:7.2f}M {ev.costs.receptive_field:4}px {statistics.mean(secs):8.1f}",
              flush=True)


if __name__ == "__main__":
    main()
