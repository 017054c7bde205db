"""Residual blocks (He et al., 2016): basic (ResNet-18/34) and bottleneck (ResNet-50, and
ResNeXt's grouped bottleneck, Xie et al., 2017), with torchvision's layout."""

from __future__ import annotations

import torch
from torch import nn
from torchvision.ops import StochasticDepth

from harness.zoo.blocks.base import Block, PathLayer, _groups_problem
from harness.zoo.layers import BlockSettings, attention, conv_norm_act, make_act


def _shortcut(in_width: int, out_width: int, stride: int, settings: BlockSettings) -> nn.Module:
    """Identity when shape is kept, else a 1x1 conv with the block's stride and a norm (the
    "projection shortcut", option B of the ResNet paper, as torchvision builds it)."""
    if stride == 1 and in_width == out_width:
        return nn.Identity()
    return conv_norm_act(in_width, out_width, kernel_size=1, stride=stride, norm=settings.norm, act=None)


def _drop_path(p: float) -> nn.Module:
    return StochasticDepth(p, "row") if p > 0 else nn.Identity()


class BasicResidualBlock(Block):
    """conv kxk (stride) -> norm -> act -> conv kxk -> norm [-> SE -> spatial attention], added to
    the shortcut, then act. The stride sits on the first kxk conv, as in torchvision."""

    options = frozenset({"groups"})
    residual = True

    def __init__(self, in_width: int, out_width: int, stride: int, settings: BlockSettings) -> None:
        super().__init__()
        common = dict(kernel_size=settings.kernel_size, dilation=settings.dilation, norm=settings.norm,
                      groups=settings.groups)
        self.conv1 = conv_norm_act(in_width, out_width, stride=stride, act=settings.act, **common)
        # No activation before the addition: the sum is activated once, after the shortcut joins.
        self.conv2 = conv_norm_act(out_width, out_width, act=None, **common)
        self.attention = attention(out_width, settings)
        self.drop_path = _drop_path(settings.drop_path)
        self.shortcut = _shortcut(in_width, out_width, stride, settings)
        self.act = make_act(settings.act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        body = self.drop_path(self.attention(self.conv2(self.conv1(x))))
        return self.act(body + self.shortcut(x))

    @classmethod
    def receptive_path(cls, settings: BlockSettings, stride: int) -> list[PathLayer]:
        k, d = settings.kernel_size, settings.dilation
        return [(k, stride, d), (k, 1, d), *cls.attention_path(settings)]


class BottleneckBlock(Block):
    """1x1 -> norm -> act -> kxk (stride, groups) -> norm -> act -> 1x1 -> norm [-> SE -> spatial],
    added to the shortcut, then act.

    The inner width is width x expansion (ResNet: 0.25, so 256 -> 64), or groups x group_width
    when group_width is given (ResNeXt-50 32x4d, first stage: 32 x 4 = 128). The stride sits on
    the kxk conv (ResNet v1.5, as torchvision).
    """

    options = frozenset({"expansion", "groups", "group_width"})
    defaults = {"expansion": 0.25}
    residual = True

    @staticmethod
    def inner_width(out_width: int, settings: BlockSettings) -> int:
        if settings.group_width is not None:
            return settings.groups * settings.group_width
        return max(1, round(out_width * settings.expansion))  # type: ignore[operator]

    @classmethod
    def problem(cls, in_width: int, out_width: int, settings: BlockSettings) -> str | None:
        inner = cls.inner_width(out_width, settings)
        if inner % settings.groups:
            return (f"groups={settings.groups} must divide the bottleneck's inner width {inner} "
                    f"(width {out_width} x expansion {settings.expansion})")
        return _groups_problem(inner, inner, settings.groups)

    def __init__(self, in_width: int, out_width: int, stride: int, settings: BlockSettings) -> None:
        super().__init__()
        inner = self.inner_width(out_width, settings)
        norm, act = settings.norm, settings.act
        self.conv1 = conv_norm_act(in_width, inner, kernel_size=1, norm=norm, act=act)
        self.conv2 = conv_norm_act(inner, inner, kernel_size=settings.kernel_size, stride=stride,
                                   dilation=settings.dilation, groups=settings.groups, norm=norm, act=act)
        self.conv3 = conv_norm_act(inner, out_width, kernel_size=1, norm=norm, act=None)
        self.attention = attention(out_width, settings)
        self.drop_path = _drop_path(settings.drop_path)
        self.shortcut = _shortcut(in_width, out_width, stride, settings)
        self.act = make_act(act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        body = self.drop_path(self.attention(self.conv3(self.conv2(self.conv1(x)))))
        return self.act(body + self.shortcut(x))

    @classmethod
    def receptive_path(cls, settings: BlockSettings, stride: int) -> list[PathLayer]:
        return [(1, 1, 1), (settings.kernel_size, stride, settings.dilation), (1, 1, 1),
                *cls.attention_path(settings)]
