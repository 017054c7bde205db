"""Fire module (SqueezeNet, Iandola et al., 2016), with torchvision's layout: a 1x1 squeeze, then
1x1 and kxk expand convs side by side, concatenated."""

from __future__ import annotations

import torch

from harness.zoo.blocks.base import Block, PathLayer
from harness.zoo.layers import BlockSettings, attention, conv_norm_act


class FireBlock(Block):
    """1x1 squeeze (expansion x width) -> act, then [1x1 expand | kxk expand] -> act, concatenated
    [-> SE -> spatial attention]. The two expand branches each give half the width (the kxk one
    the odd channel); SqueezeNet's squeeze is 1/8 of the output."""

    options = frozenset({"expansion"})
    defaults = {"expansion": 0.125}
    no_stride_reason = ("a fire module keeps the map size (SqueezeNet downsamples with a max-pool "
                        "between modules): use `downsample: maxpool` (or avgpool)")

    @classmethod
    def problem(cls, in_width: int, out_width: int, settings: BlockSettings) -> str | None:
        if out_width < 2:
            return f"a fire module has two expand branches, so it needs a width of at least 2, not {out_width}"
        return None

    def __init__(self, in_width: int, out_width: int, stride: int, settings: BlockSettings) -> None:
        super().__init__()
        squeeze = max(1, round(out_width * settings.expansion))  # type: ignore[operator]
        norm, act = settings.norm, settings.act
        self.squeeze = conv_norm_act(in_width, squeeze, kernel_size=1, norm=norm, act=act)
        self.expand1x1 = conv_norm_act(squeeze, out_width // 2, kernel_size=1, norm=norm, act=act)
        self.expand_kxk = conv_norm_act(squeeze, out_width - out_width // 2, kernel_size=settings.kernel_size,
                                        dilation=settings.dilation, norm=norm, act=act)
        self.attention = attention(out_width, settings)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze(x)
        return self.attention(torch.cat([self.expand1x1(x), self.expand_kxk(x)], dim=1))

    @classmethod
    def receptive_path(cls, settings: BlockSettings, stride: int) -> list[PathLayer]:
        return [(1, 1, 1), (settings.kernel_size, 1, settings.dilation), *cls.attention_path(settings)]
