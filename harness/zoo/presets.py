"""Presets: the classic networks as ArchSpecs, named as torchvision names them.

Each preset is a spec like any other (it builds for any number of classes and any input size its
downsampling allows), so a ranking can put resnet18 beside a searched network. At 224x224 and
1000 classes every preset has exactly the parameter count torchvision publishes for its model,
and its FLOPs match fvcore's count of the torchvision model (tests/test_presets.py checks both
live, and resnet18, resnet50 and convnext_tiny also produce the same logits with torchvision's
weights copied in; vit_b_16 too, at 224 and 112 px, torchvision's ViT built for that size).
Swin-T is not a preset: its shifted-window attention and patch merging are not blocks of this
stage model (attention here is global over the stage's map). Known, documented difference:
GoogLeNet's BatchNorm epsilon is PyTorch's default here (torchvision: 1e-3), which changes its
logits slightly and no count; GoogLeNet is built without its auxiliary classifiers (as
torchvision's pretrained model is used).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from harness.registry import Registry
from harness.zoo.spec import ArchSpec, HeadSpec, StageSpec, StemSpec

PRESETS: Registry[Callable[[], ArchSpec]] = Registry("preset")
DESCRIPTIONS: dict[str, str] = {}


def _register(name: str, description: str) -> Callable[[Callable[[], ArchSpec]], Callable[[], ArchSpec]]:
    def add(fn: Callable[[], ArchSpec]) -> Callable[[], ArchSpec]:
        PRESETS.register(name, fn)
        DESCRIPTIONS[name] = description
        return fn

    return add


def _stages(block: str, depths: Sequence[int], widths: Sequence[int], strides: Sequence[int],
            **common: Any) -> tuple[StageSpec, ...]:
    per_stage = {k: v for k, v in common.items() if isinstance(v, list)}
    shared = {k: v for k, v in common.items() if not isinstance(v, list)}
    return tuple(
        StageSpec(block=block, depth=n, width=w, stride=s, **shared,
                  **{k: v[i] for k, v in per_stage.items()})
        for i, (n, w, s) in enumerate(zip(depths, widths, strides, strict=True))
    )


IMAGENET_STEM = StemSpec(kind="imagenet", width=64, kernel_size=7, stride=2)


# ------------------------------------------------------------------ ResNet, ResNeXt (He 2016, Xie 2017)
def _resnet(block: str, depths: Sequence[int], widths: Sequence[int], **common: Any) -> ArchSpec:
    return ArchSpec(stem=IMAGENET_STEM, stages=_stages(block, depths, widths, (1, 2, 2, 2), **common))


@_register("resnet18", "ResNet-18: basic residual blocks, depths 2-2-2-2 (He et al., 2016)")
def resnet18() -> ArchSpec:
    return _resnet("residual", (2, 2, 2, 2), (64, 128, 256, 512))


@_register("resnet34", "ResNet-34: basic residual blocks, depths 3-4-6-3")
def resnet34() -> ArchSpec:
    return _resnet("residual", (3, 4, 6, 3), (64, 128, 256, 512))


@_register("resnet50", "ResNet-50: bottleneck blocks (x0.25 inner width), depths 3-4-6-3")
def resnet50() -> ArchSpec:
    return _resnet("bottleneck", (3, 4, 6, 3), (256, 512, 1024, 2048), expansion=0.25)


@_register("resnext50_32x4d", "ResNeXt-50 32x4d: grouped bottlenecks, cardinality 32 (Xie et al., 2017)")
def resnext50_32x4d() -> ArchSpec:
    return _resnet("bottleneck", (3, 4, 6, 3), (256, 512, 1024, 2048), groups=32,
                   group_width=[4, 8, 16, 32])


# ------------------------------------------------------------------ VGG (Simonyan & Zisserman, 2015)
def _vgg(depths: Sequence[int]) -> ArchSpec:
    return ArchSpec(
        stem=StemSpec(kind="none"),
        stages=_stages("plain", depths, (64, 128, 256, 512, 512), (1, 2, 2, 2, 2), downsample="maxpool"),
        head=HeadSpec(pre_pool="maxpool", pool="avg", pool_size=7, hidden=(4096, 4096), dropout=0.5),
        norm="none",
    )


@_register("vgg11", "VGG-11 (configuration A, no batch norm), with its 4096-4096 MLP head")
def vgg11() -> ArchSpec:
    return _vgg((1, 1, 2, 2, 2))


@_register("vgg16", "VGG-16 (configuration D, no batch norm), with its 4096-4096 MLP head")
def vgg16() -> ArchSpec:
    return _vgg((2, 2, 3, 3, 3))


# ------------------------------------------------------------------ DenseNet (Huang et al., 2017)
@_register("densenet121", "DenseNet-121 (BC): growth 32, depths 6-12-24-16, transitions x0.5")
def densenet121() -> ArchSpec:
    return ArchSpec(
        stem=IMAGENET_STEM,
        stages=_stages("dense", (6, 12, 24, 16), (32, 32, 32, 32), (1, 2, 2, 2), expansion=4.0,
                       downsample="transition"),
        head=HeadSpec(norm="pre"),
    )


# ------------------------------------------------------------------ GoogLeNet (Szegedy et al., 2015)
# (output width, stride, branches) of modules 3a ... 5b, torchvision's widths.
_GOOGLENET = [
    (256, 1, (64, 96, 128, 16, 32, 32)),
    (480, 1, (128, 128, 192, 32, 96, 64)),
    (512, 2, (192, 96, 208, 16, 48, 64)),
    (512, 1, (160, 112, 224, 24, 64, 64)),
    (512, 1, (128, 128, 256, 24, 64, 64)),
    (528, 1, (112, 144, 288, 32, 64, 64)),
    (832, 1, (256, 160, 320, 32, 128, 128)),
    (832, 2, (256, 160, 320, 32, 128, 128)),
    (1024, 1, (384, 192, 384, 48, 128, 128)),
]


@_register("googlenet", "GoogLeNet (Inception v1) without auxiliary classifiers, torchvision's 3x3 "
                        "'5x5' branches")
def googlenet() -> ArchSpec:
    return ArchSpec(
        stem=StemSpec(kind="googlenet", width=192, kernel_size=7, stride=2),
        # torchvision: 3x3/2 ceil-mode pool before 4a, 2x2/2 before 5a.
        stages=tuple(StageSpec(block="inception", width=w, stride=s, branches=b,
                               downsample="maxpool3" if i == 2 else "maxpool")
                     for i, (w, s, b) in enumerate(_GOOGLENET)),
        head=HeadSpec(dropout=0.2),
    )


# ------------------------------------------------------------------ MobileNetV2 (Sandler et al., 2018)
@_register("mobilenet_v2", "MobileNetV2: inverted residuals (expansion 6), ReLU6, last 1x1 conv to 1280")
def mobilenet_v2() -> ArchSpec:
    # (expansion, width, depth, stride) per stage, as in the paper's Table 2.
    settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1)]
    return ArchSpec(
        stem=StemSpec(width=32, kernel_size=3, stride=2),
        stages=tuple(StageSpec(block="inverted_residual", depth=n, width=c, stride=s, expansion=float(t))
                     for t, c, n, s in settings),
        head=HeadSpec(width=1280, dropout=0.2),
        activation="relu6",
    )


# ------------------------------------------------------------------ ConvNeXt (Liu et al., 2022)
@_register("convnext_tiny", "ConvNeXt-T: patchify stem, 7x7 depthwise blocks, depths 3-3-9-3, LayerNorm, GELU")
def convnext_tiny() -> ArchSpec:
    return ArchSpec(
        stem=StemSpec(kind="patchify", width=96, kernel_size=4, stride=4),
        stages=_stages("convnext", (3, 3, 9, 3), (96, 192, 384, 768), (1, 2, 2, 2), kernel_size=7,
                       expansion=4.0, downsample="patch"),
        head=HeadSpec(norm="post"),
        norm="layer",
        activation="gelu",
        drop_path=0.1,
    )


# ------------------------------------------------------------------ SqueezeNet (Iandola et al., 2016)
@_register("squeezenet1_1", "SqueezeNet 1.1: fire modules (squeeze 1/8), no norm, conv classifier")
def squeezenet1_1() -> ArchSpec:
    widths = (128, 128, 256, 256, 384, 384, 512, 512)
    strides = (1, 1, 2, 1, 2, 1, 1, 1)
    return ArchSpec(
        stem=StemSpec(kind="squeezenet", width=64, kernel_size=3, stride=2),
        stages=tuple(StageSpec(block="fire", width=w, stride=s, downsample="maxpool3", expansion=0.125)
                     for w, s in zip(widths, strides, strict=True)),
        head=HeadSpec(classifier="conv", dropout=0.5),
        norm="none",
    )


# ------------------------------------------------------------------ ViT (Dosovitskiy et al., 2021)
@_register("vit_b_16", "ViT-B/16: 16x16 patch embedding, 12 attention blocks of width 768 with 12 heads, "
                       "class token, learned position embedding")
def vit_b_16() -> ArchSpec:
    return ArchSpec(
        stem=StemSpec(kind="patch_embed", width=768, kernel_size=16, stride=16),
        stages=(StageSpec(block="attention", depth=12, width=768, heads=12, expansion=4.0, position="learned"),),
        head=HeadSpec(pool="token", norm="post"),  # ViT's last LayerNorm, on the class token
        norm="layer",
        activation="gelu",
    )


# ------------------------------------------------------------------ lookup
def preset(name: str) -> ArchSpec:
    """The named preset's spec; an unknown name raises UnknownNameError listing the valid ones."""
    return PRESETS.get(name)()
