"""Benchmark: harness's training against a plain hand-written PyTorch loop of the same network and
recipe, side by side in one run, on Fashion-MNIST.

The network is bench/specs/resnet9_fashion.yaml (ResNet-9-like, 413k parameters, 17.4M
multiply-adds), written out by hand below (`HandNet`: the same layers in the same order, the same
parameter count). The recipe is the one `search_spaces/fashion.yaml` gives every trial: SGD with
Nesterov momentum 0.9, one-cycle learning rate (peak 0.2 at batch 256, 25% warm-up), weight decay
5e-4 on conv and linear weights only, label smoothing 0.1, random crops of +-2 px and horizontal
flips, an exponential moving average of the weights (decay 0.99 per step) that evaluation reads,
and test-time flip averaging. Both train on the same 54,000 training images (harness's split of
the 60,000; the other 6,000 validate), in the same precision (bf16 autocast or fp32), channels_last.

    hand     the loop below: ~70 lines of plain PyTorch, nothing from harness but the tensors;
    harness  `harness.final.train.train_final`, the function `harness train` runs (checkpoints
             every epoch, validation every epoch, the model folder at the end).

For each precision: images/s of training (the hand loop's own clock around its steps; harness's
`train_seconds`), wall seconds of the whole run (from the first step to the test accuracy, with
everything either does per epoch: validation, harness's checkpoints), and test accuracy after E
epochs (the time-to-accuracy figure: both reach it in one schedule of E epochs).

    python bench/hand_reference.py [--epochs 12] [--precisions bf16,fp32] [--speed-epochs 1] [--seed 0]
        [--only hand|harness]

`--speed-epochs N` runs the given precisions for N epochs only (speed, no accuracy claim).
Writes bench/results/hand_reference.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

FASHION = "fashion_mnist:/usr/share/datasets/fashion-mnist"
SPEC = Path(__file__).parent / "specs" / "resnet9_fashion.yaml"
RECIPE = dict(batch_size=256, optimizer="sgd", lr=0.2, momentum=0.9, weight_decay=5e-4, schedule="onecycle",
              warmup=0.25, label_smoothing=0.1, crop_padding=2, flip=True, ema=0.99, tta=True)


# ---------------------------------------------------------------- the hand-written loop
def cbr(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class Residual(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.a, self.b = cbr(c, c), nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.b(self.a(x)) + x)


class HandNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(cbr(1, 16), cbr(16, 32), nn.MaxPool2d(2), Residual(32), cbr(32, 64),
                                  nn.MaxPool2d(2), cbr(64, 128), nn.MaxPool2d(2), Residual(128),
                                  nn.AdaptiveMaxPool2d(1), nn.Flatten())
        self.fc = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x))


def hand_train(train_x, train_y, test_x, test_y, mean, std, epochs, bf16, seed=0):
    """The whole hand-written job: train, then test with flip averaging. Returns figures."""
    torch.manual_seed(seed)
    model = HandNet().to(memory_format=torch.channels_last)
    ema = HandNet().to(memory_format=torch.channels_last)
    ema.load_state_dict(model.state_dict())
    decay_params = [p for p in model.parameters() if p.ndim > 1]
    other = [p for p in model.parameters() if p.ndim <= 1]
    bs, steps = 256, len(train_y) // 256
    opt = torch.optim.SGD([{"params": decay_params, "weight_decay": 5e-4}, {"params": other, "weight_decay": 0}],
                          lr=0.2, momentum=0.9, nesterov=True, foreach=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 0.2, total_steps=epochs * steps, pct_start=0.25)
    norm = lambda x: ((x.float() / 255 - mean) / std).contiguous(memory_format=torch.channels_last)  # noqa: E731
    ema_t, src_t = list(ema.state_dict().values()), list(model.state_dict().values())
    gen, n, train_s, wall0 = torch.Generator().manual_seed(seed), 0, 0.0, time.perf_counter()
    for _ in range(epochs):
        model.train()
        t0 = time.perf_counter()
        for idx in torch.randperm(len(train_y), generator=gen)[: steps * bs].view(steps, bs):
            x = F.pad(train_x[idx], (2, 2, 2, 2))
            off = torch.randint(0, 5, (bs, 2), generator=gen)  # each image its own shift of -2..2 px
            rows, cols = off[:, :1] + torch.arange(28), off[:, 1:] + torch.arange(28)
            x = x[torch.arange(bs)[:, None, None], 0, rows[:, :, None], cols[:, None, :]].unsqueeze(1)
            flip = torch.rand(bs, generator=gen) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
            with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
                loss = F.cross_entropy(model(norm(x)).float(), train_y[idx], label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            with torch.no_grad():
                d = min(0.99, (1 + n) / (10 + n))
                for e, s in zip(ema_t, src_t, strict=True):
                    e.lerp_(s, 1 - d) if e.is_floating_point() else e.copy_(s)
            n += 1
        train_s += time.perf_counter() - t0
    ema.eval()
    correct = 0
    with torch.inference_mode():
        for i in range(0, len(test_y), 1000):
            x = norm(test_x[i:i + 1000])
            correct += ((ema(x) + ema(x.flip(3))).argmax(1) == test_y[i:i + 1000]).sum().item()
    return {"images_per_s": epochs * steps * bs / train_s, "train_s": train_s,
            "wall_s": time.perf_counter() - wall0, "test_accuracy": correct / len(test_y)}


# ---------------------------------------------------------------- harness, the same job
def harness_train(data, epochs: int, precision: str, seed: int = 0) -> dict:
    from harness.final.train import FinalConfig, train_final
    from harness.train.loop import TrainConfig
    from harness.zoo.specfile import load_spec

    spec = load_spec(SPEC)
    config = TrainConfig(epochs=epochs, **RECIPE)
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        result = train_final(spec, data, config, folder, FinalConfig(seed=seed, device="cpu", precision=precision,
                                                                     live=False), progress=None)
        wall = time.perf_counter() - start
    m = result.metrics
    steps = len(data.train_y) // config.batch_size
    return {"images_per_s": epochs * steps * config.batch_size / m["train_seconds"], "train_s": m["train_seconds"],
            "wall_s": wall, "test_accuracy": m["test"]["accuracy"], "val_accuracy": m["val"]["accuracy"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--precisions", default="bf16,fp32")
    parser.add_argument("--speed-epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=["hand", "harness"], default=None,
                        help="run one side only (to time each as a whole process, side by side from outside)")
    parser.add_argument("--out", default="bench/results/hand_reference.json")
    args = parser.parse_args()
    from harness.data import load_dataset
    from harness.zoo.measure import count_params
    from harness.zoo.model import build_model
    from harness.zoo.specfile import load_spec

    torch.set_num_threads(torch.get_num_threads())
    data = load_dataset(FASHION)
    built = build_model(load_spec(SPEC), in_channels=1, num_classes=10, input_size=(28, 28))
    assert count_params(built) == count_params(HandNet()), "the hand network must be harness's network"
    mean, std = (t.view(1, -1, 1, 1) for t in data.channel_stats())
    epochs = args.speed_epochs or args.epochs
    rows = []
    for precision in args.precisions.split(","):
        order = ("hand", "harness", "hand", "harness") if args.speed_epochs else ("hand", "harness")
        for who in (args.only,) if args.only else order:
            if who == "hand":
                r = hand_train(data.train_x, data.train_y, data.test_x, data.test_y, mean, std, epochs,
                               precision == "bf16", args.seed)
            else:
                r = harness_train(data, epochs, precision, args.seed)
            rows.append({"who": who, "precision": precision, "epochs": epochs, **r})
            print(json.dumps(rows[-1]), flush=True)
    lscpu = Path("/proc/cpuinfo").read_text().split("model name")[1].split("\n")[0].strip(": \t")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"cpu": lscpu, "torch": torch.__version__, "rows": rows}, indent=1))
    for precision in args.precisions.split(","):
        sel = [r for r in rows if r["precision"] == precision]
        if args.only:
            continue
        hand = max(r["images_per_s"] for r in sel if r["who"] == "hand")
        ours = max(r["images_per_s"] for r in sel if r["who"] == "harness")
        print(f"{precision}: harness {ours:,.0f} img/s, hand {hand:,.0f} img/s, ratio {ours / hand:.2f}")


if __name__ == "__main__":
    main()
