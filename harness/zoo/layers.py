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
from torchvision.ops import Conv2dNormActivation, SqueezeExcitation

from harness.registry import Registry

NormFactory = Callable[[int], nn.Module]
ActFactory = Callable[[], nn.Module]

# GroupNorm's usual group count (Wu & He, 2018); narrower layers use the largest divisor of
# the width that is at most this, so every width is valid.
GROUP_NORM_GROUPS = 32


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of each position of an (N, C, H, W) map (as in ConvNeXt, whose
    epsilon of 1e-6 it takes)."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__(channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nchw = x.is_contiguous()  # False on the CUDA fast path, which runs channels_last
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        x = x.permute(0, 3, 1, 2)
        # Back in the input's layout. Left channels-last-strided after an NCHW input, the next conv
        # gets a mixed-format input; with under 16 channels oneDNN's AVX2 backward-weights kernel
        # of a strided 1x1 conv then corrupts the heap (torch 2.14.1, seen on an AMD EPYC:
        # "double free or corruption" in mkldnn_convolution_backward_weights).
        return x.contiguous() if nchw else x


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
ACTIVATIONS.register("relu6", lambda: nn.ReLU6(inplace=True))  # MobileNetV2


def same_padding(kernel_size: int, dilation: int = 1) -> int:
    """Padding that keeps the spatial size at stride 1 for an odd kernel: dilation * (k - 1) / 2."""
    return dilation * (kernel_size - 1) // 2


@dataclass(frozen=True)
class BlockSettings:
    """What every block of a stage shares: kernel size, dilation, norm and activation factories,
    and the family options of the stage (see `harness.zoo.spec.StageSpec`), defaults resolved."""

    kernel_size: int = 3
    dilation: int = 1
    norm: NormFactory | None = nn.BatchNorm2d
    act: ActFactory | None = ACTIVATIONS.get("relu")
    expansion: float | None = None
    groups: int = 1
    group_width: int | None = None
    se: int = 0
    attention: str = "none"
    branches: tuple[float, ...] | None = None
    wide_kernel: int | None = None
    drop_path: float = 0.0  # this block's stochastic-depth probability
    padding: str = "zeros"  # harness.zoo.spec_values.PADDINGS; the builder sets torch's mode on every padded conv
    heads: int | None = None  # attention heads
    position: str | None = None  # harness.zoo.spec_values.POSITIONS
    map_size: tuple[int, int] | None = None  # (height, width) of the map a token block mixes
    class_token: bool = False  # the tokens start with a class token (ViT)


def make_act(act: ActFactory | None, *, after_input: bool = False) -> nn.Module:
    """The activation module, or Identity for None.

    `after_input`: the activation may be the first layer to touch the block's input (a
    pre-activation layer whose norm is "none"); it is then made out of place, since in place it
    would overwrite a tensor the caller still reads (a dense layer's concatenation, a residual
    path) and one that autograd saved.
    """
    module = act() if act is not None else nn.Identity()
    if after_input and getattr(module, "inplace", False):
        module.inplace = False
    return module


def make_norm(norm: NormFactory | None, channels: int) -> nn.Module:
    """The norm module for `channels`, or Identity for None."""
    return norm(channels) if norm is not None else nn.Identity()


class SpatialAttention(nn.Module):
    """CBAM's spatial gate (Woo et al., 2018): mean and max over channels -> 7x7 conv -> sigmoid,
    a weight in (0, 1) per position that multiplies every channel there."""

    KERNEL = 7  # the paper's choice

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, self.KERNEL, padding=self.KERNEL // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(pooled))


def attention(channels: int, settings: BlockSettings) -> nn.Module:
    """Squeeze-and-excitation (reduction settings.se) then spatial attention, as each is asked
    for; Identity when neither is."""
    layers: list[nn.Module] = []
    if settings.se > 0:
        layers.append(SqueezeExcitation(channels, max(1, channels // settings.se)))
    if settings.attention == "spatial":
        layers.append(SpatialAttention())
    if not layers:
        return nn.Identity()
    return layers[0] if len(layers) == 1 else nn.Sequential(*layers)


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
    bias: bool | None = None,
    padding: int | None = None,
) -> nn.Sequential:
    """Conv (no bias when a norm follows, unless `bias`) -> norm -> activation, padded by
    `padding` pixels (None: `same_padding`)."""
    return Conv2dNormActivation(
        in_width,
        out_width,
        kernel_size=kernel_size,
        stride=stride,
        padding=same_padding(kernel_size, dilation) if padding is None else padding,
        dilation=dilation,
        groups=groups,
        norm_layer=norm,
        activation_layer=act,
        bias=bias,
        inplace=None,  # our factories choose in-place themselves (GELU has no such option)
    )
