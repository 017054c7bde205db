"""Basic residual block (ResNet-18/34, He et al. 2016): two kxk convs plus a shortcut."""

from __future__ import annotations

import torch
from torch import nn

from harness.layers import LayerSettings, conv_norm_act


class BasicResidualBlock(nn.Module):
    """conv kxk (stride) -> norm -> act -> conv kxk -> norm, added to the shortcut, then act.

    The shortcut is the identity when shape is kept, else a 1x1 conv with the block's stride and
    a norm (the "projection shortcut", option B of the ResNet paper, as torchvision builds it).
    The stride sits on the first kxk conv, as in torchvision.
    """

    def __init__(self, in_width: int, out_width: int, stride: int, settings: LayerSettings) -> None:
        super().__init__()
        common = dict(kernel_size=settings.kernel_size, dilation=settings.dilation, norm=settings.norm)
        self.conv1 = conv_norm_act(in_width, out_width, stride=stride, act=settings.act, **common)
        # No activation before the addition: the sum is activated once, after the shortcut joins.
        self.conv2 = conv_norm_act(out_width, out_width, act=None, **common)
        if stride != 1 or in_width != out_width:
            self.shortcut: nn.Module = conv_norm_act(
                in_width, out_width, kernel_size=1, stride=stride, norm=settings.norm, act=None
            )
        else:
            self.shortcut = nn.Identity()
        self.act = settings.act() if settings.act is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv2(self.conv1(x)) + self.shortcut(x))

    @staticmethod
    def receptive_path(settings: LayerSettings, stride: int) -> list[tuple[int, int, int]]:
        """(kernel, stride, dilation) of the layers on the longest path (the two kxk convs)."""
        k, d = settings.kernel_size, settings.dilation
        return [(k, stride, d), (k, 1, d)]
