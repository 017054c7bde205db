"""Benchmark: training speed through harness against a bare hand-written loop, against the
hardware's measured matrix rate, the per-trial overheads, and trials per hour with k trials at
once on one device.

Three reference specs on CIFAR-shaped data (uint8 3x32x32, 10 classes; random pixels, since
speed does not depend on content): a small plain net (airbench-like), a CIFAR-style ResNet-18
(3x3 stem, no max-pool) and a small ConvNeXt. For each, side by side in one process:
  bare     a hand-written loop with the same tricks: data resident on the device as uint8, a
           shuffled gather, random crop and flip and normalisation on the device, channels_last,
           bf16 autocast and fused AdamW on CUDA, OneCycle schedule, losses summed on the device;
  harness  `harness.evaluate_spec`: the same network, data, optimiser and schedule;
images per second in the steady state (after the warm-up step; evaluation excluded), the best of
--repeats interleaved runs each. Model FLOP utilisation (MFU) = 3 x forward FLOPs x images/s over
the device's measured matrix rate (bf16 on CUDA, float32 on the CPU); forward FLOPs = 2 x
fvcore's count (fvcore counts a multiply-add as one). With --compile, harness also trains through
torch.compile: its warm-up (compilation) and the training time from which it pays off.

Then `harness search` on the small net with k worker processes on the device (--workers k; on
CUDA --gpus 0 repeated k times) and the journal storage: trials per hour from the command's wall
time, and in the steady state (first trial start to last trial end, from the storage).

    python bench/train_speed.py [--device auto] [--repeats 2] [--compile] [--k 1,2,4,8] [--specs none]

On the CPU the sizes shrink (16x16 images, 1,024 of them, k = 1,2) so it finishes in minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import torch
from torch.nn import functional as F

import harness
from harness.data import Augment
from harness.store.storage import open_storage, resolve_storage
from harness.train.device import resolve_device
from harness.train.evaluate import evaluate_spec
from harness.train.loop import TrainConfig
from harness.zoo.measure import measure_model

# Sizes per device kind: images, image side, batch, epochs (harness), trial epochs (k part).
SIZES = {
    "cuda": {"train": 50_000, "val": 10_000, "side": 32, "batch": 512, "epochs": 3, "search_epochs": 4},
    "cpu": {"train": 1_024, "val": 256, "side": 16, "batch": 128, "epochs": 2, "search_epochs": 2},
}


# The plain-small reference as a search space of one architecture (the default dataset: 5,000
# CIFAR-shaped images), for the k-trials-at-once runs.
SMALL_SPACE = """
stem: {{width: 32}}
stages: {{count: 3, block: plain, depth: 2, width: {{each: [64, 128, 256]}}, stride: 2, downsample: maxpool}}
train: {{epochs: {epochs}, batch_size: {batch}}}
"""


def reference_specs() -> dict[str, harness.ArchSpec]:
    """The three reference networks, CIFAR style."""
    S = harness.StageSpec
    return {
        "plain-small": harness.ArchSpec(stem=harness.StemSpec(width=32), stages=tuple(
            S(block="plain", depth=2, width=w, stride=2, downsample="maxpool") for w in (64, 128, 256))),
        "resnet18-cifar": harness.ArchSpec(stem=harness.StemSpec(width=64), stages=tuple(
            S(block="residual", depth=2, width=w, stride=s) for w, s in ((64, 1), (128, 2), (256, 2), (512, 2)))),
        "convnext-small": harness.ArchSpec(
            stem=harness.StemSpec(kind="patchify", width=64, kernel_size=2, stride=2),
            stages=tuple(S(block="convnext", depth=2, width=w, stride=s, kernel_size=7, expansion=4.0,
                           downsample="patch") for w, s in ((64, 1), (128, 2), (256, 2))),
            head=harness.HeadSpec(norm="post"), norm="layer", activation="gelu"),
    }


def cifar_shaped(n_train: int, n_val: int, side: int) -> harness.ImageData:
    g = torch.Generator().manual_seed(0)
    def images(n: int) -> torch.Tensor:
        return torch.randint(0, 256, (n, 3, side, side), dtype=torch.uint8, generator=g)
    def labels(n: int) -> torch.Tensor:
        return torch.randint(0, 10, (n,), generator=g)
    return harness.ImageData("cifar-shaped", images(n_train), labels(n_train), images(n_val), labels(n_val),
                             tuple(str(i) for i in range(10)), augment=Augment(4, True))


def matrix_rate(device: torch.device) -> tuple[float, str]:
    """Measured dense matrix-multiply rate (FLOP/s) in the dtype training uses there: the best of
    three timings of `reps` square products (8192 in bf16 on CUDA, 2048 in float32 on the CPU)."""
    dtype, n, reps = (torch.bfloat16, 8192, 50) if device.type == "cuda" else (torch.float32, 2048, 10)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    best = 0.0
    for _ in range(3):
        sync(device)
        start = time.perf_counter()
        for _ in range(reps):
            a @ b
        sync(device)
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - start))
    return best, str(dtype).removeprefix("torch.")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bare_loop(spec: harness.ArchSpec, data: harness.ImageData, config: TrainConfig, device: torch.device,
              steps: int, compile: bool = False) -> float:
    """Steady-state images/s of a hand-written loop with the same tricks, over `steps` steps
    after 3 warm-up steps."""
    cuda = device.type == "cuda"
    fmt = torch.channels_last if cuda else torch.contiguous_format
    torch.manual_seed(0)
    model = harness.build_model(spec, num_classes=10).to(device, memory_format=fmt)
    if cuda:
        torch.backends.cudnn.benchmark = True
    step_model = torch.compile(model) if compile else model
    x, y = data.train_x.to(device), data.train_y.to(device)
    mean = x[:4096].float().mean((0, 2, 3)).view(1, 3, 1, 1)
    std = x[:4096].float().std((0, 2, 3)).view(1, 3, 1, 1)
    scale, shift = 1 / std, -mean / std
    decay = [p for p in model.parameters() if p.ndim > 1]
    rest = [p for p in model.parameters() if p.ndim <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                             {"params": rest, "weight_decay": 0.0}], lr=config.lr, fused=cuda)
    warm, batch, pad = 3, config.batch_size, 4
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=warm + steps)
    n, c, h, w = x.shape
    hp, wp = h + 2 * pad, w + 2 * pad
    template = (torch.arange(c, device=device).view(c, 1, 1) * hp * wp
                + torch.arange(h, device=device).view(1, h, 1) * wp + torch.arange(w, device=device).view(1, 1, w))
    model.train()

    def step(idx: torch.Tensor) -> torch.Tensor:
        xb, yb = x[idx], y[idx]
        off = torch.randint(0, 2 * pad + 1, (2, batch), device=device)
        start = torch.arange(batch, device=device) * (c * hp * wp) + off[0] * wp + off[1]
        xb = F.pad(xb, (pad,) * 4).reshape(-1).take(start.view(-1, 1, 1, 1) + template)
        xb = torch.where(torch.rand(batch, device=device).view(-1, 1, 1, 1) < 0.5, xb.flip(-1), xb)
        xb = torch.addcmul(shift, xb.float(), scale).contiguous(memory_format=fmt)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
            logits = step_model(xb)
        loss = F.cross_entropy(logits.float(), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        return loss.detach()

    per_epoch = n // batch
    order = torch.cat([torch.randperm(n, device=device)[: per_epoch * batch]
                       for _ in range((warm + steps) // per_epoch + 1)]).view(-1, batch)
    for i in range(warm):
        step(order[i])
    sync(device)
    total = torch.zeros((), device=device)
    start = time.perf_counter()
    for i in range(warm, warm + steps):
        total += step(order[i])
    total.item()
    return steps * batch / (time.perf_counter() - start)


def run_k(k: int, trials: int, device: torch.device, epochs: int, root: Path) -> dict[str, float]:
    """`harness search` on the small net with k workers on the device: trials per hour."""
    space = root / "small.yaml"
    space.write_text(SMALL_SPACE.format(epochs=epochs, batch=512 if device.type == "cuda" else 128))
    folder = root / f"k{k}"
    cmd = [sys.executable, "-m", "harness", "search", str(space), "--trials", str(trials), "--repeat",
           "--sampler", "random", "--pruner", "none", "--results", str(folder), "--storage", "journal",
           "--device", device.type, "--study", "small"]
    if k > 1 or device.type == "cuda":
        cmd += ["--workers", str(k)] + (["--gpus", ",".join(["0"] * k)] if device.type == "cuda" else [])
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // k))}
    env.pop("HARNESS_STORAGE", None)
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"k={k} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    study = optuna.load_study(study_name="small", storage=open_storage(resolve_storage("journal", folder / "small")))
    ended = [t for t in study.get_trials(deepcopy=False) if t.datetime_complete is not None]
    span = (max(t.datetime_complete for t in ended) - min(t.datetime_start for t in ended)).total_seconds()
    mean_train = sum(t.user_attrs.get("train_seconds", 0.0) for t in ended) / len(ended)
    return {"k": k, "trials": len(ended), "wall_s": wall, "per_hour": len(ended) * 3600 / wall,
            "steady_per_hour": len(ended) * 3600 / span, "mean_train_s": mean_train}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--compile", action="store_true", help="also train through torch.compile")
    parser.add_argument("--k", default=None, help="trials at once on the device (default 1,2,4,8; CPU 1,2)")
    parser.add_argument("--specs", default=None,
                        help="comma-separated subset of the reference specs ('none': only the k part)")
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args()
    # A fresh compilation cache: in a search every trial is a new network, so a cold compile is
    # the honest start-up figure (inductor reads this when it first compiles).
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="harness-inductor-")
    device = resolve_device(args.device)
    size = SIZES["cuda" if device.type == "cuda" else "cpu"]
    precision = "bf16" if device.type == "cuda" else "fp32"  # what the bare loop does on each
    data = cifar_shaped(size["train"], size["val"], size["side"]).to(device)
    config = TrainConfig(epochs=size["epochs"], batch_size=size["batch"])
    peak, dtype = matrix_rate(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"{name}; torch {torch.__version__}; measured {dtype} matrix rate {peak / 1e12:.3g} TFLOP/s")
    print(f"data {size['train']} x 3x{size['side']}x{size['side']}, batch {size['batch']}, {size['epochs']} epochs")
    report: dict[str, object] = {"device": name, "torch": torch.__version__, "matrix_tflops": peak / 1e12,
                                 "dtype": dtype, "sizes": size, "specs": {}}
    specs = reference_specs()
    chosen = [] if args.specs == "none" else args.specs.split(",") if args.specs else list(specs)
    for label in chosen:
        spec = specs[label]
        model = harness.build_model(spec, num_classes=10)
        flops = measure_model(model, spec, (3, size["side"], size["side"])).flops  # fvcore: multiply-adds
        steps = (size["train"] // size["batch"]) * size["epochs"] - 1
        bare, ours, evals = [], [], []
        for _ in range(args.repeats):
            bare.append(bare_loop(spec, data, config, device, steps))
            ev = evaluate_spec(spec, data, config, device=device, seed=0, precision=precision)
            ours.append(ev.result.images_per_second)
            evals.append(ev)
        best = max(evals, key=lambda e: e.result.images_per_second)
        ips = max(ours)
        mfu = 3 * 2 * flops * ips / peak
        o = best.overheads
        row = {"bare_ips": max(bare), "harness_ips": ips, "ratio": ips / max(bare), "mfu": mfu,
               "fwd_gflops": 2 * flops / 1e9, "train_s": best.result.train_seconds,
               "build_s": o.build, "count_s": o.count, "warmup_s": o.warmup, "eval_s": o.evaluate}
        line = (f"{label:15s} harness {ips:9.0f} img/s  bare {max(bare):9.0f} img/s  harness/bare {ips / max(bare):.3f}"
                f"  MFU {mfu:6.1%}  | outside training: build {o.build:.2f} s, count {o.count:.2f} s, "
                f"warm-up {o.warmup:.2f} s, eval {o.evaluate:.2f} s (training {best.result.train_seconds:.2f} s)")
        if args.compile:
            cev = evaluate_spec(spec, data, config, device=device, seed=0, compile=True, precision=precision)
            cips = cev.result.images_per_second
            cbare = bare_loop(spec, data, config, device, steps, compile=True)
            # Compiling pays off once the time it saves per second of eager training (1 - eager
            # rate / compiled rate) has covered its extra warm-up.
            extra = cev.overheads.warmup - o.warmup
            gain = 1 - ips / cips
            pays = extra / gain if gain > 0 else float("inf")
            row.update(compiled_ips=cips, compiled_bare_ips=cbare, compiled_mfu=3 * 2 * flops * cips / peak,
                       compile_warmup_s=cev.overheads.warmup, compile_pays_after_s=pays)
            verdict = f"pays off after {pays:.0f} s of eager training" if gain > 0 else "no faster: never pays off"
            line += (f"\n{'':15s} compiled {cips:8.0f} img/s  bare {cbare:9.0f} img/s  harness/bare "
                     f"{cips / cbare:.3f}  MFU {row['compiled_mfu']:6.1%}  warm-up {cev.overheads.warmup:.1f} s: "
                     + verdict)
        report["specs"][label] = row  # type: ignore[index]
        print(line, flush=True)
    ks = [int(k) for k in (args.k or ("1,2,4,8" if device.type == "cuda" else "1,2")).split(",")]
    root = Path(tempfile.mkdtemp(prefix="harness-speed-"))
    base = None
    report["k"] = []
    for k in ks:
        r = run_k(k, max(8, 2 * k), device, size["search_epochs"], root)
        base = base or r["steady_per_hour"]
        print(f"k={k}: {r['trials']} trials in {r['wall_s']:.0f} s: {r['per_hour']:.0f} trials/hour with start-up, "
              f"{r['steady_per_hour']:.0f} steady (x{r['steady_per_hour'] / base:.2f}); "
              f"mean training {r['mean_train_s']:.2f} s a trial", flush=True)
        report["k"].append(r)  # type: ignore[union-attr]
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
