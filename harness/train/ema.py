"""WeightAverage: an exponential moving average of a model's weights and buffers, updated after every
optimiser step, which evaluation reads instead of the raw weights.

Why: with a high learning rate (one-cycle's peak, the middle of a run) the raw weights of the last
step are noisy, and their validation accuracy jumps from epoch to epoch; the average over the last
few hundred steps is what a decayed learning rate would reach, at any point of the run. So a brief
trial's accuracy at epoch 1 or 3 (a successive-halving rung) means more, and a finished run ends a
little higher (airbench, timm's ModelEmaV3 and "How to train your ResNet" use it the same way).

The decay warms up as timm's does, min(decay, (1 + n) / (10 + n)) at step n, so the average is not
dominated by the initial weights in a short run. Buffers (batch-norm running statistics) are averaged
too; integer buffers (num_batches_tracked) are copied.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class WeightAverage:
    """An averaged copy of `model` (`module`, in eval mode) and the number of steps averaged."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"weight-average decay must be in (0, 1), not {decay}")
        self.decay = decay
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.steps = 0
        self._pairs = self._tensors(model)

    def _tensors(self, model: nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor],
                                                   list[torch.Tensor]]:
        """(averaged floats, model floats, copied others, model others), matched by state_dict name."""
        mine, theirs = self.module.state_dict(keep_vars=True), model.state_dict(keep_vars=True)
        avg, src, cp, cp_src = [], [], [], []
        for name, tensor in mine.items():
            other = theirs[name]
            if tensor.is_floating_point():
                avg.append(tensor.data)
                src.append(other.data)
            else:
                cp.append(tensor.data)
                cp_src.append(other.data)
        return avg, src, cp, cp_src

    @torch.no_grad()
    def update(self) -> None:
        """Fold the model's current weights into the average (call after each optimiser step)."""
        decay = min(self.decay, (1.0 + self.steps) / (10.0 + self.steps))
        avg, src, cp, cp_src = self._pairs
        torch._foreach_lerp_(avg, src, 1.0 - decay)
        for mine, theirs in zip(cp, cp_src, strict=True):
            mine.copy_(theirs)
        self.steps += 1

    def state_dict(self) -> dict[str, object]:
        """The average's weights and step count (a checkpoint's)."""
        return {"weights": {k: v.detach().cpu() for k, v in self.module.state_dict().items()}, "steps": self.steps}

    def load_state_dict(self, state: dict[str, object]) -> None:
        """Restore what state_dict returned."""
        self.module.load_state_dict(state["weights"])  # type: ignore[arg-type]
        self.steps = int(state["steps"])  # type: ignore[arg-type]
