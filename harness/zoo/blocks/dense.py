"""Dense layer (DenseNet-BC, Huang et al., 2017), with torchvision's layout: pre-activation
(norm -> act -> conv) bottleneck whose `growth` new channels are concatenated to its input.
The transition between dense stages is a downsampling layer (`harness.zoo.parts`)."""

from __future__ import annotations

import torch
from torch import nn

from harness.zoo.blocks.base import Block, PathLayer
from harness.zoo.layers import BlockSettings, attention, make_act, make_norm, same_padding


def norm_act_conv(in_width: int, out_width: int, settings: BlockSettings, kernel_size: int,
                  dilation: int = 1) -> nn.Sequential:
    """norm -> act -> conv (pre-activation order); the conv has a bias only without a norm."""
    return nn.Sequential(
        make_norm(settings.norm, in_width),
        make_act(settings.act, after_input=settings.norm is None),
        nn.Conv2d(in_width, out_width, kernel_size, padding=same_padding(kernel_size, dilation),
                  dilation=dilation, bias=settings.norm is None),
    )


class DenseLayer(Block):
    """norm -> act -> 1x1 conv (expansion x growth) -> norm -> act -> kxk conv (growth)
    [-> SE -> spatial attention]; the output is the input with the growth channels appended.

    In a dense stage the stage width is the growth rate; expansion is DenseNet's bn_size (4).
    """

    options = frozenset({"expansion"})
    defaults = {"expansion": 4.0}
    no_stride_reason = ("a dense layer concatenates its input to its output, so both must have the "
                        "same size: downsample with `downsample: transition` (DenseNet), avgpool or maxpool")

    @classmethod
    def output_width(cls, in_width: int, width: int) -> int:
        return in_width + width

    def __init__(self, in_width: int, out_width: int, stride: int, settings: BlockSettings) -> None:
        super().__init__()
        growth = out_width - in_width
        inner = max(1, round(settings.expansion * growth))  # type: ignore[operator]
        self.bottleneck = norm_act_conv(in_width, inner, settings, 1)
        self.conv = norm_act_conv(inner, growth, settings, settings.kernel_size, settings.dilation)
        self.attention = attention(growth, settings)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.attention(self.conv(self.bottleneck(x)))], dim=1)

    @classmethod
    def receptive_path(cls, settings: BlockSettings, stride: int) -> list[PathLayer]:
        return [(1, 1, 1), (settings.kernel_size, 1, settings.dilation), *cls.attention_path(settings)]
