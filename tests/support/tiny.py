"""The search tests' tiny space and a step counter: `TINY` (2 stages of widths 8-16 on 32x32 images,
4 architectures), `tiny_space(**changes)` (it as a space, with top-level keys replaced) and
`StepCounter` (the optimizer steps taken anywhere in the process while it is entered)."""

from __future__ import annotations

import json

from torch.optim.optimizer import register_optimizer_step_pre_hook

from harness.search.space import space_from_dict

# Tiny, fast networks: 2 stages of widths 8-16 on 32x32 images.
TINY = {
    "stem": {"width": 8},
    "stages": {"count": 2, "width": {"each": [8, 16]}, "stride": 2, "downsample": "maxpool",
               "kernel_size": [3, 5], "block": ["plain", "residual"]},
    "train": {"epochs": 2, "batch_size": 250},
}


def tiny_space(**changes: object) -> object:
    data = json.loads(json.dumps(TINY))
    for key, value in changes.items():
        data[key] = value
    return space_from_dict(data, default_name="tiny")


class StepCounter:
    """Counts optimizer steps taken anywhere in the process (a global step hook of torch)."""

    def __enter__(self) -> StepCounter:
        self.steps = 0

        def hook(optimizer: object, args: object, kwargs: object) -> None:
            self.steps += 1

        self.handle = register_optimizer_step_pre_hook(hook)
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.remove()
