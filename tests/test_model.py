"""Model building: every registered block x norm x activation, at every kernel size, stride and dilation,
builds, runs forward and backward and matches the spec's feature sizes; the padding rule, LayerNorm2d,
residual shortcuts; bad specs are rejected with the reason before anything is built; spec identity."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from collections.abc import Iterator

import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.modules.module import register_module_module_registration_hook

from harness import ArchSpec, HeadSpec, SpecError, StageSpec, StemSpec, build_model, validate_spec
from harness.blocks import BLOCKS
from harness.layers import ACTIVATIONS, NORMS, LayerNorm2d, LayerSettings, conv_norm_act
from harness.spec import DOWNSAMPLE_MODES, HEAD_POOLS

SIZE = (16, 16)
NUM_CLASSES = 5


def two_stage(block: str, norm: str, activation: str, kernel_size: int = 3, stride: int = 1,
              dilation: int = 1, downsample: str = "conv") -> ArchSpec:
    """Stage 1 at the given kernel/stride/dilation (depth 2, so a stride-1 block follows the
    downsampling one); stage 2 at stride 1 and a new width, so a residual block needs a projection."""
    return ArchSpec(
        stem=StemSpec(width=4),
        stages=(
            StageSpec(block=block, depth=2, width=4, kernel_size=kernel_size, stride=stride,
                      dilation=dilation, downsample=downsample),
            StageSpec(block=block, depth=1, width=6, kernel_size=3, stride=1),
        ),
        norm=norm,
        activation=activation,
    )


# ------------------------------------------------------------------ every combination builds and trains
@pytest.mark.parametrize("downsample", DOWNSAMPLE_MODES)
@pytest.mark.parametrize("dilation", [1, 2])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("kernel_size", [3, 5, 7])
@pytest.mark.parametrize("activation", ACTIVATIONS.names())
@pytest.mark.parametrize("norm", NORMS.names())
@pytest.mark.parametrize("block", BLOCKS.names())
def test_every_combination_builds_runs_and_backpropagates(
    block: str, norm: str, activation: str, kernel_size: int, stride: int, dilation: int, downsample: str
) -> None:
    spec = two_stage(block, norm, activation, kernel_size, stride, dilation, downsample)
    torch.manual_seed(0)
    model = build_model(spec, num_classes=NUM_CLASSES, input_size=SIZE).train()
    x = torch.randn(2, 3, *SIZE)
    sizes = spec.feature_sizes(SIZE)

    # Every intermediate map has the size the spec predicts without building anything.
    h = model.stem(x)
    assert tuple(h.shape[-2:]) == sizes[0]
    for stage, size, stage_spec in zip(model.stages, sizes[1:], spec.stages, strict=True):
        h = stage(h)
        assert tuple(h.shape) == (2, stage_spec.width, *size)
    assert tuple(model.features(x).shape) == (2, spec.stages[-1].width, *sizes[-1])

    out = model(x)
    assert tuple(out.shape) == (2, NUM_CLASSES)
    assert torch.isfinite(out).all()
    F.cross_entropy(out, torch.tensor([0, NUM_CLASSES - 1])).backward()
    params = list(model.named_parameters())
    assert params
    for name, p in params:
        assert p.grad is not None, f"{name} received no gradient"
        assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"
    assert any(p.grad.abs().sum() > 0 for _, p in params)


@pytest.mark.parametrize("pool", HEAD_POOLS)
@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_head_pool_and_dropout(pool: str, dropout: float) -> None:
    spec = dataclasses.replace(two_stage("plain", "batch", "relu"), head=HeadSpec(pool=pool, dropout=dropout))
    model = build_model(spec, num_classes=NUM_CLASSES, input_size=SIZE).eval()
    x = torch.randn(2, 3, *SIZE)
    pooled = model.features(x).amax((2, 3)) if pool == "max" else model.features(x).mean((2, 3))
    # In eval mode dropout is off: the logits are the linear layer applied to the pooled features.
    torch.testing.assert_close(model(x), model.classifier(pooled))
    assert any(isinstance(m, nn.Dropout) for m in model.modules()) == (dropout > 0)


def test_norm_none_is_registered_and_builds_without_norm_layers() -> None:
    # layers.py registers "none" with NORMS.register("none", None), but Registry.register treats
    # obj=None as "use me as a decorator" and registers nothing.
    assert "none" in NORMS, f"norm 'none' is not registered; NORMS has only {NORMS.names()}"
    spec = two_stage("residual", "none", "relu", stride=2)
    model = build_model(spec, input_size=SIZE)
    norm_types = (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)
    assert not any(isinstance(m, norm_types) for m in model.modules())
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(c.bias is not None for c in convs)  # no norm follows, so the conv has a bias


# ------------------------------------------------------------------ padding rule
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("dilation", [1, 2, 3])
@pytest.mark.parametrize("kernel_size", [1, 3, 5, 7, 9, 11])
def test_same_padding_keeps_size_at_stride_1_and_gives_ceil_otherwise(
    kernel_size: int, dilation: int, stride: int
) -> None:
    layer = conv_norm_act(2, 3, kernel_size=kernel_size, stride=stride, dilation=dilation,
                          norm=NORMS.get("batch"), act=ACTIVATIONS.get("relu"))
    h, w = 13, 10
    y = layer(torch.randn(2, 2, h, w))
    assert tuple(y.shape) == (2, 3, math.ceil(h / stride), math.ceil(w / stride))
    spec = ArchSpec(stem=StemSpec(width=2, kernel_size=kernel_size, stride=stride), stages=(StageSpec(),))
    assert spec.feature_sizes((h, w))[0] == tuple(y.shape[-2:])


def test_same_padding_centres_the_kernel() -> None:
    # An impulse at the centre of the input lands at the centre of the output (symmetric padding).
    layer = conv_norm_act(1, 1, kernel_size=5, dilation=2, norm=None, act=None)
    x = torch.zeros(1, 1, 11, 11)
    x[0, 0, 5, 5] = 1
    with torch.no_grad():
        layer[0].weight.zero_()
        layer[0].weight[0, 0, 2, 2] = 1  # the centre tap only
        layer[0].bias.zero_()
        torch.testing.assert_close(layer(x), x)


# ------------------------------------------------------------------ LayerNorm2d
def test_layer_norm_2d_normalises_channels_at_each_position() -> None:
    torch.manual_seed(0)
    norm = NORMS.get("layer")(6)
    assert isinstance(norm, LayerNorm2d)
    # Different offset and scale at every position, so a norm over the whole map would not pass.
    x = torch.randn(3, 6, 5, 7) * torch.rand(1, 1, 5, 7).mul(5).add(0.5) + torch.randn(1, 1, 5, 7) * 10
    y = norm(x)
    assert y.shape == x.shape
    torch.testing.assert_close(y.mean(1), torch.zeros(3, 5, 7), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.var(1, unbiased=False), torch.ones(3, 5, 7), atol=1e-3, rtol=0)
    # Each position depends only on itself.
    x2 = x.clone()
    x2[:, :, 0, 0] += 100
    y2 = norm(x2)
    torch.testing.assert_close(y2[:, :, 1:], y[:, :, 1:])
    torch.testing.assert_close(y2[:, :, 0, 1:], y[:, :, 0, 1:])


# ------------------------------------------------------------------ residual shortcut
def _settings() -> LayerSettings:
    return LayerSettings(kernel_size=3, norm=NORMS.get("batch"), act=ACTIVATIONS.get("relu"))


def test_residual_identity_shortcut_when_shape_is_kept() -> None:
    block = BLOCKS.get("residual")(4, 4, 1, _settings()).eval()
    assert isinstance(block.shortcut, nn.Identity)
    assert not any(isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) for m in block.modules())
    # With the residual branch silenced, the block is the activation of its input.
    with torch.no_grad():
        block.conv2[0].weight.zero_()
    x = torch.randn(2, 4, 8, 8)
    torch.testing.assert_close(block(x), torch.relu(x))


@pytest.mark.parametrize(("in_width", "out_width", "stride"), [(4, 6, 1), (4, 4, 2), (4, 6, 2)])
def test_residual_projection_shortcut_when_width_or_stride_changes(
    in_width: int, out_width: int, stride: int
) -> None:
    block = BLOCKS.get("residual")(in_width, out_width, stride, _settings()).eval()
    convs = [m for m in block.shortcut.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 1
    conv = convs[0]
    assert (conv.in_channels, conv.out_channels) == (in_width, out_width)
    assert conv.kernel_size == (1, 1) and conv.stride == (stride, stride)
    x = torch.randn(2, in_width, 9, 9)
    out_size = math.ceil(9 / stride)
    assert tuple(block(x).shape) == (2, out_width, out_size, out_size)
    with torch.no_grad():
        block.conv2[0].weight.zero_()
    # Residual branch silenced: what remains is the activated projection.
    torch.testing.assert_close(block(x), torch.relu(block.shortcut(x)))


def test_built_residual_model_projects_exactly_where_shape_changes() -> None:
    spec = two_stage("residual", "batch", "relu", stride=2)
    model = build_model(spec, input_size=SIZE)
    blocks = [b for stage in model.stages for b in stage if isinstance(b, BLOCKS.get("residual"))]
    in_widths = [spec.stem.width] + [s.width for s in spec.stages for _ in range(s.depth)][:-1]
    strides = [s.stride if i == 0 else 1 for s in spec.stages for i in range(s.depth)]
    out_widths = [s.width for s in spec.stages for _ in range(s.depth)]
    assert len(blocks) == len(strides)
    for block, cin, cout, stride in zip(blocks, in_widths, out_widths, strides, strict=True):
        assert isinstance(block.shortcut, nn.Identity) == (cin == cout and stride == 1)


# ------------------------------------------------------------------ validation
BASE = ArchSpec(stem=StemSpec(width=4), stages=(StageSpec(width=4), StageSpec(width=8, stride=2)))


def _stage1(**changes: object) -> ArchSpec:
    return dataclasses.replace(BASE, stages=(dataclasses.replace(BASE.stages[0], **changes), *BASE.stages[1:]))


@pytest.fixture
def registrations() -> Iterator[list[str]]:
    """Names of every submodule registered anywhere while the test runs."""
    seen: list[str] = []
    handle = register_module_module_registration_hook(lambda module, name, sub: seen.append(name))
    yield seen
    handle.remove()


def test_registration_hook_sees_a_build(registrations: list[str]) -> None:
    # The hook the next tests rely on does see modules being built.
    build_model(BASE, input_size=SIZE)
    assert len(registrations) > 5


UNKNOWN_NAMES = [
    ("block", _stage1(block="inception"), "inception", BLOCKS),
    ("norm", dataclasses.replace(BASE, norm="instance"), "instance", NORMS),
    ("activation", dataclasses.replace(BASE, activation="mish"), "mish", ACTIVATIONS),
]


@pytest.mark.parametrize(("kind", "spec", "bad", "registry"), UNKNOWN_NAMES, ids=[c[0] for c in UNKNOWN_NAMES])
def test_unknown_name_is_rejected_listing_valid_names(
    kind: str, spec: ArchSpec, bad: str, registry: object, registrations: list[str]
) -> None:
    for call in (lambda: validate_spec(spec), lambda: build_model(spec, input_size=SIZE)):
        with pytest.raises(SpecError) as err:
            call()
        message = str(err.value)
        assert kind in message and repr(bad) in message
        for name in registry.names():
            assert name in message
    assert registrations == []


BAD_VALUES = [
    ("even-kernel", _stage1(kernel_size=4), ["kernel_size", "odd", "4"]),
    ("kernel-0", _stage1(kernel_size=0), ["kernel_size", ">= 1", "0"]),
    ("even-stem-kernel", dataclasses.replace(BASE, stem=StemSpec(width=4, kernel_size=2)),
     ["stem kernel_size", "odd"]),
    ("dilation-0", _stage1(dilation=0), ["dilation", ">= 1"]),
    ("depth-0", _stage1(depth=0), ["depth", ">= 1"]),
    ("width-0", _stage1(width=0), ["width", ">= 1"]),
    ("stride-0", _stage1(stride=0), ["stride", ">= 1"]),
    ("downsample", _stage1(downsample="avgpool"), ["downsample", "avgpool", *DOWNSAMPLE_MODES]),
    ("no-stages", dataclasses.replace(BASE, stages=()), ["stage"]),
    ("head-pool", dataclasses.replace(BASE, head=HeadSpec(pool="sum")), ["pool", *HEAD_POOLS]),
    ("dropout-1", dataclasses.replace(BASE, head=HeadSpec(dropout=1.0)), ["dropout", "1.0"]),
]


@pytest.mark.parametrize(("spec", "fragments"), [c[1:] for c in BAD_VALUES], ids=[c[0] for c in BAD_VALUES])
def test_bad_value_is_rejected_with_reason_before_building(
    spec: ArchSpec, fragments: list[str], registrations: list[str]
) -> None:
    for call in (lambda: validate_spec(spec), lambda: build_model(spec, input_size=SIZE),
                 lambda: build_model(spec)):
        with pytest.raises(SpecError) as err:
            call()
        for fragment in fragments:
            assert fragment in str(err.value)
    assert registrations == []


def test_stage1_names_the_stage() -> None:
    with pytest.raises(SpecError, match="stage 1 kernel_size"):
        validate_spec(_stage1(kernel_size=4))


def test_maxpool_downsampling_to_nothing_is_rejected_before_building(registrations: list[str]) -> None:
    n_stages, size = 5, 8
    spec = ArchSpec(stem=StemSpec(width=4),
                    stages=tuple(StageSpec(width=4, stride=2, downsample="maxpool") for _ in range(n_stages)))
    # The stage that fails: the first whose input map is already smaller than its stride.
    side, failing = size, None
    for i, stage in enumerate(spec.stages, start=1):
        if side < stage.stride:
            failing = i
            break
        side //= stage.stride
    assert failing is not None

    for call in (lambda: validate_spec(spec, (size, size)), lambda: build_model(spec, input_size=(size, size)),
                 lambda: spec.feature_sizes((size, size))):
        with pytest.raises(SpecError) as err:
            call()
        assert f"stage {failing}" in str(err.value) and f"{size}x{size}" in str(err.value)
    assert registrations == []

    # Without an input size the spec is buildable, but the network really cannot run at 8x8:
    # validation reports what would otherwise be a torch error deep inside the forward pass.
    validate_spec(spec)
    model = build_model(spec).eval()
    with pytest.raises(RuntimeError):
        model(torch.zeros(1, 3, size, size))
    # An input that halves n times without going below the stride is enough to run.
    big = 2**n_stages
    validate_spec(spec, (big, big))
    assert tuple(model.features(torch.zeros(1, 3, big, big)).shape[-2:]) == spec.feature_sizes((big, big))[-1]


# ------------------------------------------------------------------ identity: dict round trip, id, label
MIXED = ArchSpec(
    stem=StemSpec(width=8, kernel_size=5, stride=2),
    stages=(
        StageSpec(block="plain", depth=2, width=8, kernel_size=3, stride=1, dilation=2),
        StageSpec(block="residual", depth=1, width=16, kernel_size=7, stride=2, downsample="maxpool"),
        StageSpec(block="residual", depth=3, width=32, kernel_size=5, stride=2),
    ),
    head=HeadSpec(pool="max", dropout=0.25),
    norm="group",
    activation="gelu",
)


def test_to_dict_from_dict_round_trip_also_through_json() -> None:
    data = MIXED.to_dict()
    assert ArchSpec.from_dict(data) == MIXED
    again = ArchSpec.from_dict(json.loads(json.dumps(data)))
    assert again == MIXED and again.spec_id == MIXED.spec_id
    assert again.to_dict() == data


@pytest.mark.parametrize(
    ("data", "key", "where"),
    [
        ({**MIXED.to_dict(), "colour": "red"}, "colour", "spec"),
        ({**MIXED.to_dict(), "stem": {"width": 8, "kernel": 3}}, "kernel", "stem"),
        ({**MIXED.to_dict(), "head": {"pooling": "avg"}}, "pooling", "head"),
        ({**MIXED.to_dict(), "stages": [{"width": 8}, {"widht": 8}]}, "widht", "stage 2"),
    ],
    ids=["top", "stem", "head", "stage"],
)
def test_from_dict_rejects_unknown_key_naming_it(data: dict, key: str, where: str) -> None:
    with pytest.raises(SpecError) as err:
        ArchSpec.from_dict(data)
    assert repr(key) in str(err.value) and where in str(err.value)


def test_spec_id_is_stable_and_distinguishes_architectures() -> None:
    same = ArchSpec.from_dict(json.loads(json.dumps(MIXED.to_dict())))
    assert same is not MIXED and same.spec_id == MIXED.spec_id
    reordered = ArchSpec.from_dict(dict(reversed(list(MIXED.to_dict().items()))))
    assert reordered.spec_id == MIXED.spec_id
    assert len(MIXED.spec_id) == 12 and int(MIXED.spec_id, 16) >= 0

    ids = {MIXED.spec_id}
    for i, k in itertools.product(range(len(MIXED.stages)), (1, 9)):
        stages = list(MIXED.stages)
        stages[i] = dataclasses.replace(stages[i], kernel_size=k)
        ids.add(dataclasses.replace(MIXED, stages=tuple(stages)).spec_id)
    ids.add(dataclasses.replace(MIXED, stem=dataclasses.replace(MIXED.stem, kernel_size=3)).spec_id)
    assert len(ids) == 2 * len(MIXED.stages) + 2


def test_equal_specs_have_equal_ids() -> None:
    # YAML reads `dropout: 0` as the int 0; the spec is equal (==, hash) to one with 0.0, but
    # to_dict keeps the int and json.dumps writes "0" rather than "0.0", so the ids differ.
    as_int = dataclasses.replace(MIXED, head=HeadSpec(pool="max", dropout=0))
    as_float = dataclasses.replace(MIXED, head=HeadSpec(pool="max", dropout=0.0))
    assert as_int == as_float and hash(as_int) == hash(as_float)
    assert as_int.spec_id == as_float.spec_id, (
        f"equal specs get different ids: {as_int.spec_id} (dropout=0) vs {as_float.spec_id} (dropout=0.0)"
    )


def test_label_mentions_per_stage_kernel_sizes() -> None:
    kernels = "-".join(str(s.kernel_size) for s in MIXED.stages)
    assert f"k{kernels}" in MIXED.label
    other = dataclasses.replace(MIXED, stages=tuple(dataclasses.replace(s, kernel_size=9) for s in MIXED.stages))
    assert "k" + "-".join("9" for _ in MIXED.stages) in other.label
    assert other.label != MIXED.label
