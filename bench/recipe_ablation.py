"""Benchmark: what each part of the recipe is worth on Fashion-MNIST, one network, several seeds.

The network is bench/specs/resnet9_fashion.yaml; the recipe search_spaces/fashion.yaml's (SGD
Nesterov one-cycle to 0.2 at batch 256, weight decay 5e-4 on weights only, label smoothing 0.1, crops
of +-2 px and flips, a weight average with decay 0.99, flip-averaged evaluation), bf16 on the CPU.
Each variant trains --epochs epochs (one one-cycle schedule) with --seeds seeds; after every epoch
of the second half the test split is evaluated (here only: a benchmark, not a model choice); for
the full recipe four ways: the weight average or the raw weights, with or without flip averaging.
So one run of the full recipe gives the EMA and TTA ablations; the others are runs of their own:

    full        the recipe
    no_ls       label smoothing 0
    adamw       AdamW, one-cycle to 3e-3, weight decay 0.05 (harness's default optimizer)
    no_aug      no crops, no flips

Reported per variant and evaluation: the mean final test accuracy (and its spread), and the first
epoch at which the mean over seeds reaches 0.93 and 0.94 (within this schedule), with its minutes at
the seconds per epoch measured here. Accuracy does not depend on what else the machine runs; the
minutes come from the measured epoch time, so run it alone for those.

    python bench/recipe_ablation.py [--epochs 8] [--seeds 3] [--variants full,no_ls,adamw,no_aug]

Writes bench/results/recipe_ablation.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
from recipe_epochs import recipe_epochs  # bench/ is on the path of a script run from it

from harness.search.space import load_space
from harness.train.loop import (
    evaluate,
)
from harness.zoo.specfile import load_spec

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = {
    "full": {},
    "no_ls": {"label_smoothing": 0.0},
    "adamw": {"optimizer": "adamw", "lr": 3e-3, "weight_decay": 0.05},
    "no_aug": {"crop_padding": 0, "flip": False},
}


def run(data, config, epochs: int, seed: int, ways: tuple[str, ...]) -> tuple[list[dict[str, float]], float]:
    """Test accuracy after each epoch of the second half (before it, none reaches 0.93), each of
    `ways` (ema, ema_tta, raw, raw_tta); seconds of training per epoch."""
    spec = load_spec(ROOT / "bench" / "specs" / "resnet9_fashion.yaml")
    curve = []
    for epoch, loop, normalize in recipe_epochs(spec, config, data, epochs, seed):
        row = {}
        for way in ways if epoch > epochs // 2 else ():
            net = loop.eval_model if way.startswith("ema") else loop.model
            row[way] = evaluate(net, data.test_x, data.test_y, normalize, 256, loop.device, 10,
                                way.endswith("tta")).accuracy
        curve.append(row)
    return curve, loop.train_seconds / epochs


def first_epoch(mean_curve: list[float], target: float) -> int | None:
    return next((i + 1 for i, a in enumerate(mean_curve) if a >= target), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--out", default="bench/results/recipe_ablation.json")
    args = parser.parse_args()
    space = load_space(ROOT / "search_spaces" / "fashion.yaml")
    _, base, _ = space.sample(seed=0)  # the space's training recipe (fixed there)
    from harness.data import load_dataset

    data = load_dataset(space.dataset)
    results = {}
    for variant in args.variants.split(","):
        config = dataclasses.replace(base, **VARIANTS[variant])
        curves, seconds = [], []
        for seed in range(args.seeds):
            start = time.monotonic()
            ways = ("ema_tta", "ema", "raw_tta", "raw") if variant == "full" else ("ema_tta",)
            curve, per_epoch = run(data, config, args.epochs, seed, ways)
            curves.append(curve)
            seconds.append(per_epoch)
            print(json.dumps({"variant": variant, "seed": seed, "final": curve[-1], "s_per_epoch": per_epoch,
                              "wall_s": time.monotonic() - start}), flush=True)
        results[variant] = {"curves": curves, "s_per_epoch": float(np.median(seconds))}
    rows = []
    for variant, r in results.items():
        for way in ("ema_tta", "ema", "raw_tta", "raw"):
            if variant != "full" and way != "ema_tta":
                continue
            finals = [c[-1][way] for c in r["curves"]]
            mean_curve = list(np.mean([[e.get(way, 0.0) for e in c] for c in r["curves"]], axis=0))
            row = {"variant": variant if way == "ema_tta" else f"full, {way.replace('_', ' + ')}",
                   "mean": float(np.mean(finals)), "std": float(np.std(finals, ddof=1)) if len(finals) > 1 else None,
                   "s_per_epoch": r["s_per_epoch"]}
            for target in (0.93, 0.94):
                e = first_epoch(mean_curve, target)
                row[f"epochs_{target}"] = e
                row[f"minutes_{target}"] = None if e is None else e * r["s_per_epoch"] / 60
            rows.append(row)
            print(json.dumps(row), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"args": vars(args), "rows": rows, "results": results}, indent=1))


if __name__ == "__main__":
    main()
