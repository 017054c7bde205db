"""Plain block (VGG): one conv-norm-activation layer; a stage of depth n stacks n of them."""

from __future__ import annotations

import torch

from harness.zoo.blocks.base import Block, PathLayer
from harness.zoo.layers import BlockSettings, attention, conv_norm_act


class PlainBlock(Block):
    """conv kxk (stride, dilation, groups) -> norm -> activation [-> SE -> spatial attention]."""

    options = frozenset({"groups"})

    def __init__(self, in_width: int, out_width: int, stride: int, settings: BlockSettings) -> None:
        super().__init__()
        self.layer = conv_norm_act(
            in_width,
            out_width,
            kernel_size=settings.kernel_size,
            stride=stride,
            dilation=settings.dilation,
            groups=settings.groups,
            norm=settings.norm,
            act=settings.act,
            padding=0 if settings.padding == "valid" else None,  # valid: no padding, the map shrinks
        )
        self.attention = attention(out_width, settings)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attention(self.layer(x))

    @classmethod
    def receptive_path(cls, settings: BlockSettings, stride: int) -> list[PathLayer]:
        return [(settings.kernel_size, stride, settings.dilation), *cls.attention_path(settings)]
