"""A two-stage network of any block family, built and checked: `two_stage` (stage 1 of depth 2 at a
given geometry, stage 2 wider at stride 1) and `check_runs` (every stage's output has the size and
width the spec predicts; forward and backward give finite logits and finite gradients), on
`BATCH` images of `SIZE` with `NUM_CLASSES` classes."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from harness import ArchSpec, StageSpec, StemSpec, build_model
from harness.zoo.model import Network, stage_widths

SIZE = (16, 16)
BATCH = 2
NUM_CLASSES = 5
STEM_WIDTH, WIDTH1, WIDTH2 = 4, 4, 8


def two_stage(block: str, norm: str = "batch", activation: str = "relu", kernel_size: int = 3, stride: int = 1,
              dilation: int = 1, downsample: str = "conv", **stage: object) -> ArchSpec:
    """Stage 1 (depth 2) at the given geometry; stage 2 at stride 1 and a new width."""
    return ArchSpec(
        stem=StemSpec(width=STEM_WIDTH),
        stages=(
            StageSpec(block=block, depth=2, width=WIDTH1, kernel_size=kernel_size, stride=stride,
                      dilation=dilation, downsample=downsample, **stage),
            StageSpec(block=block, depth=1, width=WIDTH2, **stage),
        ),
        norm=norm,
        activation=activation,
    )


def check_runs(spec: ArchSpec, size: tuple[int, int] = SIZE, in_channels: int = 3) -> Network:
    """Build `spec`; every stage's output has the predicted size and width; forward and backward
    give finite logits and a finite gradient for every parameter."""
    torch.manual_seed(0)
    model = build_model(spec, in_channels=in_channels, num_classes=NUM_CLASSES, input_size=size).train()
    x = torch.randn(BATCH, in_channels, *size)
    sizes = spec.feature_sizes(size)
    widths = stage_widths(spec, in_channels)
    h = model.stem(x)
    assert tuple(h.shape[-2:]) == sizes[0]
    for i, (stage, hw, width) in enumerate(zip(model.stages, sizes[1:], widths, strict=True), start=1):
        h = stage(h)
        assert tuple(h.shape) == (BATCH, width, *hw), f"stage {i}"
    assert model.out_width == widths[-1]
    out = model.head(h)
    assert tuple(out.shape) == (BATCH, NUM_CLASSES)
    assert torch.isfinite(out).all()
    F.cross_entropy(out, torch.arange(BATCH) % NUM_CLASSES).backward()
    params = list(model.named_parameters())
    assert params
    for name, p in params:
        assert p.grad is not None, f"{name} received no gradient"
        assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"
    assert any(p.grad.abs().sum() > 0 for _, p in params)
    return model
