"""Inception module (GoogLeNet v1, Szegedy et al., 2015), with torchvision's layout: four branches
concatenated along channels."""

from __future__ import annotations

import torch
from torch import nn

from harness.zoo.blocks.base import Block, PathLayer
from harness.zoo.layers import BlockSettings, attention, conv_norm_act
from harness.zoo.spec_values import INCEPTION_RATIOS


def branch_widths(width: int, branches: tuple[float, ...] | None) -> tuple[int, ...]:
    """(1x1, kxk reduce, kxk, wide reduce, wide, pool proj) channels for a module of `width`.

    Integers are taken as they are. Fractions (GoogLeNet's proportions when None) are multiples of
    `width`: the four output branches share exactly `width` channels by largest remainder, each
    keeping at least one; the two reductions are rounded.
    """
    if branches is not None and all(isinstance(b, int) for b in branches):
        return tuple(int(b) for b in branches)
    ratios = INCEPTION_RATIOS if branches is None else branches
    outputs = [0, 2, 4, 5]
    total = sum(ratios[i] for i in outputs)
    exact = {i: ratios[i] / total * width for i in outputs}
    widths = {i: max(1, int(exact[i])) for i in outputs}
    by_remainder = sorted(outputs, key=lambda i: exact[i] - int(exact[i]), reverse=True)
    while sum(widths.values()) < width:
        widths[by_remainder[0]] += 1
        by_remainder.append(by_remainder.pop(0))
    while sum(widths.values()) > width and max(widths.values()) > 1:  # the minimum of 1 overshot
        widths[max(outputs, key=lambda i: widths[i])] -= 1
    reduce3, reduce5 = (max(1, round(ratios[i] * width)) for i in (1, 3))
    return (widths[0], reduce3, widths[2], reduce5, widths[4], widths[5])


class InceptionBlock(Block):
    """[1x1] | [1x1 -> kxk] | [1x1 -> wide x wide] | [3x3/1 max-pool -> 1x1], concatenated
    [-> SE -> spatial attention]. Every conv is conv-norm-act; kxk convs take the dilation."""

    options = frozenset({"branches", "wide_kernel"})
    no_stride_reason = ("an inception module keeps the map size (GoogLeNet downsamples with a "
                        "max-pool between modules): use `downsample: maxpool` (or avgpool)")

    @classmethod
    def problem(cls, in_width: int, out_width: int, settings: BlockSettings) -> str | None:
        b = settings.branches
        fractions = b is not None and not all(isinstance(v, int) for v in b)
        if fractions and abs(b[0] + b[2] + b[4] + b[5] - 1.0) > 0.01:  # type: ignore[index]
            return (f"inception branch fractions of the output (1x1 {b[0]}, kxk {b[2]}, wide {b[4]}, "
                        f"pool {b[5]}) must sum to 1, not {b[0] + b[2] + b[4] + b[5]:g}")
        if out_width < 4:
            return f"an inception module has 4 branches, so it needs a width of at least 4, not {out_width}"
        widths = branch_widths(out_width, b)
        total = widths[0] + widths[2] + widths[4] + widths[5]
        if total != out_width:
            return (f"inception branches 1x1 + kxk + wide + pool = {total} channels, but the stage "
                    f"width is {out_width}: make them sum to the width")
        return None

    def __init__(self, in_width: int, out_width: int, stride: int, settings: BlockSettings) -> None:
        super().__init__()
        c1, c3r, c3, c5r, c5, cp = branch_widths(out_width, settings.branches)
        norm, act, d = settings.norm, settings.act, settings.dilation
        wide = settings.wide_kernel or settings.kernel_size
        self.branch1 = conv_norm_act(in_width, c1, kernel_size=1, norm=norm, act=act)
        self.branch2 = nn.Sequential(
            conv_norm_act(in_width, c3r, kernel_size=1, norm=norm, act=act),
            conv_norm_act(c3r, c3, kernel_size=settings.kernel_size, dilation=d, norm=norm, act=act),
        )
        self.branch3 = nn.Sequential(
            conv_norm_act(in_width, c5r, kernel_size=1, norm=norm, act=act),
            conv_norm_act(c5r, c5, kernel_size=wide, dilation=d, norm=norm, act=act),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            conv_norm_act(in_width, cp, kernel_size=1, norm=norm, act=act),
        )
        self.attention = attention(out_width, settings)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branches = [self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)]
        return self.attention(torch.cat(branches, dim=1))

    @classmethod
    def receptive_path(cls, settings: BlockSettings, stride: int) -> list[PathLayer]:
        d = settings.dilation
        kernel = max(settings.kernel_size, settings.wide_kernel or 0)
        # The widest branch: a 1x1 then the larger dilated kernel, or the 3x3 pool then a 1x1.
        widest = (kernel, 1, d) if d * (kernel - 1) >= 2 else (3, 1, 1)
        return [(1, 1, 1), widest, *cls.attention_path(settings)]
