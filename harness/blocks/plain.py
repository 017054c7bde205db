"""Plain block (VGG style): one conv-norm-activation layer; a stage of depth n stacks n of them."""

from __future__ import annotations

import torch
from torch import nn

from harness.layers import LayerSettings, conv_norm_act


class PlainBlock(nn.Module):
    """conv kxk (stride, dilation) -> norm -> activation."""

    def __init__(self, in_width: int, out_width: int, stride: int, settings: LayerSettings) -> None:
        super().__init__()
        self.layer = conv_norm_act(
            in_width,
            out_width,
            kernel_size=settings.kernel_size,
            stride=stride,
            dilation=settings.dilation,
            norm=settings.norm,
            act=settings.act,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)

    @staticmethod
    def receptive_path(settings: LayerSettings, stride: int) -> list[tuple[int, int, int]]:
        """(kernel, stride, dilation) of the layers on the longest path."""
        return [(settings.kernel_size, stride, settings.dilation)]
