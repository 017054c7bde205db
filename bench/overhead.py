"""Benchmark: one trial through harness against a bare hand-written PyTorch loop, side by side.

Both train the same network (built from the same spec, same initial weights) on the same data
(the embedded default dataset) for the same epochs with the same optimiser and schedule. The bare
loop is what a person would write by hand: the whole dataset normalised to float once, a
shuffled index per epoch, forward, loss, backward, step, and one evaluation at the end.

Three timings, each the median of --repeats interleaved runs:
  bare     the hand-written loop (training + final evaluation);
  trial    harness.evaluate_spec: validate, build, count FLOPs, train with per-epoch evaluation;
  search   `run_search` with one trial end to end: Optuna storage (SQLite), the trial, trials.csv,
           the plot, run.json (a fresh results folder each time).
It prints both ratios against bare; the target is trial/bare <= 1.10 on CPU.

    python bench/overhead.py [--epochs 4] [--repeats 3] [--device cpu] [--kernels 5,5,5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
from torch.nn import functional as F

import harness
from harness.search.search_config import SearchConfig
from harness.search.space import load_space
from harness.search.study import run_search
from harness.train.device import resolve_device


def bare_loop(spec: harness.ArchSpec, data: harness.ImageData, config: harness.TrainConfig,
              device: torch.device, seed: int) -> tuple[float, float]:
    """(seconds, validation accuracy) of a plain hand-written training loop."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    model = harness.build_model(spec, num_classes=data.num_classes).to(device)
    x = data.train_x.to(device).float().div_(255)
    mean, std = x.mean(dim=(0, 2, 3), keepdim=True), x.std(dim=(0, 2, 3), keepdim=True)
    x = (x - mean) / std
    y = data.train_y.to(device)
    vx = (data.val_x.to(device).float().div_(255) - mean) / std
    vy = data.val_y.to(device)
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=config.lr)
    steps = len(y) // config.batch_size
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=config.epochs * steps,
                                                pct_start=config.warmup, cycle_momentum=False)
    gen = torch.Generator(device=device).manual_seed(seed)
    for _ in range(config.epochs):
        model.train()
        order = torch.randperm(len(y), device=device, generator=gen)
        for i in range(steps):
            idx = order[i * config.batch_size:(i + 1) * config.batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    with torch.inference_mode():
        acc = (model(vx).argmax(1) == vy).float().mean().item()
    return time.perf_counter() - start, acc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="search_spaces/kernel_size.yaml")
    parser.add_argument("--kernels", default="5,5,5", help="per-stage kernel sizes of the spec timed")
    parser.add_argument("--epochs", type=int, default=None, help="default: the space's train.epochs")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    device = resolve_device(args.device)
    space = load_space(args.space)
    kernels = [int(k) for k in args.kernels.split(",")]
    values = {name: 1 for name in space.searched if name.endswith("dilation")}
    values.update({f"s{i}.kernel_size": k for i, k in enumerate(kernels, start=1)})
    spec, config = space.build(values)
    epochs = args.epochs or config.epochs
    config = harness.TrainConfig(**{**config.__dict__, "epochs": epochs})
    data = harness.load_dataset("default").to(device)
    print(f"spec {spec.label}; {data.describe()}; {epochs} epochs; device {device}; "
          f"{torch.get_num_threads()} threads")

    def harness_trial() -> tuple[float, float]:
        start = time.perf_counter()
        ev = harness.evaluate_spec(spec, data, config, device=device, seed=0)
        return time.perf_counter() - start, ev.result.val_accuracy

    def harness_search() -> tuple[float, float]:
        one = {**space.raw, "stages": {**space.raw["stages"],
                                       "kernel_size": {"each": kernels}, "dilation": 1}}
        fixed = harness.space_from_dict(one, default_name="overhead")
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            frame = run_search(fixed, SearchConfig(trials=1, epochs=epochs, device=str(device),
                                                   results_dir=tmp, pruner="none"),
                               data=data, progress=None, argv=["bench"])
            return time.perf_counter() - start, float(frame["accuracy"].iloc[0])

    bare_loop(spec, data, config, device, 0)  # warm-up: first-call costs of torch kernels
    times: dict[str, list[float]] = {"bare": [], "trial": [], "search": []}
    accs: dict[str, list[float]] = {"bare": [], "trial": [], "search": []}
    for r in range(args.repeats):
        for name, fn in (("bare", lambda: bare_loop(spec, data, config, device, 0)),
                         ("trial", harness_trial), ("search", harness_search)):
            seconds, acc = fn()
            times[name].append(seconds)
            accs[name].append(acc)
            print(f"  run {r + 1} {name:>6}: {seconds:6.2f} s  accuracy {acc:.3f}", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"median seconds: bare {med['bare']:.2f}, harness trial {med['trial']:.2f}, "
          f"harness search (1 trial, end to end) {med['search']:.2f}")
    print(f"ratio trial/bare = {med['trial'] / med['bare']:.3f}   (target <= 1.10)")
    print(f"ratio search/bare = {med['search'] / med['bare']:.3f}")


if __name__ == "__main__":
    main()
