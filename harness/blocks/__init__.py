"""Block registry: every block type has one constructor shape, `Block(in_width, out_width, stride,
settings)`, so a stage can be built from any of them by name.

Each block class also says, through `receptive_path(settings, stride)`, the (kernel, stride,
dilation) of the layers on its longest path, from which the receptive field is computed without
running the model.
"""

from __future__ import annotations

from torch import nn

from harness.blocks.plain import PlainBlock
from harness.blocks.residual import BasicResidualBlock
from harness.registry import Registry

BLOCKS: Registry[type[nn.Module]] = Registry("block")
BLOCKS.register("plain", PlainBlock)
BLOCKS.register("residual", BasicResidualBlock)

__all__ = ["BLOCKS", "BasicResidualBlock", "PlainBlock"]
