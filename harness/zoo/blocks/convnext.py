"""ConvNeXt block (Liu et al., 2022), with torchvision's layout: depthwise kxk -> norm -> 1x1
expansion -> act -> 1x1, scaled per channel (layer scale), dropped per sample (stochastic depth),
added to the input."""

from __future__ import annotations

import torch
from torch import nn
from torchvision.ops import StochasticDepth

from harness.zoo.blocks.base import Block, PathLayer
from harness.zoo.layers import BlockSettings, attention, make_act, make_norm, same_padding

# Layer scale's initial value (ConvNeXt, torchvision): the block starts close to the identity.
LAYER_SCALE_INIT = 1e-6


class ConvNeXtBlock(Block):
    """[norm -> 1x1 conv, when the width changes] -> depthwise kxk -> norm -> 1x1 (expansion x
    width) -> act -> 1x1 [-> SE -> spatial attention] -> x layer scale -> stochastic depth -> + input.

    The network's norm and activation are used (ConvNeXt: layer and gelu). A ConvNeXt stage
    changes width and size in front of its blocks (`downsample: patch`); a block whose input
    width differs projects it first with its own norm and 1x1 conv.
    """

    options = frozenset({"expansion"})
    defaults = {"expansion": 4.0}
    residual = True
    no_stride_reason = ("a convnext block keeps the map size (ConvNeXt downsamples between stages with "
                        "a norm and a stride x stride conv): use `downsample: patch` (or a pool)")

    def __init__(self, in_width: int, out_width: int, stride: int, settings: BlockSettings) -> None:
        super().__init__()
        # Registered first so the parameter order is torchvision's (own parameters come first).
        self.layer_scale = nn.Parameter(torch.full((out_width, 1, 1), LAYER_SCALE_INIT))
        self.project: nn.Module = nn.Identity()
        if in_width != out_width:
            self.project = nn.Sequential(make_norm(settings.norm, in_width),
                                         nn.Conv2d(in_width, out_width, kernel_size=1))
        k, d = settings.kernel_size, settings.dilation
        inner = max(1, round(out_width * settings.expansion))  # type: ignore[operator]
        self.dwconv = nn.Conv2d(out_width, out_width, k, padding=same_padding(k, d), dilation=d,
                                groups=out_width)
        self.norm = make_norm(settings.norm, out_width)
        self.pwconv1 = nn.Conv2d(out_width, inner, kernel_size=1)
        self.act = make_act(settings.act)
        self.pwconv2 = nn.Conv2d(inner, out_width, kernel_size=1)
        self.attention = attention(out_width, settings)
        self.drop_path = (StochasticDepth(settings.drop_path, "row") if settings.drop_path > 0
                          else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.project(x)
        body = self.pwconv2(self.act(self.pwconv1(self.norm(self.dwconv(x)))))
        return x + self.drop_path(self.layer_scale * self.attention(body))

    @classmethod
    def receptive_path(cls, settings: BlockSettings, stride: int) -> list[PathLayer]:
        return [(settings.kernel_size, 1, settings.dilation), *cls.attention_path(settings)]
