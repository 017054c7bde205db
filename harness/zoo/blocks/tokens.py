"""Token families: the map's positions as a sequence of tokens, mixed globally. `AttentionBlock`
(ViT's encoder block: pre-norm multi-head self-attention, then an MLP) and `MixerBlock` (MLP-Mixer:
a token-mixing MLP across positions, then a channel MLP), with `ToTokens` and `ToMap`, which the
builder puts around a token stage's blocks so that every other part keeps seeing (N, C, H, W) maps.

Both families use LayerNorm (epsilon 1e-6, as torchvision's ViT) whatever the network's norm (which
the conv parts of a hybrid network keep), and the network's activation in their MLPs (ViT and Mixer:
GELU). Each sees every position, so its receptive field is the whole map.
"""

from __future__ import annotations

from functools import partial
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F
from torchvision.ops import StochasticDepth

from harness.errors import SpecError
from harness.zoo.blocks.base import Block, PathLayer
from harness.zoo.layers import BlockSettings, make_act

TokenNorm = partial(nn.LayerNorm, eps=1e-6)
# Standard deviation of a learned position embedding at initialisation (torchvision's ViT).
POSITION_INIT_STD = 0.02
# MLP-Mixer's token-mixing MLP width as a fraction of the channels: Mixer-S/B/L use
# D_S = C / 2 (256/512, 384/768, 512/1024).
TOKEN_MLP_RATIO = 0.5
# Reasons a token family refuses the conv-only stage options.
_NOT_SPATIAL = "mixes every position of the map and has no convolution"


class ToTokens(nn.Module):
    """(N, C_in, H, W) map -> (N, [1 +] H*W, C) tokens in row-major order (ViT's), projected to the
    stage width by a Linear when it differs, a class token put first when asked for, and a learned
    position embedding added for `position: learned`."""

    def __init__(self, in_width: int, out_width: int, map_size: tuple[int, int], *, class_token: bool,
                 position: str) -> None:
        super().__init__()
        # Registered before the embedding: torchvision's order (class_token, then pos_embedding).
        self.class_token = nn.Parameter(torch.zeros(1, 1, out_width)) if class_token else None
        tokens = map_size[0] * map_size[1] + class_token
        self.pos_embedding = None
        if position == "learned":
            self.pos_embedding = nn.Parameter(torch.empty(1, tokens, out_width).normal_(std=POSITION_INIT_STD))
        self.project = nn.Linear(in_width, out_width) if in_width != out_width else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.project(x.flatten(2).transpose(1, 2))
        if self.class_token is not None:
            x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1)
        if self.pos_embedding is not None:
            x = x + self.pos_embedding
        return x


class ToMap(nn.Module):
    """(N, [1 +] H*W, C) tokens -> the (N, C, H, W) map, or, with a class token, the class token
    alone as an (N, C, 1, 1) map (for a head that reads it: `head.pool: token`)."""

    def __init__(self, map_size: tuple[int, int], *, class_token: bool) -> None:
        super().__init__()
        self.map_size = map_size
        self.class_token = class_token

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.class_token:
            return x[:, 0, :, None, None]
        return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], *self.map_size)


class RelativePositionBias(nn.Module):
    """A learned bias per head and relative offset (dy, dx), added to the attention logits (Swin's
    table of (2H-1)(2W-1) entries per head); with a class token, three more per head (BEiT's: class
    to token, token to class, class to itself). Initialised at zero: attention starts position-free."""

    def __init__(self, map_size: tuple[int, int], heads: int, *, class_token: bool) -> None:
        super().__init__()
        h, w = map_size
        self.heads, self.class_token = heads, class_token
        self.table = nn.Parameter(torch.zeros((2 * h - 1) * (2 * w - 1) + 3 * class_token, heads))
        ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        dy = ys.flatten()[:, None] - ys.flatten()[None, :] + h - 1
        dx = xs.flatten()[:, None] - xs.flatten()[None, :] + w - 1
        index = dy * (2 * w - 1) + dx
        if class_token:
            n, first = h * w, (2 * h - 1) * (2 * w - 1)
            full = torch.empty(n + 1, n + 1, dtype=torch.long)
            full[1:, 1:] = index
            full[0, 1:], full[1:, 0], full[0, 0] = first, first + 1, first + 2
            index = full
        self.register_buffer("index", index, persistent=False)

    def forward(self) -> torch.Tensor:
        """The (heads, L, L) bias added to the attention logits (broadcast over the batch)."""
        return self.table[self.index].permute(2, 0, 1)


class TokenBlock(Block):
    """What the token families share: no stride, no conv options, a global receptive field."""

    tokens = True
    residual = True
    no_stride_reason = ("a token block (attention, mlp) keeps the map size: downsample in front of the stage "
                        "(`downsample: patch`, as ViT and Swin do, or a pool)")

    @classmethod
    def problem(cls, in_width: int, out_width: int, settings: BlockSettings) -> str | None:
        return None

    @classmethod
    def receptive_path(cls, settings: BlockSettings, stride: int) -> list[PathLayer]:
        # Every output position sees all m positions along a side: a kernel of 2m - 1 centred on
        # any of them reaches every other.
        if settings.map_size is None:
            raise SpecError(f"a {cls.__name__} sees its whole map: its receptive field needs the input size")
        m = max(settings.map_size)
        return [(2 * m - 1, 1, 1)]

    @staticmethod
    def _drop_path(settings: BlockSettings) -> nn.Module:
        return StochasticDepth(settings.drop_path, "row") if settings.drop_path > 0 else nn.Identity()

    @staticmethod
    def _mlp(width: int, inner: int, settings: BlockSettings) -> nn.Sequential:
        # torchvision's MLPBlock: Linear -> act -> Dropout -> Linear -> Dropout (dropout 0 here).
        return nn.Sequential(nn.Linear(width, inner), make_act(settings.act), nn.Dropout(0.0),
                             nn.Linear(inner, width), nn.Dropout(0.0))


class AttentionBlock(TokenBlock):
    """x + attention(norm(x)), then x + MLP(norm(x)) (expansion x width inner units), on tokens:
    torchvision's ViT EncoderBlock, with `heads` heads and, for `position: relative`, a relative
    position bias on the logits."""

    options = frozenset({"expansion", "heads", "position"})
    defaults: ClassVar = {"expansion": 4.0, "heads": 4, "position": "learned"}

    def __init__(self, in_width: int, out_width: int, stride: int, settings: BlockSettings) -> None:
        super().__init__()
        heads = settings.heads or 1
        self.ln_1 = TokenNorm(out_width)
        self.self_attention = nn.MultiheadAttention(out_width, heads, batch_first=True)
        self.relative = None
        if settings.position == "relative":
            assert settings.map_size is not None
            self.relative = RelativePositionBias(settings.map_size, heads, class_token=settings.class_token)
        self.ln_2 = TokenNorm(out_width)
        self.mlp = self._mlp(out_width, max(1, round(out_width * (settings.expansion or 4.0))), settings)
        self.drop_path = self._drop_path(settings)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self._attend(self.ln_1(x)))
        return x + self.drop_path(self.mlp(self.ln_2(x)))

    def _attend(self, x: torch.Tensor) -> torch.Tensor:
        """nn.MultiheadAttention's arithmetic with its parameters (so torchvision's weights load),
        written out so the relative bias is broadcast over the batch as a (heads, L, L) mask: the
        module would take it only expanded to (batch x heads, L, L), hundreds of MB at 256 tokens."""
        mha = self.self_attention
        n, length, width = x.shape
        heads = mha.num_heads
        q, k, v = F.linear(x, mha.in_proj_weight, mha.in_proj_bias).chunk(3, dim=-1)
        q, k, v = (t.reshape(n, length, heads, width // heads).transpose(1, 2) for t in (q, k, v))
        bias = self.relative().to(q.dtype) if self.relative is not None else None
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        return mha.out_proj(y.transpose(1, 2).reshape(n, length, width))

    @classmethod
    def problem(cls, in_width: int, out_width: int, settings: BlockSettings) -> str | None:
        heads = settings.heads or 1
        if out_width % heads:
            return (f"heads={heads} must divide the attention width {out_width} (each head gets "
                    "width / heads channels)")
        return None


class MixerBlock(TokenBlock):
    """x + token-mixing MLP across positions (per channel), then x + channel MLP (per position),
    each after a LayerNorm: MLP-Mixer's block (Tolstikhin et al., 2021). The token MLP is built for
    the map's H x W positions, with TOKEN_MLP_RATIO x width hidden units; the channel MLP has
    expansion x width."""

    options = frozenset({"expansion"})
    defaults: ClassVar = {"expansion": 4.0}

    def __init__(self, in_width: int, out_width: int, stride: int, settings: BlockSettings) -> None:
        super().__init__()
        assert settings.map_size is not None
        positions = settings.map_size[0] * settings.map_size[1]
        self.ln_1 = TokenNorm(out_width)
        self.token_mlp = self._mlp(positions, max(1, round(out_width * TOKEN_MLP_RATIO)), settings)
        self.ln_2 = TokenNorm(out_width)
        self.mlp = self._mlp(out_width, max(1, round(out_width * (settings.expansion or 4.0))), settings)
        self.drop_path = self._drop_path(settings)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mixed = self.token_mlp(self.ln_1(x).transpose(1, 2)).transpose(1, 2)
        x = x + self.drop_path(mixed)
        return x + self.drop_path(self.mlp(self.ln_2(x)))


def conv_field_problem(stage_number: int, block: str, name: str, value: object) -> str:
    """Why a token stage cannot take the conv-only field `name` set to `value`."""
    return (f"stage {stage_number}: block {block!r} {_NOT_SPATIAL}: it does not read `{name}` "
            f"({value!r}); leave it at its default")
