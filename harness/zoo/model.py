"""Model builder: ArchSpec -> nn.Module (stem -> stages of registered blocks -> head).

`validate_spec` checks everything that can be known without building: names against the
registries, values, the options each block family reads, widths that must divide, strides a
family cannot take, and map sizes at the input size. `build_model` builds only what it accepts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from harness.errors import SpecError, UnknownNameError
from harness.zoo.blocks import BLOCKS, Block
from harness.zoo.blocks.tokens import ToMap, ToTokens, conv_field_problem
from harness.zoo.layers import ACTIVATIONS, NORMS, ActFactory, BlockSettings, NormFactory
from harness.zoo.parts import Head, build_downsample, build_stem, transition_width
from harness.zoo.spec import ArchSpec, StageSpec

# StageSpec fields that only some families read (every conv family reads se and attention).
FAMILY_OPTIONS = ("expansion", "groups", "group_width", "branches", "wide_kernel", "heads", "position")
# StageSpec fields only the conv families read (the token families mix every position).
CONV_FIELDS = ("kernel_size", "dilation", "padding", "se", "attention")
_DEFAULT_STAGE = StageSpec()


def families_using(option: str) -> list[str]:
    """Names of the block families that read `option`."""
    return [name for name in BLOCKS.names() if option in BLOCKS.get(name).options]


def block_settings(stage: StageSpec, norm: NormFactory | None, act: ActFactory | None,
                   drop_path: float = 0.0, *, map_size: tuple[int, int] | None = None,
                   class_token: bool = False) -> BlockSettings:
    """The settings a block of `stage` is built with, the family's defaults filled in; `map_size`
    is the (height, width) the stage's blocks see, where known."""
    family = BLOCKS.get(stage.block)
    options = {name: getattr(stage, name) for name in FAMILY_OPTIONS}
    for name, value in family.defaults.items():
        if options.get(name) is None and not (name == "expansion" and stage.group_width is not None):
            options[name] = value
    return BlockSettings(kernel_size=stage.kernel_size, dilation=stage.dilation, norm=norm, act=act,
                         se=stage.se, attention=stage.attention, drop_path=drop_path, padding=stage.padding,
                         map_size=map_size, class_token=class_token, **options)


@dataclass(frozen=True)
class PlannedBlock:
    """One block of the network as the builder will make it."""

    stage: int  # 1-based
    family: type[Block]
    in_width: int
    out_width: int
    stride: int


def plan_blocks(spec: ArchSpec, in_channels: int = 3) -> Iterator[PlannedBlock]:
    """Every block in order with its widths and stride (downsampling layers accounted for)."""
    width = in_channels if spec.stem.kind == "none" else spec.stem.width
    for i, stage in enumerate(spec.stages, start=1):
        family = BLOCKS.get(stage.block)
        stride = stage.stride
        if stride > 1 and stage.downsample != "conv":
            stride = 1
            if stage.downsample == "patch":
                width = stage.width
            elif stage.downsample == "transition":
                width = transition_width(width, stage.compression)
        if family.tokens:
            width = stage.width  # ToTokens projects the map's channels to the stage width
        for j in range(stage.depth):
            out = family.output_width(width, stage.width)
            yield PlannedBlock(i, family, width, out, stride if j == 0 else 1)
            width = out


def validate_spec(spec: ArchSpec, input_size: tuple[int, int] | None = None, in_channels: int = 3) -> None:
    """Raise SpecError with the reason if `spec` cannot be built, or cannot work at
    `input_size` (height, width); nothing is built."""
    for registry, names in (
        (NORMS, [spec.norm]),
        (ACTIVATIONS, [spec.activation]),
        (BLOCKS, [s.block for s in spec.stages]),
    ):
        for name in names:
            try:
                registry.get(name)
            except UnknownNameError as err:
                raise SpecError(str(err)) from None
    spec.validate(input_size)
    for i, stage in enumerate(spec.stages, start=1):
        family = BLOCKS.get(stage.block)
        for option in FAMILY_OPTIONS:
            if option not in family.options and getattr(stage, option) != getattr(_DEFAULT_STAGE, option):
                raise SpecError(f"stage {i}: block {stage.block!r} has no option {option!r} (families "
                                f"that do: {', '.join(families_using(option))})")
        if stage.compression != _DEFAULT_STAGE.compression and stage.downsample != "transition":
            raise SpecError(f"stage {i}: `compression` is the width ratio of a DenseNet transition; "
                            f"this stage downsamples by {stage.downsample!r}")
        if stage.stride > 1 and stage.downsample == "conv" and family.no_stride_reason:
            raise SpecError(f"stage {i}: {family.no_stride_reason}")
        if family.tokens:
            for name in CONV_FIELDS:
                if getattr(stage, name) != getattr(_DEFAULT_STAGE, name):
                    raise SpecError(conv_field_problem(i, stage.block, name, getattr(stage, name)))
        if stage.padding == "valid" and stage.block != "plain":
            raise SpecError(f"stage {i}: padding 'valid' (none) shrinks every conv's map, and block "
                            f"{stage.block!r} adds or concatenates maps that must keep their size: only plain "
                            "(VGG-style) stages go without padding; use zeros, reflect, replicate or circular")
    if spec.head.pool == "token" and spec.stages[-1].block != "attention":
        raise SpecError(f"head pool 'token' reads the class token of an attention stage (ViT), but the last "
                        f"stage's block is {spec.stages[-1].block!r}: use pool avg or max, or end with an "
                        "attention stage")
    norm, act = NORMS.get(spec.norm), ACTIVATIONS.get(spec.activation)
    for block in plan_blocks(spec, in_channels):
        settings = block_settings(spec.stages[block.stage - 1], norm, act)
        problem = block.family.problem(block.in_width, block.out_width, settings)
        if problem:
            raise SpecError(f"stage {block.stage}: {problem}")


def needs_input_size(spec: ArchSpec) -> bool:
    """Whether `spec` has a token stage, built for one map size (so the network for one input size)."""
    return any(BLOCKS.get(s.block).tokens for s in spec.stages)


def block_map_sizes(spec: ArchSpec, input_size: tuple[int, int] | None) -> list[tuple[int, int] | None]:
    """(height, width) of the map each stage's blocks see (None for each when the size is unknown)."""
    if input_size is None:
        return [None] * len(spec.stages)
    return list(spec.map_sizes(input_size)[1:])


def set_padding_mode(module: nn.Module, padding: str) -> nn.Module:
    """`module` with every conv that pads filling its border by `padding` (a torch padding mode;
    "zeros" and "valid" leave the convs as built). Set after building, so every family's convs
    get it without each knowing about it: a Conv2d pads by F.pad in that mode when it is not zeros."""
    if padding in ("reflect", "replicate", "circular"):
        for conv in module.modules():
            if isinstance(conv, nn.Conv2d) and _pads(conv):
                conv.padding_mode = padding
    return module


def _pads(conv: nn.Conv2d) -> bool:
    """Whether `conv` pads its input (padding given in pixels, or "same"; a user's block may say either)."""
    if isinstance(conv.padding, str):
        return conv.padding == "same"
    return any(p > 0 for p in conv.padding)


def drop_path_rates(spec: ArchSpec) -> list[float]:
    """Stochastic-depth probability of each block, rising linearly from 0 to spec.drop_path
    over all blocks of the network (ConvNeXt's and timm's rule)."""
    n = sum(s.depth for s in spec.stages)
    return [spec.drop_path * j / (n - 1) if n > 1 else 0.0 for j in range(n)]


class Network(nn.Module):
    """stem -> stages (each an nn.Sequential: [downsampling layer] + blocks) -> head."""

    def __init__(self, spec: ArchSpec, in_channels: int, num_classes: int,
                 input_size: tuple[int, int] | None = None) -> None:
        super().__init__()
        if input_size is None and needs_input_size(spec):
            raise SpecError("an attention or mlp stage is built for one map size (its position embedding, "
                            "token-mixing MLP and token map): build the network with the input size")
        norm = NORMS.get(spec.norm)
        act = ACTIVATIONS.get(spec.activation)
        self.stem, width = build_stem(spec.stem, in_channels, norm, act)
        rates = iter(drop_path_rates(spec))
        planned = list(plan_blocks(spec, in_channels))
        maps = block_map_sizes(spec, input_size)
        stages = []
        for i, stage in enumerate(spec.stages, start=1):
            layers: list[nn.Module] = []
            down, width = build_downsample(stage, width, norm, act)
            if down is not None:
                layers.append(down)
            family = BLOCKS.get(stage.block)
            # The class token (head pool "token") lives in the last stage.
            class_token = spec.head.pool == "token" and i == len(spec.stages)
            size = maps[i - 1]  # known for every token stage: checked above
            if family.tokens:
                assert size is not None
                position = block_settings(stage, norm, act).position or "none"
                layers.append(ToTokens(width, stage.width, size, class_token=class_token, position=position))
            for block in (b for b in planned if b.stage == i):
                rate = next(rates)
                settings = block_settings(stage, norm, act, rate if block.family.residual else 0.0,
                                          map_size=size, class_token=class_token)
                layers.append(block.family(block.in_width, block.out_width, block.stride, settings))
                width = block.out_width
            if family.tokens:
                assert size is not None
                layers.append(ToMap(size, class_token=class_token))
            stages.append(set_padding_mode(nn.Sequential(*layers), stage.padding))
        self.stages = nn.Sequential(*stages)
        self.head = Head(spec.head, width, num_classes, norm, act)
        self.out_width = width  # channels of the last feature map

    @property
    def classifier(self) -> nn.Module:
        """The final layer: a Linear, or a 1x1 Conv2d for a conv classifier."""
        return self.head.classifier

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's feature map, before the head."""
        return self.stages(self.stem(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def stage_widths(spec: ArchSpec, in_channels: int = 3) -> list[int]:
    """Channels out of each stage (a dense stage grows; others end at their width)."""
    widths = {b.stage: b.out_width for b in plan_blocks(spec, in_channels)}
    return [widths[i] for i in range(1, len(spec.stages) + 1)]


def resolve_spec(spec: ArchSpec) -> ArchSpec:
    """`spec` with each family's defaults written in (expansion None -> 0.25 for bottleneck, ...),
    so the same network always has the same spec and id."""
    stages = []
    for stage in spec.stages:
        family = BLOCKS.get(stage.block)
        changes = {k: v for k, v in family.defaults.items()
                   if getattr(stage, k) is None and not (k == "expansion" and stage.group_width is not None)}
        stages.append(dataclasses.replace(stage, **changes))
    return dataclasses.replace(spec, stages=tuple(stages))


def build_model(
    spec: ArchSpec,
    *,
    in_channels: int = 3,
    num_classes: int = 10,
    input_size: tuple[int, int] | None = None,
) -> Network:
    """Validate `spec` (against `input_size` when given) and build its nn.Module."""
    validate_spec(spec, input_size, in_channels)
    return Network(spec, in_channels, num_classes, input_size)
