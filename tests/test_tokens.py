"""The token families (attention, mlp): what makes each what it says, against torchvision's ViT
encoder block and hand-written formulas; position information (learned, relative, none) and the
class token; fvcore's count of attention; what is refused, with the reason; and the search space
rules for them (conv-only fields are not asked of a token stage; heads must divide a width; a
space's robustness settings). The sweep over every family x norm x activation x geometry is in
test_blocks.py, which includes both families."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from torch import nn
from torchvision.models.vision_transformer import EncoderBlock

from harness import ArchSpec, HeadSpec, SpecError, StageSpec, StemSpec, build_model, validate_spec
from harness.data.shifts import Robustness
from harness.errors import SpaceError
from harness.search.search_config import search_config
from harness.search.space import load_space
from harness.zoo.blocks import BLOCKS, AttentionBlock, MixerBlock
from harness.zoo.blocks.tokens import TOKEN_MLP_RATIO, RelativePositionBias, ToMap, ToTokens
from harness.zoo.layers import ACTIVATIONS, NORMS
from harness.zoo.measure import count_flops, receptive_field
from harness.zoo.model import block_settings

GELU = ACTIVATIONS.get("gelu")


def settings(block: str, map_size: tuple[int, int] = (4, 4), class_token: bool = False, **stage: object):
    return block_settings(StageSpec(block=block, **stage), NORMS.get("layer"), GELU, map_size=map_size,
                          class_token=class_token)


def hybrid(block: str = "attention", pool: str = "avg", **stage: object) -> ArchSpec:
    """A conv stage (16x16 -> 8x8 by its stride), then a token stage of width 16 on the 8x8 map."""
    return ArchSpec(stem=StemSpec(width=8), stages=(StageSpec(block="residual", width=8, stride=2),
                                                    StageSpec(block=block, depth=2, width=16, **stage)),
                    head=HeadSpec(pool=pool, norm="post"), norm="layer", activation="gelu")


# ------------------------------------------------------------------ what each block computes
def test_attention_block_is_torchvisions_vit_encoder_block() -> None:
    torch.manual_seed(0)
    ours = AttentionBlock(16, 16, 1, settings("attention", heads=4, position="none")).eval()
    theirs = EncoderBlock(num_heads=4, hidden_dim=16, mlp_dim=64, dropout=0.0, attention_dropout=0.0).eval()
    theirs.load_state_dict(ours.state_dict())  # the same names, shapes and order
    x = torch.randn(3, 10, 16)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x))


def test_mixer_block_mixes_tokens_then_channels() -> None:
    torch.manual_seed(0)
    block = MixerBlock(12, 12, 1, settings("mlp", map_size=(2, 3))).eval()
    token_mlp, mlp = block.token_mlp, block.mlp
    assert (token_mlp[0].in_features, token_mlp[0].out_features) == (6, round(12 * TOKEN_MLP_RATIO))
    assert (mlp[0].in_features, mlp[0].out_features) == (12, 48)  # expansion 4
    x = torch.randn(2, 6, 12)
    gelu = nn.GELU()
    mixed = x + (token_mlp[3].weight @ gelu(token_mlp[0].weight @ block.ln_1(x) + token_mlp[0].bias[:, None])
                 + token_mlp[3].bias[:, None])
    expected = mixed + mlp[3](gelu(mlp[0](block.ln_2(mixed))))
    with torch.no_grad():
        torch.testing.assert_close(block(x), expected)


def test_tokens_and_map_are_row_major_and_inverse() -> None:
    to_tokens = ToTokens(5, 5, (3, 4), class_token=False, position="none")
    x = torch.randn(2, 5, 3, 4)
    tokens = to_tokens(x)
    assert tokens.shape == (2, 12, 5)
    torch.testing.assert_close(tokens[:, 1 * 4 + 2], x[:, :, 1, 2])  # row 1, column 2
    torch.testing.assert_close(ToMap((3, 4), class_token=False)(tokens), x)


def test_class_token_goes_first_and_is_what_the_head_reads() -> None:
    to_tokens = ToTokens(5, 8, (2, 2), class_token=True, position="learned")
    assert to_tokens.pos_embedding.shape == (1, 5, 8)  # 4 positions and the class token
    tokens = to_tokens(torch.randn(3, 5, 2, 2))
    assert tokens.shape == (3, 5, 8)
    torch.testing.assert_close(tokens[:, 0], (to_tokens.class_token[0, 0] + to_tokens.pos_embedding[0, 0]).expand(3, 8))
    assert ToMap((2, 2), class_token=True)(tokens).shape == (3, 8, 1, 1)

    spec = hybrid(pool="token")
    assert spec.feature_sizes((16, 16))[-1] == (1, 1) and spec.map_sizes((16, 16))[-1] == (8, 8)
    model = build_model(spec, num_classes=4, input_size=(16, 16)).eval()
    assert model.features(torch.randn(2, 3, 16, 16)).shape == (2, 16, 1, 1)


def _permutation_equivariant(position: str) -> bool:
    """Whether permuting the positions of the tokens permutes the block's output the same way."""
    torch.manual_seed(0)
    block = AttentionBlock(8, 8, 1, settings("attention", map_size=(3, 3), heads=2, position=position)).eval()
    if block.relative is not None:
        with torch.no_grad():
            block.relative.table.normal_()
    x, order = torch.randn(2, 9, 8), torch.randperm(9)
    with torch.no_grad():
        return torch.allclose(block(x)[:, order], block(x[:, order]), atol=1e-5)


def test_attention_without_position_is_blind_to_where_a_token_is() -> None:
    assert _permutation_equivariant("none")
    assert not _permutation_equivariant("relative")  # the bias depends on the offset between tokens


def test_relative_bias_depends_only_on_the_offset() -> None:
    bias = RelativePositionBias((3, 4), heads=2, class_token=False)
    with torch.no_grad():
        bias.table.copy_(torch.randn_like(bias.table))
    table = bias()[0]  # head 0, (12, 12)

    def at(y: int, x: int) -> int:
        return y * 4 + x

    assert table[at(0, 0), at(1, 2)] == table[at(1, 1), at(2, 3)]  # both (+1, +2)
    assert table[at(0, 0), at(1, 2)] != table[at(1, 2), at(0, 0)]
    assert bias.table.shape == ((2 * 3 - 1) * (2 * 4 - 1), 2)
    with_class = RelativePositionBias((3, 4), heads=2, class_token=True)
    assert with_class.index.shape == (13, 13) and with_class.index[0, 0] == with_class.table.shape[0] - 1


def test_learned_position_embedding_is_one_per_stage_and_relative_one_per_block() -> None:
    learned = build_model(hybrid(position="learned"), input_size=(16, 16))
    relative = build_model(hybrid(position="relative"), input_size=(16, 16))
    assert [n for n, _ in learned.named_parameters() if "pos_embedding" in n] == ["stages.1.0.pos_embedding"]
    assert not any("relative" in n for n, _ in learned.named_parameters())
    assert len([n for n, _ in relative.named_parameters() if n.endswith("relative.table")]) == 2
    assert not any("pos_embedding" in n for n, _ in relative.named_parameters())


def test_token_stage_projects_a_width_change_once() -> None:
    model = build_model(hybrid(), input_size=(16, 16))
    to_tokens = model.stages[1][0]
    assert isinstance(to_tokens, ToTokens) and isinstance(to_tokens.project, nn.Linear)
    assert (to_tokens.project.in_features, to_tokens.project.out_features) == (8, 16)


# ------------------------------------------------------------------ measurements
def test_fvcore_counts_attention_matmuls_and_lists_softmax() -> None:
    class Attention(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.mha = nn.MultiheadAttention(32, 4, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.mha(x, x, x, need_weights=False)[0]

    tokens, width = 49, 32
    flops, uncounted = count_flops(Attention(), (tokens, width))
    projections = tokens * width * 3 * width + tokens * width * width  # in (q, k, v) and out
    products = 2 * tokens * tokens * width  # Q K^T and the weights times V, summed over the heads
    assert flops == projections + products
    assert uncounted["aten::softmax"] == 1


def test_receptive_field_of_a_token_stage_is_its_whole_map() -> None:
    spec = ArchSpec(stem=StemSpec(kind="none"), stages=(StageSpec(block="attention", width=8, heads=2),))
    assert receptive_field(spec, (10, 6)) == 2 * 10 - 1  # from any position, every other along the long side
    with pytest.raises(SpecError, match="input size"):
        receptive_field(spec)
    # A 3x3 stem conv before it: the field grows by the stem's 2 px.
    stemmed = dataclasses.replace(spec, stem=StemSpec(width=8))
    assert receptive_field(stemmed, (10, 10)) == 2 * 10 - 1 + 2


# ------------------------------------------------------------------ refused, with the reason
@pytest.mark.parametrize(("spec", "fragment"), [
    (hybrid(heads=3), "heads=3 must divide the attention width 16"),
    (hybrid(block="mlp", heads=2), "block 'mlp' has no option 'heads' (families that do: attention)"),
    (dataclasses.replace(hybrid(), stages=(StageSpec(block="residual", width=8, heads=2),)), "has no option 'heads'"),
    (hybrid(position="absolute"), "position 'absolute' is not valid; valid: learned, relative, none"),
    (hybrid(kernel_size=5), "block 'attention' mixes every position of the map and has no convolution: it "
                            "does not read `kernel_size` (5)"),
    (hybrid(block="mlp", se=4), "does not read `se`"),
    (hybrid(block="mlp", pool="token"), "head pool 'token' reads the class token of an attention stage"),
    (dataclasses.replace(hybrid(pool="token"), head=HeadSpec(pool="token", pool_size=2)), "token head"),
    (hybrid(stride=2), "downsample in front of the stage"),
])
def test_bad_token_stages_are_refused_with_the_reason(spec: ArchSpec, fragment: str) -> None:
    with pytest.raises(SpecError) as err:
        validate_spec(spec, (16, 16))
    assert fragment in str(err.value)


def test_a_token_stage_needs_the_input_size_to_be_built() -> None:
    for spec in (hybrid(), hybrid(position="none"), hybrid(block="mlp")):
        with pytest.raises(SpecError, match="build the network with the input size"):
            build_model(spec)
    model = build_model(hybrid(), input_size=(12, 12))
    assert model(torch.randn(1, 3, 12, 12)).shape == (1, 10)


def test_token_families_are_registered_and_cannot_stride() -> None:
    for name in ("attention", "mlp"):
        family = BLOCKS.get(name)
        assert family.tokens and family.no_stride_reason and family.residual


# ------------------------------------------------------------------ search spaces
def _space(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(text)
    return path


MIXED = """
stages:
  count: 2
  block: {choices: [residual, attention], per_stage: true}
  width: {each: [16, 32]}
  kernel_size: [3, 5]
  stride: 1
"""


def test_conv_fields_are_not_asked_of_a_token_stage(tmp_path: Path) -> None:
    space = load_space(_space(tmp_path, MIXED))
    assert "only for conv blocks (not attention, mlp)" in space.describe()
    # residual+residual: 2 kernels; one attention stage: 2; both attention: 1 (nothing to ask).
    assert space.architecture_count() == 2 + 2 + 2 + 1
    seen = set()
    for seed in range(30):
        spec = space.sample(seed=seed)[0]
        validate_spec(spec, (16, 16))
        for stage in spec.stages:
            if stage.block == "attention":
                assert stage.kernel_size == 3
        seen.add(tuple(s.block for s in spec.stages))
    assert len(seen) == 4


def test_a_space_without_token_blocks_keeps_kernel_unconditional(tmp_path: Path) -> None:
    space = load_space(_space(tmp_path, MIXED.replace("residual, attention", "residual, plain")))
    assert "only for conv" not in space.describe()


@pytest.mark.parametrize(("text", "key", "fragment"), [
    ("heads: 3", "stages.heads", "heads=3 divides no width stage 1 can have (16)"),
    ("heads: [2, 4, 6]", "stages.heads", "heads=6 divides no width"),
    ("position: absolute", "stages.position", "not valid; valid: learned, relative, none"),
])
def test_bad_attention_settings_in_a_space_name_the_file_and_key(tmp_path: Path, text: str, key: str,
                                                                 fragment: str) -> None:
    path = _space(tmp_path, MIXED + f"  {text}\n")
    with pytest.raises(SpaceError) as err:
        load_space(path)
    message = str(err.value)
    assert str(path) in message and key in message and fragment in message


def test_robustness_in_the_space_file(tmp_path: Path) -> None:
    path = _space(tmp_path, MIXED + "search:\n  robustness: {shifts: [translate, noise], severity: 2}\n")
    space = load_space(path)
    assert space.robustness == Robustness(shifts=("translate", "noise"), severity=2)
    config = search_config(space, seed=5)
    assert config.robustness == Robustness(shifts=("translate", "noise"), severity=2, seed=5)
    given = Robustness(shifts=("blur",), severity=4, seed=5)
    assert search_config(space, seed=5, robustness=given).robustness == given  # the command line wins
    every = load_space(_space(tmp_path, MIXED + "search:\n  robustness: all\n")).robustness
    assert every is not None and len(every.shifts) == 6


@pytest.mark.parametrize(("text", "key", "fragment"), [
    ("robustness: {shifts: [tilt]}", "search.robustness.shifts", "unknown shift 'tilt'; valid: translate"),
    ("robustness: [noise, tilt]", "search.robustness", "unknown shift 'tilt'"),
    ("robustness: {severity: 6}", "search.robustness.severity", "must be one of 1, 2, 3, 4, 5"),
    ("robustness: {shift: [noise]}", "search.robustness", "shift"),
    ("objectives: accuracy,robust_accuracy", "search.objectives", "needs the robustness evaluation"),
])
def test_bad_robustness_settings_name_the_file_and_key(tmp_path: Path, text: str, key: str, fragment: str) -> None:
    path = _space(tmp_path, MIXED + f"search:\n  {text}\n")
    with pytest.raises(SpaceError) as err:
        load_space(path)
    message = str(err.value)
    assert str(path) in message and key in message and fragment in message
