"""`epoch_seconds`: the wall seconds one epoch of a typical network of a space takes here, measured
in about a second before anything is written (the plan is made from it, and a budget too small for
one trial is refused with it).

"Typical": of up to 16 seeded samples of the space within its FLOPs and parameter caps, the one with
the median FLOPs. It is built and trained for a few steps of real batches with the space's recipe
(optimizer, precision, channels_last, weight average), timed after one warm-up step; an epoch is the
training split at that rate plus the validation split at a third of it (a forward pass is about a
third of a training step), twice with flip averaging.
"""

from __future__ import annotations

import time

import torch

from harness.data import ImageData
from harness.data.loader import TrainBatches
from harness.search.space import SearchSpace
from harness.train.loop import (
    Overheads,
    StepLoop,
    channels_last,
    flip_averaged,
    make_optimizer,
    weight_average,
)
from harness.zoo.measure import count_flops, count_params
from harness.zoo.model import build_model

SAMPLES = 16
TIMED_STEPS = 3


def typical_sample(space: SearchSpace, data: ImageData, samples: int = SAMPLES):
    """(spec, train config) of the space's median-FLOPs network among `samples` seeded draws within
    its hard caps (all draws when none is within them)."""
    c, h, w = data.input_shape
    drawn = []
    for seed in range(samples):
        spec, config, _ = space.sample(seed=seed)
        try:
            model = build_model(spec, in_channels=c, num_classes=data.num_classes, input_size=(h, w))
        except Exception:  # a sample that cannot be built at this size: the search records it, the probe skips it
            continue
        flops, _ = count_flops(model, data.input_shape)
        fits = space.constraints.max_flops is None or flops <= space.constraints.max_flops
        fits = fits and (space.constraints.max_params is None or count_params(model) <= space.constraints.max_params)
        drawn.append((fits, flops, seed, spec, config))
    if not drawn:
        raise ValueError("no sample of the space can be built for this dataset")
    pool = [d for d in drawn if d[0]] or drawn
    pool.sort(key=lambda d: (d[1], d[2]))
    _, _, _, spec, config = pool[len(pool) // 2]
    return spec, config


def epoch_seconds(space: SearchSpace, data: ImageData, device: torch.device, precision: str) -> float:
    """Estimated wall seconds of one epoch (training and validation) of the space's typical network."""
    spec, config = typical_sample(space, data)
    c, h, w = data.input_shape
    torch.manual_seed(0)
    model = build_model(spec, in_channels=c, num_classes=data.num_classes, input_size=(h, w)).to(device)
    channels_last(model, device)
    batches = TrainBatches(data, device, config.batch_size, config.augment_for(data), seed=0)
    optimizer = make_optimizer(model, config, device)
    loop = StepLoop(model, model, optimizer, None, config, device,
                    Overheads(), precision, average=weight_average(model, config))
    model.train()
    taken = 0
    start = first = time.perf_counter()
    for xb, yb in batches:
        loop.step(xb, yb).item()  # .item(): the step has ended (on CUDA too)
        taken += 1
        if taken == 1:
            start = time.perf_counter()
        if taken > TIMED_STEPS:
            break
    if taken > 1:
        per_image = (time.perf_counter() - start) / ((taken - 1) * batches.batch_size)
    else:  # one batch is the whole split: its step, warm-up included, is the estimate
        per_image = (time.perf_counter() - first) / batches.batch_size
    evaluations = 2 if flip_averaged(config, data) else 1
    return per_image * (len(data.train_y) + evaluations * len(data.val_y) / 3)
