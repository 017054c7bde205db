"""Network parts around the blocks: stems, downsampling layers between stages, and heads.

Each builder takes plain spec data plus the network's norm and activation factories and returns
a module (and, where it changes, the width it leaves); `*_path` functions give the (kernel,
stride, dilation) layers each part adds to the receptive field.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.ops import Conv2dNormActivation

from harness.zoo.blocks.base import PathLayer
from harness.zoo.layers import ActFactory, NormFactory, conv_norm_act, make_act, make_norm
from harness.zoo.spec import HeadSpec, StageSpec, StemSpec


# ------------------------------------------------------------------ stems
def build_stem(stem: StemSpec, in_channels: int, norm: NormFactory | None,
               act: ActFactory | None) -> tuple[nn.Module, int]:
    """(stem module, its output width) for `stem.kind` (see StemSpec)."""
    k, s, w = stem.kernel_size, stem.stride, stem.width
    if stem.kind == "none":
        return nn.Identity(), in_channels
    if stem.kind == "patchify":
        # ConvNeXt: a p x p conv at stride p (with a bias, as torchvision) then a norm, no activation.
        return Conv2dNormActivation(in_channels, w, kernel_size=s, stride=s, padding=0, norm_layer=norm,
                                    activation_layer=None, bias=True), w
    if stem.kind == "patch_embed":  # ViT's conv_proj: the p x p conv at stride p alone
        return nn.Sequential(nn.Conv2d(in_channels, w, kernel_size=s, stride=s)), w
    if stem.kind == "squeezenet":  # no padding, then a ceil-mode pool, as torchvision's SqueezeNet 1.1
        return nn.Sequential(
            Conv2dNormActivation(in_channels, w, kernel_size=k, stride=s, padding=0, norm_layer=norm,
                                 activation_layer=act, inplace=None),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        ), w
    first = conv_norm_act(in_channels, w if stem.kind != "googlenet" else w // 3, kernel_size=k, stride=s,
                          norm=norm, act=act)
    if stem.kind == "conv":
        return first, w
    if stem.kind == "imagenet":  # ResNet's 3x3/2 max-pool with padding 1: ceil(size / 2)
        return nn.Sequential(first, nn.MaxPool2d(kernel_size=3, stride=2, padding=1)), w
    third = w // 3  # googlenet: 7x7/2 (64) -> pool -> 1x1 (64) -> 3x3 (192) -> pool, ceil-mode pools
    return nn.Sequential(
        first,
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        conv_norm_act(third, third, kernel_size=1, norm=norm, act=act),
        conv_norm_act(third, w, kernel_size=3, norm=norm, act=act),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
    ), w


def stem_path(stem: StemSpec) -> list[PathLayer]:
    """Receptive-field layers of the stem."""
    k, s = stem.kernel_size, stem.stride
    return {
        "none": [],
        "conv": [(k, s, 1)],
        "patchify": [(s, s, 1)],
        "patch_embed": [(s, s, 1)],
        "imagenet": [(k, s, 1), (3, 2, 1)],
        "googlenet": [(k, s, 1), (3, 2, 1), (1, 1, 1), (3, 1, 1), (3, 2, 1)],
        "squeezenet": [(k, s, 1), (3, 2, 1)],
    }[stem.kind]


# ------------------------------------------------------------------ downsampling between stages
def transition_width(in_width: int, compression: float) -> int:
    """Channels out of a DenseNet transition: floor(in x compression), at least 1."""
    return max(1, int(in_width * compression))


def build_downsample(stage: StageSpec, in_width: int, norm: NormFactory | None,
                     act: ActFactory | None) -> tuple[nn.Module | None, int]:
    """(layer in front of the stage's blocks, or None; the width it leaves)."""
    s = stage.stride
    if s == 1 or stage.downsample == "conv":
        return None, in_width
    if stage.downsample == "maxpool":
        return nn.MaxPool2d(kernel_size=s, stride=s), in_width
    if stage.downsample == "maxpool3":  # overlapping pooling (AlexNet, GoogLeNet, SqueezeNet)
        return nn.MaxPool2d(kernel_size=3, stride=s, ceil_mode=True), in_width
    if stage.downsample == "avgpool":
        return nn.AvgPool2d(kernel_size=s, stride=s), in_width
    if stage.downsample == "patch":  # ConvNeXt: norm, then a stride x stride conv to the stage width
        return nn.Sequential(make_norm(norm, in_width),
                             nn.Conv2d(in_width, stage.width, kernel_size=s, stride=s)), stage.width
    # transition (DenseNet): norm -> act -> 1x1 conv (compression) -> stride x stride average pool
    out = transition_width(in_width, stage.compression)
    return nn.Sequential(
        make_norm(norm, in_width),
        make_act(act, after_input=norm is None),
        nn.Conv2d(in_width, out, kernel_size=1, bias=norm is None),
        nn.AvgPool2d(kernel_size=s, stride=s),
    ), out


def downsample_path(stage: StageSpec) -> list[PathLayer]:
    """Receptive-field layers of the stage's downsampling layer (none for "conv")."""
    s = stage.stride
    if s == 1 or stage.downsample == "conv":
        return []
    return [(3 if stage.downsample == "maxpool3" else s, s, 1)]


# ------------------------------------------------------------------ head
class Head(nn.Module):
    """[norm -> act] -> [1x1 conv-norm-act] -> [2x2 max-pool] -> adaptive pool -> [norm] ->
    flatten -> (linear -> act -> dropout) per hidden width -> [dropout] -> linear classifier.

    With a conv classifier (SqueezeNet): ... -> [2x2 max-pool] -> [dropout] -> 1x1 conv -> act ->
    global pool -> flatten."""

    def __init__(self, head: HeadSpec, in_width: int, num_classes: int, norm: NormFactory | None,
                 act: ActFactory | None) -> None:
        super().__init__()
        width = in_width
        self.pre_norm: nn.Module = nn.Identity()
        if head.norm == "pre":  # DenseNet's norm5 + ReLU
            self.pre_norm = nn.Sequential(make_norm(norm, width), make_act(act, after_input=norm is None))
        self.conv: nn.Module = nn.Identity()
        if head.width > 0:  # MobileNetV2's last 1x1 conv to 1280
            self.conv = conv_norm_act(width, head.width, kernel_size=1, norm=norm, act=act)
            width = head.width
        self.pre_pool = nn.MaxPool2d(2, 2) if head.pre_pool == "maxpool" else nn.Identity()
        self.conv_classifier = head.classifier == "conv"
        if self.conv_classifier:
            self.dropout = nn.Dropout(head.dropout) if head.dropout > 0 else nn.Identity()
            self.classifier: nn.Module = nn.Conv2d(width, num_classes, kernel_size=1)
            self.act = make_act(act)
            self.pool = nn.AdaptiveAvgPool2d(1) if head.pool == "avg" else nn.AdaptiveMaxPool2d(1)
            return
        size = head.pool_size
        # "token": the last stage hands over its class token as a 1x1 map; there is nothing to pool.
        self.pool = {"avg": nn.AdaptiveAvgPool2d, "max": nn.AdaptiveMaxPool2d,
                     "token": lambda _: nn.Identity()}[head.pool](size)
        self.post_norm = make_norm(norm, width) if head.norm == "post" else nn.Identity()  # ConvNeXt
        features = width * size * size
        layers: list[nn.Module] = []
        for hidden in head.hidden:  # VGG: 25088 -> 4096 -> 4096
            layers += [nn.Linear(features, hidden), make_act(act)]
            if head.dropout > 0:
                layers.append(nn.Dropout(head.dropout))
            features = hidden
        if not head.hidden and head.dropout > 0:
            layers.append(nn.Dropout(head.dropout))
        self.mlp = nn.Sequential(*layers)
        self.classifier = nn.Linear(features, num_classes)

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """Features entering the MLP: (N, width x pool_size^2); for a conv classifier, the map
        it classifies."""
        x = self.pre_pool(self.conv(self.pre_norm(x)))
        if self.conv_classifier:
            return x
        return self.post_norm(self.pool(x)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.conv_classifier:
            return self.pool(self.act(self.classifier(self.dropout(self.pooled(x))))).flatten(1)
        return self.classifier(self.mlp(self.pooled(x)))


def head_path(head: HeadSpec) -> list[PathLayer]:
    """Receptive-field layers of the head before its global pooling."""
    return [(2, 2, 1)] if head.pre_pool == "maxpool" else []
