"""Layer factories: name -> norm / activation registries, the one padding rule, conv-norm-activation.

Strings live at the edges (YAML, CLI, spec); inside, a norm is a callable `norm(channels) -> Module
or None` and an activation a callable `act() -> Module`, so blocks never look at names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import gcd

import torch
from torch import nn
from torch.nn import functional as F
from torchvision.ops import Conv2dNormActivation

from harness.registry import Registry

NormFactory = Callable[[int], nn.Module]
ActFactory = Callable[[], nn.Module]

# GroupNorm's usual group count (Wu & He, 2018); narrower layers use the largest divisor of
# the width that is at most this, so every width is valid.
GROUP_NORM_GROUPS = 32


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of each position of an (N, C, H, W) map (as in ConvNeXt)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


def _group_norm(channels: int) -> nn.Module:
    return nn.GroupNorm(gcd(channels, GROUP_NORM_GROUPS), channels)


NORMS: Registry[NormFactory | None] = Registry("norm")
NORMS.register("batch", nn.BatchNorm2d)
NORMS.register("group", _group_norm)
NORMS.register("layer", LayerNorm2d)
NORMS.register("none", None)  # type: ignore[arg-type]  # None means "no layer" (timm's convention)

ACTIVATIONS: Registry[ActFactory] = Registry("activation")
ACTIVATIONS.register("relu", lambda: nn.ReLU(inplace=True))
ACTIVATIONS.register("gelu", nn.GELU)
ACTIVATIONS.register("silu", lambda: nn.SiLU(inplace=True))


def same_padding(kernel_size: int, dilation: int = 1) -> int:
    """Padding that keeps the spatial size at stride 1 for an odd kernel: dilation * (k - 1) / 2."""
    return dilation * (kernel_size - 1) // 2


@dataclass(frozen=True)
class LayerSettings:
    """What every block of a stage shares: kernel size, dilation, norm and activation factories."""

    kernel_size: int = 3
    dilation: int = 1
    norm: NormFactory | None = nn.BatchNorm2d
    act: ActFactory | None = ACTIVATIONS.get("relu")


def conv_norm_act(
    in_width: int,
    out_width: int,
    *,
    kernel_size: int,
    stride: int = 1,
    dilation: int = 1,
    norm: NormFactory | None,
    act: ActFactory | None,
    groups: int = 1,
) -> nn.Sequential:
    """Conv (no bias when a norm follows) -> norm -> activation, padded by `same_padding`."""
    return Conv2dNormActivation(
        in_width,
        out_width,
        kernel_size=kernel_size,
        stride=stride,
        padding=same_padding(kernel_size, dilation),
        dilation=dilation,
        groups=groups,
        norm_layer=norm,
        activation_layer=act,
        inplace=None,  # our factories choose in-place themselves (GELU has no such option)
    )
