"""MobileNet blocks: the inverted residual (MobileNetV2, Sandler et al., 2018) and the
depthwise-separable conv (MobileNetV1, Howard et al., 2017; Xception's building unit), with
torchvision's layout."""

from __future__ import annotations

import torch
from torch import nn
from torchvision.ops import StochasticDepth

from harness.zoo.blocks.base import Block, PathLayer
from harness.zoo.layers import BlockSettings, attention, conv_norm_act


class InvertedResidualBlock(Block):
    """[1x1 expand (expansion x input width) -> norm -> act] -> depthwise kxk (stride) -> norm -> act
    [-> SE -> spatial attention] -> 1x1 linear projection -> norm, plus the input when the shape is
    kept (stride 1, same width). Expansion 1 drops the expanding conv, as MobileNetV2's first block.
    SE sits on the expanded channels, where MobileNetV3 puts it."""

    options = frozenset({"expansion"})
    defaults = {"expansion": 6.0}
    residual = True

    def __init__(self, in_width: int, out_width: int, stride: int, settings: BlockSettings) -> None:
        super().__init__()
        hidden = max(1, round(in_width * settings.expansion))  # type: ignore[operator]
        norm, act = settings.norm, settings.act
        self.expand: nn.Module = nn.Identity()
        if settings.expansion != 1:
            self.expand = conv_norm_act(in_width, hidden, kernel_size=1, norm=norm, act=act)
        else:
            hidden = in_width
        self.dwconv = conv_norm_act(hidden, hidden, kernel_size=settings.kernel_size, stride=stride,
                                    dilation=settings.dilation, groups=hidden, norm=norm, act=act)
        self.attention = attention(hidden, settings)
        self.project = conv_norm_act(hidden, out_width, kernel_size=1, norm=norm, act=None)
        self.use_residual = stride == 1 and in_width == out_width
        self.drop_path = (StochasticDepth(settings.drop_path, "row")
                          if settings.drop_path > 0 and self.use_residual else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        body = self.project(self.attention(self.dwconv(self.expand(x))))
        return x + self.drop_path(body) if self.use_residual else body

    @classmethod
    def receptive_path(cls, settings: BlockSettings, stride: int) -> list[PathLayer]:
        return [(1, 1, 1), (settings.kernel_size, stride, settings.dilation), *cls.attention_path(settings)]


class SeparableBlock(Block):
    """Depthwise kxk (stride, dilation) -> norm -> act -> 1x1 pointwise -> norm -> act
    [-> SE -> spatial attention]: MobileNetV1's unit."""

    def __init__(self, in_width: int, out_width: int, stride: int, settings: BlockSettings) -> None:
        super().__init__()
        norm, act = settings.norm, settings.act
        self.dwconv = conv_norm_act(in_width, in_width, kernel_size=settings.kernel_size, stride=stride,
                                    dilation=settings.dilation, groups=in_width, norm=norm, act=act)
        self.pwconv = conv_norm_act(in_width, out_width, kernel_size=1, norm=norm, act=act)
        self.attention = attention(out_width, settings)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attention(self.pwconv(self.dwconv(x)))

    @classmethod
    def receptive_path(cls, settings: BlockSettings, stride: int) -> list[PathLayer]:
        return [(settings.kernel_size, stride, settings.dilation), (1, 1, 1), *cls.attention_path(settings)]
