"""Block families, stems, downsampling layers and heads, built and run.

The sweep is the full cross product of every registered block x norm x activation x kernel size
(3, 5, 7) x stride (1, 2) x dilation (1, 2), on a two-stage network (stage 1 of depth 2, so a
stride-1 block follows the downsampling one; stage 2 widens, so a residual block needs a
projection) and two 16x16 images. Each case is validated first. An accepted spec is built, run
forward and backward, and its stem and stage outputs must have the sizes `ArchSpec.feature_sizes`
predicts and the widths `stage_widths` gives; the logits must be finite and every parameter must
get a finite gradient. The only rejected cases are stride 2 by `downsample: conv` for the families
that cannot stride (inception, dense, convnext, fire); those must be rejected with the family's
reason, and the same stage downsampled by a pool instead must be accepted and pass the checks above.
The tests run torch on one thread: tiny tensors on several threads are many times slower.

Smaller sweeps cover squeeze-excitation and spatial attention on every family, every downsampling
mode with every family, every stem kind, and the head options; then a few tests per family check
what makes it that family (shortcuts, where the stride sits, groups, concatenated widths, layer
scale and stochastic depth).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator

import pytest
import torch
from torch import nn
from torchvision.ops import SqueezeExcitation, StochasticDepth

from harness import ArchSpec, HeadSpec, SpecError, StageSpec, StemSpec, build_model, validate_spec
from harness.zoo.blocks import BLOCKS, Block
from harness.zoo.blocks.inception import branch_widths
from harness.zoo.layers import ACTIVATIONS, NORMS, BlockSettings, SpatialAttention
from harness.zoo.model import block_settings, drop_path_rates, stage_widths
from harness.zoo.parts import Head, build_downsample
from harness.zoo.spec_values import DOWNSAMPLE_MODES, STEM_KINDS
from tests.support.networks import NUM_CLASSES, SIZE, STEM_WIDTH, WIDTH1, WIDTH2, check_runs, two_stage

# The families whose blocks keep the map size: a stage of theirs can only downsample in front.
NO_STRIDE = {"inception", "dense", "convnext", "fire", "attention", "mlp"}
# The token families: they mix every position, so they refuse every conv-only stage option.
TOKENS = {"attention", "mlp"}
POOLS = ("maxpool", "avgpool")


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def expected_widths(block: str) -> list[int]:
    """Channels out of each stage of `two_stage`: a dense stage adds depth x growth to its input."""
    if block == "dense":
        first = STEM_WIDTH + 2 * WIDTH1
        return [first, first + WIDTH2]
    return [WIDTH1, WIDTH2]


def settings(block: str, norm: str = "batch", activation: str = "relu", **stage: object) -> BlockSettings:
    """What a block of a stage with these options is built with (family defaults filled in)."""
    return block_settings(StageSpec(block=block, **stage), NORMS.get(norm), ACTIVATIONS.get(activation))


def is_inplace(activation: str) -> bool:
    return bool(getattr(ACTIVATIONS.get(activation)(), "inplace", False))


def test_the_families_that_cannot_stride() -> None:
    assert {name for name in BLOCKS.names() if BLOCKS.get(name).no_stride_reason} == NO_STRIDE


# ------------------------------------------------------------------ the sweep
def _sweep_cases() -> Iterator[object]:
    for block, norm, act, k, s, d in itertools.product(BLOCKS.names(), NORMS.names(), ACTIVATIONS.names(),
                                                       (3, 5, 7), (1, 2), (1, 2)):
        yield pytest.param(block, norm, act, k, s, d, id=f"{block}-{norm}-{act}-k{k}-s{s}-d{d}")


@pytest.mark.parametrize(("block", "norm", "activation", "kernel_size", "stride", "dilation"), list(_sweep_cases()))
def test_every_block_norm_activation_and_geometry(
    block: str, norm: str, activation: str, kernel_size: int, stride: int, dilation: int
) -> None:
    spec = two_stage(block, norm, activation, kernel_size, stride, dilation)
    side = SIZE[0] // stride
    assert spec.feature_sizes(SIZE) == [SIZE, (side, side), (side, side)]
    assert stage_widths(spec) == expected_widths(block)
    if stride > 1 and block in NO_STRIDE:
        reason = BLOCKS.get(block).no_stride_reason
        for call in (lambda: validate_spec(spec, SIZE), lambda: build_model(spec, input_size=SIZE)):
            with pytest.raises(SpecError) as err:
                call()
            assert str(err.value) == f"stage 1: {reason}"
        assert "downsample" in reason
        # The same stage downsampled by a pool in front of its blocks is accepted.
        pool = POOLS[(kernel_size + dilation) % 2]
        spec = dataclasses.replace(spec, stages=(dataclasses.replace(spec.stages[0], downsample=pool),
                                                 spec.stages[1]))
        assert spec.feature_sizes(SIZE) == [SIZE, (side, side), (side, side)]
    if block in TOKENS and (kernel_size, dilation) != (3, 1):
        # No kernel: refused, naming the first conv-only field set, then checked at the defaults.
        field = "kernel_size" if kernel_size != 3 else "dilation"
        with pytest.raises(SpecError, match=f"stage 1: block '{block}' mixes every position .* `{field}`"):
            validate_spec(spec, SIZE)
        spec = dataclasses.replace(spec, stages=(dataclasses.replace(spec.stages[0], kernel_size=3, dilation=1),
                                                 spec.stages[1]))
    validate_spec(spec, SIZE)
    model = check_runs(spec)
    blocks = [m for m in model.stages[0] if isinstance(m, Block)]
    assert len(blocks) == 2
    assert len(model.stages[0]) == 2 + (spec.stages[0].downsample != "conv" and stride > 1) + 2 * (block in TOKENS)


@pytest.mark.parametrize("block", sorted(NO_STRIDE))
@pytest.mark.parametrize("pool", POOLS)
def test_no_stride_families_accept_a_pool_in_front(block: str, pool: str) -> None:
    """Both directions, per family: conv at stride 2 rejected, a pool at stride 2 accepted (and
    stride 1 with either is fine: nothing is built in front)."""
    with pytest.raises(SpecError, match="stage 1"):
        validate_spec(two_stage(block, stride=2, downsample="conv"), SIZE)
    validate_spec(two_stage(block, stride=1, downsample="conv"), SIZE)
    model = check_runs(two_stage(block, stride=2, downsample=pool))
    assert isinstance(model.stages[0][0], nn.MaxPool2d if pool == "maxpool" else nn.AvgPool2d)
    rest = model.stages[0][1:]
    if block in TOKENS:  # the blocks between the map-to-tokens and tokens-to-map layers
        assert [type(m).__name__ for m in (rest[0], rest[-1])] == ["ToTokens", "ToMap"]
        rest = rest[1:-1]
    assert all(isinstance(b, BLOCKS.get(block)) for b in rest)


def _downsample_for(block: str) -> str:
    return "maxpool" if block in NO_STRIDE else "conv"


# ------------------------------------------------------------------ squeeze-excitation and spatial attention
@pytest.mark.parametrize("attention", ["none", "spatial"])
@pytest.mark.parametrize("se", [0, 4])
@pytest.mark.parametrize("block", BLOCKS.names())
def test_se_and_spatial_attention_on_every_block(block: str, se: int, attention: str) -> None:
    spec = two_stage(block, stride=2, downsample=_downsample_for(block), se=se, attention=attention)
    if block in TOKENS and (se or attention != "none"):
        field = "se" if se else "attention"
        with pytest.raises(SpecError, match=f"stage 1: block '{block}' mixes every position .* `{field}`"):
            validate_spec(spec, SIZE)
        return
    validate_spec(spec, SIZE)
    model = check_runs(spec)
    blocks = [m for m in model.modules() if isinstance(m, BLOCKS.get(block))]
    assert len(blocks) == 3
    for b in blocks:
        ses = [m for m in b.modules() if isinstance(m, SqueezeExcitation)]
        gates = [m for m in b.modules() if isinstance(m, SpatialAttention)]
        assert len(ses) == (se > 0) and len(gates) == (attention == "spatial")
        if ses:  # squeezes to channels // se
            assert ses[0].fc1.out_channels == max(1, ses[0].fc1.in_channels // se)


def test_se_squeezes_the_block_output_or_the_expanded_channels() -> None:
    for block, channels in (("plain", 16), ("residual", 16), ("bottleneck", 16), ("fire", 16),
                            ("inception", 16), ("convnext", 16), ("separable", 16),
                            ("inverted_residual", 8 * 6), ("dense", 16 - 8)):
        module = BLOCKS.get(block)(8, 16, 1, settings(block, se=4))
        se = [m for m in module.modules() if isinstance(m, SqueezeExcitation)]
        assert len(se) == 1, block
        assert (se[0].fc1.in_channels, se[0].fc1.out_channels) == (channels, channels // 4), block


# ------------------------------------------------------------------ downsampling modes
def _mode_cases() -> Iterator[object]:
    for mode, block in itertools.product(DOWNSAMPLE_MODES, BLOCKS.names()):
        yield pytest.param(mode, block, id=f"{mode}-{block}")


@pytest.mark.parametrize(("mode", "block"), list(_mode_cases()))
def test_every_downsample_mode_with_every_family(mode: str, block: str) -> None:
    spec = two_stage(block, stride=2, downsample=mode)
    if mode == "conv" and block in NO_STRIDE:
        with pytest.raises(SpecError, match="stage 1: .*downsample"):
            validate_spec(spec, SIZE)
        return
    validate_spec(spec, SIZE)
    model = check_runs(spec)
    first = model.stages[0][0]
    if mode == "conv":
        assert isinstance(first, BLOCKS.get(block))
    else:
        assert not isinstance(first, BLOCKS.get(block))
        down, _ = build_downsample(spec.stages[0], STEM_WIDTH, NORMS.get("batch"), ACTIVATIONS.get("relu"))
        assert [type(m) for m in first.modules()] == [type(m) for m in down.modules()]


@pytest.mark.parametrize("mode", [m for m in DOWNSAMPLE_MODES if m != "conv"])
def test_no_downsampling_layer_at_stride_1(mode: str) -> None:
    model = build_model(two_stage("plain", stride=1, downsample=mode), input_size=SIZE)
    assert all(isinstance(m, BLOCKS.get("plain")) for m in model.stages[0])


@pytest.mark.parametrize(("mode", "size", "expected"),
                         [("maxpool", 15, 7), ("avgpool", 15, 7), ("patch", 15, 7), ("transition", 15, 7),
                          ("maxpool3", 15, 7), ("maxpool3", 16, 8), ("conv", 15, 8)])
def test_downsample_sizes_at_odd_inputs(mode: str, size: int, expected: int) -> None:
    """Pools and patch convs floor (no padding); maxpool3 is GoogLeNet's ceil-mode 3x3/2; conv ceils."""
    block = "dense" if mode == "transition" else "convnext" if mode == "patch" else "plain"
    spec = two_stage(block, stride=2, downsample=mode)
    assert spec.feature_sizes((size, size))[1] == (expected, expected)
    check_runs(spec, (size, size))


def test_transition_densenet_style() -> None:
    """DenseNet: dense stage -> norm-act-1x1 conv to compression x width -> 2x2 average pool -> dense stage."""
    spec = ArchSpec(
        stem=StemSpec(width=6),
        stages=(StageSpec(block="dense", depth=3, width=4),
                StageSpec(block="dense", depth=2, width=4, stride=2, downsample="transition", compression=0.25)),
        head=HeadSpec(norm="pre"),
    )
    # 6 + 3 x 4 = 18 -> transition floor(18 x 0.25) = 4 -> 4 + 2 x 4 = 12.
    assert stage_widths(spec) == [18, 12]
    model = check_runs(spec)
    transition = model.stages[1][0]
    assert [type(m) for m in transition] == [nn.BatchNorm2d, nn.ReLU, nn.Conv2d, nn.AvgPool2d]
    conv = transition[2]
    assert (conv.in_channels, conv.out_channels, conv.kernel_size) == (18, 4, (1, 1))
    assert transition[3].kernel_size == 2 and transition[3].stride == 2
    with pytest.raises(SpecError, match="compression"):
        validate_spec(dataclasses.replace(spec, stages=(spec.stages[0], dataclasses.replace(
            spec.stages[1], downsample="avgpool"))))


def test_compression_only_with_a_transition() -> None:
    for mode in DOWNSAMPLE_MODES:
        spec = two_stage("dense", stride=2, downsample=mode)
        spec = dataclasses.replace(spec, stages=(dataclasses.replace(spec.stages[0], compression=0.25),
                                                 spec.stages[1]))
        if mode == "transition":
            validate_spec(spec, SIZE)
            assert stage_widths(spec)[0] == STEM_WIDTH // 4 + 2 * WIDTH1
        else:
            with pytest.raises(SpecError) as err:
                validate_spec(spec, SIZE)
            assert "compression" in str(err.value) and repr(mode) in str(err.value)


def test_patch_convnext_style() -> None:
    """ConvNeXt: patchify stem -> blocks -> norm then 2x2/2 conv to the new width -> blocks."""
    spec = ArchSpec(
        stem=StemSpec(kind="patchify", width=8, kernel_size=2, stride=2),
        stages=(StageSpec(block="convnext", depth=1, width=8),
                StageSpec(block="convnext", depth=2, width=16, stride=2, downsample="patch")),
        head=HeadSpec(norm="post"), norm="layer", activation="gelu",
    )
    assert spec.feature_sizes(SIZE) == [(8, 8), (8, 8), (4, 4)]
    model = check_runs(spec)
    patch = model.stages[1][0]
    assert [type(m) for m in patch] == [NORMS.get("layer"), nn.Conv2d]
    conv = patch[1]
    assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride) == (8, 16, (2, 2), (2, 2))
    # The width changes in the patch layer, so the blocks behind it need no projection of their own.
    assert all(isinstance(b.project, nn.Identity) for b in model.stages[1][1:])


# ------------------------------------------------------------------ stems
STEMS = [
    # (stem, input side, side after the stem)
    (StemSpec(kind="conv", width=8, kernel_size=3, stride=1), 32, 32),
    (StemSpec(kind="conv", width=8, kernel_size=5, stride=2), 33, 17),
    (StemSpec(kind="imagenet", width=8, kernel_size=7, stride=2), 32, 8),
    (StemSpec(kind="imagenet", width=8, kernel_size=7, stride=2), 33, 9),
    (StemSpec(kind="patchify", width=8, kernel_size=4, stride=4), 32, 8),
    (StemSpec(kind="patchify", width=8, kernel_size=4, stride=4), 30, 7),
    (StemSpec(kind="patch_embed", width=8, kernel_size=4, stride=4), 32, 8),
    (StemSpec(kind="patch_embed", width=8, kernel_size=4, stride=4), 30, 7),
    (StemSpec(kind="googlenet", width=6, kernel_size=7, stride=2), 32, 4),
    (StemSpec(kind="googlenet", width=6, kernel_size=7, stride=2), 33, 4),
    (StemSpec(kind="squeezenet", width=8, kernel_size=3, stride=2), 32, 7),
    (StemSpec(kind="squeezenet", width=8, kernel_size=3, stride=2), 33, 8),
    (StemSpec(kind="none"), 16, 16),
]


def test_stem_cases_cover_every_kind() -> None:
    assert {stem.kind for stem, _, _ in STEMS} == set(STEM_KINDS)


@pytest.mark.parametrize("in_channels", [3, 1])
@pytest.mark.parametrize(("stem", "side", "after"), STEMS, ids=[f"{s.kind}-{n}" for s, n, _ in STEMS])
def test_every_stem_kind(stem: StemSpec, side: int, after: int, in_channels: int) -> None:
    spec = ArchSpec(stem=stem, stages=(StageSpec(width=8, depth=1), StageSpec(width=8, stride=2)))
    assert spec.feature_sizes((side, side))[0] == (after, after)
    model = check_runs(spec, (side, side), in_channels)
    out = model.stem(torch.randn(1, in_channels, side, side))
    assert tuple(out.shape) == (1, in_channels if stem.kind == "none" else stem.width, after, after)
    if stem.kind == "none":
        assert isinstance(model.stem, nn.Identity)
        assert model.stages[0][0].layer[0].in_channels == in_channels


@pytest.mark.parametrize(("stem", "fragment"), [
    (StemSpec(kind="patchify", width=8, kernel_size=3, stride=4), "kernel_size (3) and stride (4)"),
    (StemSpec(kind="googlenet", width=8), "multiple of 3"),
    (StemSpec(kind="conv", width=8, kernel_size=4), "odd"),
    (StemSpec(kind="squeezenet", width=8, kernel_size=7, stride=2), "at least 7x7"),
    (StemSpec(kind="patchify", width=8, kernel_size=8, stride=8), "it has none"),
    (StemSpec(kind="patch_embed", width=8, kernel_size=3, stride=2), "kernel_size (3) and stride (2)"),
], ids=["patchify-kernel", "googlenet-width", "even-kernel", "squeezenet-small", "patchify-small", "embed-kernel"])
def test_bad_stem_is_rejected(stem: StemSpec, fragment: str) -> None:
    spec = ArchSpec(stem=stem, stages=(StageSpec(width=8),))
    with pytest.raises(SpecError) as err:
        validate_spec(spec, (6, 6))
    assert fragment in str(err.value)


# ------------------------------------------------------------------ heads
HEADS = [
    HeadSpec(),
    HeadSpec(pool="max"),
    HeadSpec(pool_size=2),
    HeadSpec(norm="pre"),
    HeadSpec(norm="post", pool="max"),
    HeadSpec(width=12),
    HeadSpec(hidden=(16,)),
    HeadSpec(hidden=(16, 12), dropout=0.5, pool_size=2),
    HeadSpec(dropout=0.5),
    HeadSpec(pre_pool="maxpool"),
    HeadSpec(classifier="conv"),
    HeadSpec(classifier="conv", pool="max", dropout=0.3, pre_pool="maxpool", width=12, norm="pre"),
]


@pytest.mark.parametrize("head", HEADS, ids=[f"head{i}" for i in range(len(HEADS))])
def test_head_options(head: HeadSpec) -> None:
    spec = dataclasses.replace(two_stage("plain", stride=2), head=head)
    model = check_runs(spec)
    h = model.head
    x = torch.randn(3, WIDTH2, 8, 8)
    assert tuple(h(x).shape) == (3, NUM_CLASSES)
    width = head.width or WIDTH2
    assert any(isinstance(m, nn.BatchNorm2d) for m in h.pre_norm.modules()) == (head.norm == "pre")
    assert isinstance(h.conv, nn.Identity) == (head.width == 0)
    assert isinstance(h.pre_pool, nn.MaxPool2d) == (head.pre_pool == "maxpool")
    assert any(isinstance(m, nn.Dropout) and m.p == head.dropout for m in h.modules()) == (head.dropout > 0)
    linears = [m for m in h.modules() if isinstance(m, nn.Linear)]
    if head.classifier == "conv":
        assert not linears
        assert isinstance(h.classifier, nn.Conv2d) and h.classifier.kernel_size == (1, 1)
        assert (h.classifier.in_channels, h.classifier.out_channels) == (width, NUM_CLASSES)
    else:
        assert isinstance(h.post_norm, nn.BatchNorm2d) == (head.norm == "post")
        assert [m.out_features for m in linears] == [*head.hidden, NUM_CLASSES]
        assert linears[0].in_features == width * head.pool_size**2
        assert h.classifier is linears[-1]


@pytest.mark.parametrize("pool", ["avg", "max"])
def test_linear_head_classifies_the_pooled_features(pool: str) -> None:
    head = Head(HeadSpec(pool=pool, dropout=0.5), 6, NUM_CLASSES, NORMS.get("batch"), ACTIVATIONS.get("relu")).eval()
    x = torch.randn(2, 6, 5, 5)
    pooled = x.amax((2, 3)) if pool == "max" else x.mean((2, 3))
    torch.testing.assert_close(head(x), head.classifier(pooled))  # dropout is off in eval mode


def test_conv_head_classifies_each_position_then_averages() -> None:
    head = Head(HeadSpec(classifier="conv"), 6, NUM_CLASSES, NORMS.get("batch"), ACTIVATIONS.get("relu")).eval()
    x = torch.randn(2, 6, 5, 5)
    torch.testing.assert_close(head(x), torch.relu(head.classifier(x)).mean((2, 3)))


@pytest.mark.parametrize("head", [HeadSpec(classifier="conv", hidden=(8,)), HeadSpec(classifier="conv", pool_size=2),
                                  HeadSpec(classifier="conv", norm="post")], ids=["hidden", "pool_size", "post"])
def test_conv_classifier_refuses_linear_head_options(head: HeadSpec) -> None:
    with pytest.raises(SpecError, match="conv classifier"):
        validate_spec(dataclasses.replace(two_stage("plain"), head=head))


def test_head_max_pool_needs_a_2x2_map() -> None:
    spec = dataclasses.replace(two_stage("plain", stride=2), head=HeadSpec(pre_pool="maxpool"))
    validate_spec(spec, (3, 3))  # stage 1 halves 3x3 to 2x2 (ceil)
    with pytest.raises(SpecError, match="2x2 max-pool needs a map of at least 2x2, not 1x1"):
        validate_spec(spec, (2, 2))


# ------------------------------------------------------------------ residual families
@pytest.mark.parametrize("block", ["residual", "bottleneck"])
def test_identity_shortcut_when_shape_is_kept(block: str) -> None:
    module = BLOCKS.get(block)(8, 8, 1, settings(block)).eval()
    assert isinstance(module.shortcut, nn.Identity)
    last = module.conv2 if block == "residual" else module.conv3
    with torch.no_grad():
        last[0].weight.zero_()  # silence the body: the block is the activation of its input
    x = torch.randn(2, 8, 8, 8)
    torch.testing.assert_close(module(x), torch.relu(x))


@pytest.mark.parametrize("block", ["residual", "bottleneck"])
@pytest.mark.parametrize(("in_width", "out_width", "stride"), [(4, 8, 1), (8, 8, 2), (4, 8, 2)])
def test_projection_shortcut_when_width_or_stride_changes(block: str, in_width: int, out_width: int,
                                                          stride: int) -> None:
    module = BLOCKS.get(block)(in_width, out_width, stride, settings(block)).eval()
    convs = [m for m in module.shortcut.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 1
    conv = convs[0]
    assert (conv.in_channels, conv.out_channels) == (in_width, out_width)
    assert conv.kernel_size == (1, 1) and conv.stride == (stride, stride)
    assert not any(isinstance(m, nn.ReLU) for m in module.shortcut.modules())
    x = torch.randn(2, in_width, 9, 9)
    side = -(-9 // stride)
    assert tuple(module(x).shape) == (2, out_width, side, side)
    last = module.conv2 if block == "residual" else module.conv3
    with torch.no_grad():
        last[0].weight.zero_()
    torch.testing.assert_close(module(x), torch.relu(module.shortcut(x)))


@pytest.mark.parametrize("block", ["residual", "bottleneck", "inverted_residual"])
def test_built_model_projects_exactly_where_shape_changes(block: str) -> None:
    spec = two_stage(block, stride=2)
    model = build_model(spec, input_size=SIZE)
    blocks = [b for stage in model.stages for b in stage]
    # (in, out, stride) of each block: 4->4 at 2, 4->4, 4->8.
    shapes = [(STEM_WIDTH, WIDTH1, 2), (WIDTH1, WIDTH1, 1), (WIDTH1, WIDTH2, 1)]
    assert len(blocks) == len(shapes)
    for b, (cin, cout, stride) in zip(blocks, shapes, strict=True):
        keeps = cin == cout and stride == 1
        if block == "inverted_residual":
            assert b.use_residual == keeps
        else:
            assert isinstance(b.shortcut, nn.Identity) == keeps


def test_bottleneck_strides_on_its_kxk_conv() -> None:
    module = BLOCKS.get("bottleneck")(8, 16, 2, settings("bottleneck", kernel_size=5))
    c1, c2, c3 = module.conv1[0], module.conv2[0], module.conv3[0]
    assert (c1.kernel_size, c1.stride) == ((1, 1), (1, 1))
    assert (c2.kernel_size, c2.stride) == ((5, 5), (2, 2))
    assert (c3.kernel_size, c3.stride) == ((1, 1), (1, 1))
    # ResNet's inner width: width x 0.25.
    assert (c1.out_channels, c2.out_channels, c3.out_channels) == (4, 4, 16)
    assert tuple(module(torch.randn(2, 8, 9, 9)).shape) == (2, 16, 5, 5)


def test_resnext_grouped_conv_has_groups_equal_to_cardinality() -> None:
    spec = ArchSpec(stem=StemSpec(width=8),
                    stages=(StageSpec(block="bottleneck", width=16, groups=4, group_width=2, stride=2),))
    model = check_runs(spec)
    module = model.stages[0][0]
    assert module.conv2[0].groups == 4
    assert (module.conv2[0].in_channels, module.conv2[0].out_channels) == (8, 8)  # groups x group_width
    assert module.conv1[0].groups == module.conv3[0].groups == 1
    assert "g4" in spec.label and "gw2" in spec.label
    # A cardinality that does not divide the inner width is refused, as are expansion and group_width together.
    with pytest.raises(SpecError, match="groups=3 must divide"):
        validate_spec(dataclasses.replace(spec, stages=(StageSpec(block="bottleneck", width=16, groups=3),)))
    with pytest.raises(SpecError, match="not both"):
        validate_spec(dataclasses.replace(spec, stages=(StageSpec(block="bottleneck", width=16, groups=4,
                                                                  group_width=2, expansion=0.5),)))


# ------------------------------------------------------------------ mobile families
@pytest.mark.parametrize(("in_width", "out_width", "stride", "residual"),
                         [(4, 4, 1, True), (4, 8, 1, False), (4, 4, 2, False), (4, 8, 2, False)])
def test_inverted_residual_adds_its_input_only_when_shape_is_kept(in_width: int, out_width: int, stride: int,
                                                                  residual: bool) -> None:
    module = BLOCKS.get("inverted_residual")(in_width, out_width, stride, settings("inverted_residual")).eval()
    assert module.use_residual == residual
    x = torch.randn(2, in_width, 8, 8)
    body = module.project(module.attention(module.dwconv(module.expand(x))))
    torch.testing.assert_close(module(x), x + body if residual else body)
    # Expand by 6 over the input width; depthwise conv carries the stride.
    dw = module.dwconv[0]
    assert dw.groups == dw.in_channels == dw.out_channels == 6 * in_width
    assert dw.stride == (stride, stride)
    # The projection is linear: conv then norm, no activation, so it can give negative outputs.
    assert [type(m) for m in module.project] == [nn.Conv2d, nn.BatchNorm2d]
    assert (module.train().project(module.dwconv(module.expand(x))) < 0).any()


def test_inverted_residual_expansion_1_drops_the_expanding_conv() -> None:
    module = BLOCKS.get("inverted_residual")(8, 8, 1, settings("inverted_residual", expansion=1.0))
    assert isinstance(module.expand, nn.Identity) and module.dwconv[0].in_channels == 8


@pytest.mark.parametrize("stride", [1, 2])
def test_separable_depthwise_then_pointwise(stride: int) -> None:
    module = BLOCKS.get("separable")(6, 10, stride, settings("separable", kernel_size=5))
    dw, pw = module.dwconv[0], module.pwconv[0]
    assert dw.groups == dw.in_channels == dw.out_channels == 6
    assert dw.kernel_size == (5, 5) and dw.stride == (stride, stride)
    assert (pw.kernel_size, pw.groups, pw.in_channels, pw.out_channels) == ((1, 1), 1, 6, 10)


# ------------------------------------------------------------------ dense
def test_dense_stage_grows_by_depth_times_growth() -> None:
    spec = ArchSpec(stem=StemSpec(width=6), stages=(StageSpec(block="dense", depth=3, width=4),
                                                    StageSpec(block="dense", depth=2, width=5)))
    assert stage_widths(spec) == [6 + 3 * 4, 6 + 3 * 4 + 2 * 5]
    model = check_runs(spec)
    assert [(b.bottleneck[2].in_channels, b.conv[2].out_channels) for b in model.stages[0]] == [(6, 4), (10, 4),
                                                                                                  (14, 4)]
    # DenseNet's bn_size: the 1x1 bottleneck has expansion (4) x growth channels.
    assert all(b.bottleneck[2].out_channels == 16 for b in model.stages[0])


def test_dense_layer_passes_its_input_through() -> None:
    module = BLOCKS.get("dense")(6, 10, 1, settings("dense")).eval()
    x = torch.randn(2, 6, 5, 5)
    out = module(x)
    assert out.shape == (2, 10, 5, 5)
    torch.testing.assert_close(out[:, :6], x)


def _activation_cases() -> Iterator[object]:
    for where, act in itertools.product(("dense", "transition", "head"), ACTIVATIONS.names()):
        yield pytest.param(where, act, id=f"{where}-{act}")


@pytest.mark.parametrize(("where", "activation"), list(_activation_cases()))
def test_activation_after_a_missing_norm_leaves_its_input_alone(where: str, activation: str) -> None:
    """Pre-activation parts (dense layer, transition, head norm "pre") are norm -> act -> ...; with
    norm "none" the activation is the first thing to touch the input, which belongs to the caller."""
    act = ACTIVATIONS.get(activation)
    if where == "dense":
        module = BLOCKS.get("dense")(6, 10, 1, settings("dense", norm="none", activation=activation))
    elif where == "transition":
        module, _ = build_downsample(StageSpec(stride=2, downsample="transition"), 6, None, act)
    else:
        module = Head(HeadSpec(norm="pre"), 6, NUM_CLASSES, None, act)
    x = torch.randn(2, 6, 4, 4)
    before = x.clone()
    module(x)
    assert torch.equal(x, before), "the input was modified in place"


# ------------------------------------------------------------------ convnext
def _convnext_spec(drop_path: float) -> ArchSpec:
    return ArchSpec(
        stem=StemSpec(kind="patchify", width=8, kernel_size=2, stride=2),
        stages=(StageSpec(block="convnext", depth=2, width=8),
                StageSpec(block="convnext", depth=2, width=16, stride=2, downsample="patch")),
        head=HeadSpec(norm="post"), norm="layer", activation="gelu", drop_path=drop_path,
    )


def test_convnext_layer_scale() -> None:
    module = BLOCKS.get("convnext")(8, 8, 1, settings("convnext", norm="layer", activation="gelu"))
    assert "layer_scale" in dict(module.named_parameters())
    assert module.layer_scale.shape == (8, 1, 1)
    assert torch.all(module.layer_scale == 1e-6)
    with torch.no_grad():
        module.layer_scale.zero_()
    x = torch.randn(2, 8, 6, 6)
    torch.testing.assert_close(module(x), x)  # a zero layer scale leaves only the identity path
    with torch.no_grad():
        module.layer_scale.fill_(1.0)
    assert not torch.allclose(module(x), x)
    # Depthwise kxk, then the 4x inverted bottleneck.
    assert module.dwconv.groups == 8 and module.pwconv1.out_channels == 32


def test_convnext_drop_path_is_stochastic_in_training_only() -> None:
    spec = _convnext_spec(0.5)
    model = build_model(spec, input_size=SIZE)
    blocks = [b for stage in model.stages for b in stage if isinstance(b, BLOCKS.get("convnext"))]
    rates = drop_path_rates(spec)
    assert rates == pytest.approx([0, 0.5 / 3, 1 / 3, 0.5])
    for b, rate in zip(blocks, rates, strict=True):
        if rate == 0:
            assert isinstance(b.drop_path, nn.Identity)
        else:
            assert isinstance(b.drop_path, StochasticDepth) and b.drop_path.p == pytest.approx(rate)
    with torch.no_grad():
        for b in blocks:
            b.layer_scale.fill_(1.0)  # make each block's contribution large enough to see
    x = torch.randn(8, 3, *SIZE)
    model.train()
    torch.manual_seed(1)
    first = model(x)
    outs = []
    for seed in range(2, 6):
        torch.manual_seed(seed)
        outs.append(model(x))
    assert any(not torch.equal(first, out) for out in outs)
    model.eval()
    torch.testing.assert_close(model(x), model(x), rtol=0, atol=0)
    # In eval mode stochastic depth is the identity: the same weights without it give the same logits.
    plain = build_model(_convnext_spec(0.0), input_size=SIZE).eval()
    plain.load_state_dict(model.state_dict())
    torch.testing.assert_close(plain(x), model(x))
    plain.train()
    torch.manual_seed(1)
    a = plain(x)
    torch.manual_seed(2)
    torch.testing.assert_close(a, plain(x))


def test_convnext_projects_when_the_width_changes() -> None:
    module = BLOCKS.get("convnext")(8, 12, 1, settings("convnext", norm="layer", activation="gelu"))
    assert [type(m) for m in module.project] == [NORMS.get("layer"), nn.Conv2d]
    assert tuple(module(torch.randn(2, 8, 5, 5)).shape) == (2, 12, 5, 5)


# ------------------------------------------------------------------ inception and fire
@pytest.mark.parametrize("width", [4, 5, 7, 16, 33, 64, 256])
def test_inception_concatenates_to_the_stage_width(width: int) -> None:
    widths = branch_widths(width, None)
    assert widths[0] + widths[2] + widths[4] + widths[5] == width
    assert min(widths) >= 1
    module = BLOCKS.get("inception")(8, width, 1, settings("inception"))
    outs = [module.branch1[0], module.branch2[1][0], module.branch3[1][0], module.branch4[1][0]]
    assert sum(c.out_channels for c in outs) == width
    assert tuple(module(torch.randn(2, 8, 6, 6)).shape) == (2, width, 6, 6)


def test_inception_googlenet_3a_widths() -> None:
    # GoogLeNet's inception (3a): 64 | 96 -> 128 | 16 -> 32 | pool -> 32 = 256.
    assert branch_widths(256, None) == (64, 96, 128, 16, 32, 32)


def test_inception_wide_kernel_and_explicit_branches() -> None:
    module = BLOCKS.get("inception")(8, 10, 1, settings("inception", kernel_size=3, wide_kernel=5,
                                                        branches=(4, 2, 3, 1, 2, 1)))
    assert module.branch2[1][0].kernel_size == (3, 3) and module.branch3[1][0].kernel_size == (5, 5)
    assert tuple(module(torch.randn(1, 8, 6, 6)).shape) == (1, 10, 6, 6)
    spec = two_stage("inception", branches=(4, 2, 3, 1, 2, 2))  # sums to 11, not 4 or 8
    with pytest.raises(SpecError, match="stage 1: inception branches"):
        validate_spec(spec)


@pytest.mark.parametrize("width", [2, 7, 16])
def test_fire_expands_to_the_width_in_two_halves(width: int) -> None:
    module = BLOCKS.get("fire")(8, width, 1, settings("fire", kernel_size=3))
    assert module.squeeze[0].out_channels == max(1, round(width * 0.125))
    assert (module.expand1x1[0].out_channels, module.expand_kxk[0].out_channels) == (width // 2, width - width // 2)
    assert module.expand_kxk[0].kernel_size == (3, 3)
    assert tuple(module(torch.randn(2, 8, 6, 6)).shape) == (2, width, 6, 6)


def test_narrow_inception_and_fire_are_rejected() -> None:
    for block, width in (("inception", 3), ("fire", 1)):
        spec = ArchSpec(stem=StemSpec(width=8), stages=(StageSpec(block=block, width=8),
                                                         StageSpec(block=block, width=width)))
        with pytest.raises(SpecError, match=f"stage 2: .*at least {width + 1}"):
            validate_spec(spec)
