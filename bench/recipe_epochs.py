"""One recipe run epoch by epoch for the recipe benchmarks (recipe_ablation.py, rung_fidelity.py):
`recipe_epochs(spec, config, data, epochs, seed)` builds the network, trains it with harness's own
step (channels_last, bf16 autocast, the config's optimizer, one-cycle over `epochs`, its weight
average) and yields (epoch, loop, normalize) after each epoch, so a benchmark evaluates what it
wants (the weight average, the raw weights, with or without flip averaging) where it wants."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import torch

from harness.data import ImageData
from harness.data.loader import Normalize, TrainBatches
from harness.train.loop import (
    Overheads,
    StepLoop,
    TrainConfig,
    channels_last,
    make_optimizer,
    make_scheduler,
    weight_average,
)
from harness.zoo.model import build_model
from harness.zoo.spec import ArchSpec


def recipe_epochs(spec: ArchSpec, config: TrainConfig, data: ImageData, epochs: int, seed: int
                  ) -> Iterator[tuple[int, StepLoop, Normalize]]:
    device = torch.device("cpu")
    torch.manual_seed(seed)
    c, h, w = data.input_shape
    model = build_model(spec, in_channels=c, num_classes=data.num_classes, input_size=(h, w))
    channels_last(model, device)
    config = dataclasses.replace(config, epochs=epochs)
    batches = TrainBatches(data, device, config.batch_size, config.augment_for(data), seed=seed)
    optimizer = make_optimizer(model, config, device)
    loop = StepLoop(model, model, optimizer, make_scheduler(optimizer, config, epochs * len(batches)), config,
                    device, Overheads(), "bf16", average=weight_average(model, config))
    normalize = Normalize(data, device)
    for epoch in range(1, epochs + 1):
        loop.epoch(batches, epoch)
        yield epoch, loop, normalize
