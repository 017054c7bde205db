"""Model builder: ArchSpec -> nn.Module (stem, stages of registered blocks, pooled linear head)."""

from __future__ import annotations

import torch
from torch import nn

from harness.blocks import BLOCKS
from harness.errors import SpecError, UnknownNameError
from harness.layers import ACTIVATIONS, NORMS, LayerSettings, conv_norm_act
from harness.spec import ArchSpec, StageSpec


def validate_spec(spec: ArchSpec, input_size: tuple[int, int] | None = None) -> None:
    """Raise SpecError with the reason if `spec` cannot be built, or cannot work at
    `input_size` (height, width); nothing is built."""
    for registry, names in (
        (NORMS, [spec.norm]),
        (ACTIVATIONS, [spec.activation]),
        (BLOCKS, [s.block for s in spec.stages]),
    ):
        for name in names:
            try:
                registry.get(name)
            except UnknownNameError as err:
                raise SpecError(str(err)) from None
    spec.validate(input_size)


class Network(nn.Module):
    """stem -> stages (each an nn.Sequential of blocks) -> global pool -> dropout -> linear."""

    def __init__(self, spec: ArchSpec, in_channels: int, num_classes: int) -> None:
        super().__init__()
        norm = NORMS.get(spec.norm)
        act = ACTIVATIONS.get(spec.activation)
        self.stem = conv_norm_act(
            in_channels,
            spec.stem.width,
            kernel_size=spec.stem.kernel_size,
            stride=spec.stem.stride,
            norm=norm,
            act=act,
        )
        stages = []
        width = spec.stem.width
        for stage in spec.stages:
            stages.append(_build_stage(stage, width, LayerSettings(
                kernel_size=stage.kernel_size, dilation=stage.dilation, norm=norm, act=act
            )))
            width = stage.width
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1) if spec.head.pool == "avg" else nn.AdaptiveMaxPool2d(1)
        self.dropout = nn.Dropout(spec.head.dropout) if spec.head.dropout > 0 else nn.Identity()
        self.classifier = nn.Linear(width, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's feature map, before pooling."""
        return self.stages(self.stem(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.features(x)).flatten(1)
        return self.classifier(self.dropout(x))


def _build_stage(stage: StageSpec, in_width: int, settings: LayerSettings) -> nn.Sequential:
    block_cls = BLOCKS.get(stage.block)
    layers: list[nn.Module] = []
    stride = stage.stride
    if stage.downsample == "maxpool" and stride > 1:
        layers.append(nn.MaxPool2d(kernel_size=stride, stride=stride))
        stride = 1
    for i in range(stage.depth):
        layers.append(block_cls(in_width if i == 0 else stage.width, stage.width,
                                stride if i == 0 else 1, settings))
    return nn.Sequential(*layers)


def build_model(
    spec: ArchSpec,
    *,
    in_channels: int = 3,
    num_classes: int = 10,
    input_size: tuple[int, int] | None = None,
) -> Network:
    """Validate `spec` (against `input_size` when given) and build its nn.Module."""
    validate_spec(spec, input_size)
    return Network(spec, in_channels, num_classes)
