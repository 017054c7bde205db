"""Block registry: every family has one constructor shape, `Block(in_width, out_width, stride,
settings)`, so a stage can be built from any of them by name (see `harness.zoo.blocks.base.Block` for
what a family declares)."""

from __future__ import annotations

from harness.registry import Registry
from harness.zoo.blocks.base import Block
from harness.zoo.blocks.convnext import ConvNeXtBlock
from harness.zoo.blocks.dense import DenseLayer
from harness.zoo.blocks.fire import FireBlock
from harness.zoo.blocks.inception import InceptionBlock
from harness.zoo.blocks.mobile import InvertedResidualBlock, SeparableBlock
from harness.zoo.blocks.plain import PlainBlock
from harness.zoo.blocks.residual import BasicResidualBlock, BottleneckBlock
from harness.zoo.blocks.tokens import AttentionBlock, MixerBlock

BLOCKS: Registry[type[Block]] = Registry("block")
BLOCKS.register("plain", PlainBlock)
BLOCKS.register("residual", BasicResidualBlock)
BLOCKS.register("bottleneck", BottleneckBlock)
BLOCKS.register("inception", InceptionBlock)
BLOCKS.register("dense", DenseLayer)
BLOCKS.register("convnext", ConvNeXtBlock)
BLOCKS.register("inverted_residual", InvertedResidualBlock)
BLOCKS.register("separable", SeparableBlock)
BLOCKS.register("fire", FireBlock)
BLOCKS.register("attention", AttentionBlock)
BLOCKS.register("mlp", MixerBlock)

__all__ = [
    "BLOCKS",
    "AttentionBlock",
    "BasicResidualBlock",
    "Block",
    "BottleneckBlock",
    "ConvNeXtBlock",
    "DenseLayer",
    "FireBlock",
    "InceptionBlock",
    "InvertedResidualBlock",
    "MixerBlock",
    "PlainBlock",
    "SeparableBlock",
]
