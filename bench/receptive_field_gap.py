"""Benchmark: does architecture matter on the embedded dataset? Accuracy of kernel_size.yaml's
corner configurations over several seeds, with the default budget.

For each configuration (the same kernel size and dilation in all three stages, plus a mixed
one) it trains --seeds networks and prints mean +- standard deviation of validation accuracy,
the theoretical receptive field and seconds per trial, then the gap between the best and the
worst configuration (the issue asks for at least 5 accuracy points).

    python bench/receptive_field_gap.py [--seeds 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time

import harness

CONFIGS = [((3, 3, 3), (1, 1, 1)), ((5, 5, 5), (1, 1, 1)), ((7, 7, 7), (1, 1, 1)),
           ((9, 9, 9), (1, 1, 1)), ((3, 3, 3), (2, 2, 2)), ((9, 9, 9), (2, 2, 2)),
           ((3, 5, 7), (1, 1, 2))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="search_spaces/kernel_size.yaml")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    space = harness.load_space(args.space)
    data = harness.load_dataset("default")
    print(f"{data.describe()}; budget from {args.space}; {args.seeds} seeds; device {args.device}")
    means = {}
    for kernels, dilations in CONFIGS:
        values = {f"s{i}.kernel_size": k for i, k in enumerate(kernels, start=1)}
        values.update({f"s{i}.dilation": d for i, d in enumerate(dilations, start=1)})
        spec, config = space.build(values)
        accs, secs = [], []
        for seed in range(args.seeds):
            start = time.perf_counter()
            ev = harness.evaluate_spec(spec, data, config, device=args.device, seed=seed)
            secs.append(time.perf_counter() - start)
            accs.append(ev.result.val_accuracy * 100)
        sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
        means[spec.label] = statistics.mean(accs)
        print(f"  k{'-'.join(map(str, kernels))} d{'-'.join(map(str, dilations))}: "
              f"{statistics.mean(accs):5.1f} +- {sd:4.1f} %  rf {ev.costs.receptive_field:>3} px  "
              f"flops {ev.costs.flops / 1e6:5.2f}M  {statistics.mean(secs):4.1f} s/trial", flush=True)
    best, worst = max(means.values()), min(means.values())
    print(f"gap best - worst: {best - worst:.1f} accuracy points (best {best:.1f}, worst {worst:.1f})")


if __name__ == "__main__":
    main()
