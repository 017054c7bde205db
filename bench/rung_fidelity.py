"""Benchmark: which schedule makes a successive-halving rung's accuracy keep the order of the long run.

For N architectures of search_spaces/fashion.yaml (seeded samples within its FLOPs cap, distinct),
on Fashion-MNIST with the space's recipe, each trained:
  reference   LONG epochs with one one-cycle schedule: the order the rungs should predict (its last
              validation accuracy, the weight average's, as harness validates);
  one-cycle   one schedule over the last rung (3 epochs), validated after epoch 1 and 3 on
              the weight average (`ema`, what `harness run` does) and on the raw weights;
  restart     a run of its own per rung: 1 epoch with a whole one-cycle schedule (the rung-1 accuracy
              of "a restart per rung").
Kendall's tau (tau-b, with p and n) of each rung figure against the reference. The same seed for
every run of an architecture.

    python bench/rung_fidelity.py [--archs 8] [--long 9] [--train-images 10000]

With --train-images N the runs train on a stratified N-image subset (validation stays whole): the
schedules' comparison at a fifth of the time; the figures then say nothing about the subset itself.
Writes bench/results/rung_fidelity.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from recipe_epochs import recipe_epochs  # bench/ is on the path of a script run from it

from harness.data import DataOptions
from harness.rank.stats import kendall
from harness.search.space import load_space
from harness.train.loop import (
    evaluate,
)
from harness.zoo.measure import count_flops
from harness.zoo.model import build_model

ROOT = Path(__file__).resolve().parent.parent


def train(spec, config, data, epochs: int, seed: int, at: tuple[int, ...]) -> dict[int, dict[str, float]]:
    """Validation accuracy (weight average and raw weights) after each epoch in `at`."""
    out = {}
    for epoch, loop, normalize in recipe_epochs(spec, config, data, epochs, seed):
        if epoch in at:
            nets = (("ema", loop.eval_model), ("raw", loop.model))
            out[epoch] = {name: evaluate(net, data.val_x, data.val_y, normalize, 256, loop.device, data.num_classes,
                                         True).accuracy for name, net in nets}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", type=int, default=8)
    parser.add_argument("--long", type=int, default=9)
    parser.add_argument("--train-images", type=int, default=10_000)
    parser.add_argument("--out", default="bench/results/rung_fidelity.json")
    args = parser.parse_args()
    space = load_space(ROOT / "search_spaces" / "fashion.yaml")
    data = DataOptions(train_images=args.train_images).load(space.dataset, progress=False)
    specs, seen = [], set()
    for seed in range(200):
        spec, config, _ = space.sample(seed=seed)
        model = build_model(spec, in_channels=1, num_classes=10, input_size=(28, 28))
        if spec.spec_id in seen or count_flops(model, data.input_shape)[0] > space.constraints.max_flops:
            continue
        seen.add(spec.spec_id)
        specs.append((spec, config))
        if len(specs) == args.archs:
            break
    rows = []
    start = time.monotonic()
    for i, (spec, config) in enumerate(specs):
        ref = train(spec, config, data, args.long, seed=i, at=(args.long,))[args.long]["ema"]
        one = train(spec, config, data, 3, seed=i, at=(1, 3))
        restart = train(spec, config, data, 1, seed=i, at=(1,))[1]["ema"]
        rows.append({"label": spec.label, "reference": ref, "onecycle_ema_1": one[1]["ema"],
                     "onecycle_raw_1": one[1]["raw"], "onecycle_ema_3": one[3]["ema"],
                     "onecycle_raw_3": one[3]["raw"], "restart_1": restart})
        print(json.dumps(rows[-1]), f"{time.monotonic() - start:.0f} s", flush=True)
    ref = [r["reference"] for r in rows]
    taus = {}
    for key in ("onecycle_ema_1", "onecycle_raw_1", "restart_1", "onecycle_ema_3", "onecycle_raw_3"):
        n, tau, p = kendall([r[key] for r in rows], ref)
        taus[key] = {"n": n, "tau": tau, "p": p}
        print(f"{key:>16}: tau {tau:+.2f} (p {p:.3f}, n {n})")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"args": vars(args), "rows": rows, "tau": taus}, indent=1))


if __name__ == "__main__":
    main()
