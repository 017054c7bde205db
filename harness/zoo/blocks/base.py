"""Block: the base class of every block family, and what the model builder asks of a family.

A family is a subclass registered by name in `harness.zoo.blocks.BLOCKS`. It is built as
`Family(in_width, out_width, stride, settings)` and says, as class attributes and classmethods:
which optional StageSpec fields it reads (`options`) and their defaults, whether it can stride,
whether it has an identity path (and so takes stochastic depth), its output width, which
combinations it refuses (with the reason), and the (kernel, stride, dilation) of the layers on
its longest path, from which the receptive field is computed without building anything.
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import nn

from harness.zoo.layers import BlockSettings

# (kernel, stride, dilation) of one layer on a block's longest path.
PathLayer = tuple[int, int, int]


class Block(nn.Module):
    """A block family: nn.Module plus the class-level facts the builder and validation need."""

    # Optional StageSpec fields this family reads; every family reads se and attention.
    options: ClassVar[frozenset[str]] = frozenset()
    # Values for options left at None in the spec (e.g. expansion).
    defaults: ClassVar[dict[str, Any]] = {}
    # Why the family cannot take `downsample: conv` with stride > 1; None when it can stride.
    no_stride_reason: ClassVar[str | None] = None
    # Whether an identity path carries the input past the body (so stochastic depth applies).
    residual: ClassVar[bool] = False
    # Token families (attention, mlp) take (N, positions, channels) tokens, not maps: the builder
    # puts ToTokens in front of their blocks and ToMap behind (harness.zoo.blocks.tokens), and
    # they mix every position, so they read no kernel size, dilation, padding, se or spatial gate.
    tokens: ClassVar[bool] = False

    @classmethod
    def output_width(cls, in_width: int, width: int) -> int:
        """Channels out of one block whose stage has `width` (a dense block adds `width`)."""
        return width

    @classmethod
    def problem(cls, in_width: int, out_width: int, settings: BlockSettings) -> str | None:
        """Why this block cannot be built with these widths and settings; None when it can."""
        return _groups_problem(in_width, out_width, settings.groups)

    @classmethod
    def receptive_path(cls, settings: BlockSettings, stride: int) -> list[PathLayer]:
        """(kernel, stride, dilation) of the layers on the longest path."""
        raise NotImplementedError

    @staticmethod
    def attention_path(settings: BlockSettings) -> list[PathLayer]:
        """The spatial gate's 7x7 conv widens the field; squeeze-excitation's global context is
        not counted (the receptive field is that of the convolutional path)."""
        return [(7, 1, 1)] if settings.attention == "spatial" else []


def _groups_problem(in_width: int, out_width: int, groups: int) -> str | None:
    if groups > 1 and (in_width % groups or out_width % groups):
        return (f"groups={groups} must divide the block's input and output widths "
                f"({in_width} -> {out_width})")
    return None
