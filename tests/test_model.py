"""Model building around the blocks: the padding rule, LayerNorm2d, norm "none"; bad specs are
rejected with the reason before anything is built; the builder's plan (widths, strides, family
defaults); spec identity (dict round trip, id, label). The sweep over every block family, norm,
activation and geometry is in test_blocks.py."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
from collections.abc import Iterator

import pytest
import torch
import yaml
from torch import nn
from torch.nn.modules.module import register_module_module_registration_hook

from harness import ArchSpec, HeadSpec, SpecError, StageSpec, StemSpec, build_model, resolve_spec, validate_spec
from harness.zoo.blocks import BLOCKS
from harness.zoo.layers import ACTIVATIONS, NORMS, LayerNorm2d, conv_norm_act
from harness.zoo.model import FAMILY_OPTIONS, families_using, plan_blocks, stage_widths
from harness.zoo.spec_values import ATTENTIONS, DOWNSAMPLE_MODES, HEAD_CLASSIFIERS, HEAD_POOLS, STEM_KINDS

SIZE = (16, 16)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


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


# ------------------------------------------------------------------ norm "none"
# Each family with the downsampling layer its classic network uses, so transitions and patch
# layers are built too.
DOWNSAMPLE_OF = {"dense": "transition", "convnext": "patch", "inception": "maxpool3", "fire": "maxpool"}


# The conv families (the token families always use LayerNorm: tests/test_tokens.py).
@pytest.mark.parametrize("block", [n for n in BLOCKS.names() if not BLOCKS.get(n).tokens])
def test_norm_none_builds_without_norm_layers_and_convs_get_a_bias(block: str) -> None:
    assert "none" in NORMS and NORMS.get("none") is None
    spec = ArchSpec(
        stem=StemSpec(width=8),
        stages=(StageSpec(block=block, width=8, depth=2),
                StageSpec(block=block, width=12, stride=2, downsample=DOWNSAMPLE_OF.get(block, "conv"), se=4)),
        head=HeadSpec(norm="pre", width=16),
        norm="none",
        activation="gelu",  # not in-place: see test_blocks.py for what in-place ones do without a norm
    )
    model = build_model(spec, input_size=SIZE)
    norm_types = (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)
    assert not any(isinstance(m, norm_types) for m in model.modules())
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) >= 4 and all(c.bias is not None for c in convs)  # no norm follows, so the conv has a bias
    assert torch.isfinite(model(torch.randn(2, 3, *SIZE))).all()
    # With a norm, the convs a norm follows have no bias.
    normed = build_model(dataclasses.replace(spec, norm="batch"), input_size=SIZE)
    assert any(isinstance(m, nn.Conv2d) and m.bias is None for m in normed.modules())


# ------------------------------------------------------------------ validation before building
BASE = ArchSpec(stem=StemSpec(width=4), stages=(StageSpec(width=4), StageSpec(width=8, stride=2)))


def _stage(index: int, **changes: object) -> ArchSpec:
    stages = list(BASE.stages)
    stages[index - 1] = dataclasses.replace(stages[index - 1], **changes)
    return dataclasses.replace(BASE, stages=tuple(stages))


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
    ("block", _stage(1, block="capsule"), "capsule", BLOCKS),
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
        assert f"unknown {kind} {bad!r}" in message
        for name in registry.names():
            assert name in message
    assert registrations == []


BAD_VALUES = [
    ("even-kernel", _stage(1, kernel_size=4), ["stage 1 kernel_size", "odd", "4"]),
    ("kernel-0", _stage(1, kernel_size=0), ["stage 1 kernel_size", ">= 1", "0"]),
    ("even-stem-kernel", dataclasses.replace(BASE, stem=StemSpec(width=4, kernel_size=2)),
     ["stem kernel_size", "odd"]),
    ("stem-kind", dataclasses.replace(BASE, stem=StemSpec(kind="resnet")), ["stem kind", "'resnet'", *STEM_KINDS]),
    ("patchify", dataclasses.replace(BASE, stem=StemSpec(kind="patchify", kernel_size=3, stride=2)),
     ["patchify", "kernel_size (3) and stride (2)"]),
    ("googlenet-width", dataclasses.replace(BASE, stem=StemSpec(kind="googlenet", width=32)),
     ["googlenet", "32", "multiple of 3"]),
    ("dilation-0", _stage(1, dilation=0), ["dilation", ">= 1"]),
    ("depth-0", _stage(1, depth=0), ["depth", ">= 1"]),
    ("width-0", _stage(1, width=0), ["width", ">= 1"]),
    ("stride-0", _stage(1, stride=0), ["stride", ">= 1"]),
    ("downsample", _stage(1, downsample="strided"), ["downsample", "'strided'", *DOWNSAMPLE_MODES]),
    ("attention", _stage(1, attention="channel"), ["attention", "'channel'", *ATTENTIONS]),
    ("se", _stage(1, se=-1), ["stage 1 se", ">= 0"]),
    ("expansion-0", _stage(1, block="bottleneck", expansion=0.0), ["expansion", "(0.0, 64.0]"]),
    ("compression", _stage(2, compression=0.0), ["compression", "(0.0, 1.0]"]),
    ("branches", _stage(1, block="inception", branches=(1, 2, 3)), ["branches", "6 widths"]),
    ("wide-kernel", _stage(1, block="inception", wide_kernel=4), ["wide_kernel", "odd"]),
    ("no-stages", dataclasses.replace(BASE, stages=()), ["at least one stage"]),
    ("head-pool", dataclasses.replace(BASE, head=HeadSpec(pool="sum")), ["pool", "'sum'", *HEAD_POOLS]),
    ("head-classifier", dataclasses.replace(BASE, head=HeadSpec(classifier="mlp")),
     ["classifier", *HEAD_CLASSIFIERS]),
    ("head-hidden", dataclasses.replace(BASE, head=HeadSpec(hidden=(8, 0))), ["hidden", ">= 1"]),
    ("conv-classifier-hidden", dataclasses.replace(BASE, head=HeadSpec(classifier="conv", hidden=(8,))),
     ["conv classifier", "no hidden layers"]),
    ("dropout-1", dataclasses.replace(BASE, head=HeadSpec(dropout=1.0)), ["dropout", "1.0"]),
    ("drop-path-1", dataclasses.replace(BASE, drop_path=1.0), ["drop_path", "1.0"]),
    # Family rules: options a family does not read, strides it cannot take, widths that must divide.
    ("option-not-read", _stage(1, expansion=2.0),
     ["stage 1", "'plain' has no option 'expansion'", *families_using("expansion")]),
    ("expansion-and-group-width", _stage(1, block="bottleneck", groups=2, expansion=0.5, group_width=4),
     ["stage 1", "not both"]),
    ("compression-without-transition", _stage(2, compression=0.25, downsample="maxpool"),
     ["stage 2", "compression", "'maxpool'"]),
    ("cannot-stride", _stage(2, block="convnext"), ["stage 2", "convnext", "downsample: patch"]),
    ("groups-divide", _stage(1, groups=3), ["stage 1", "groups=3 must divide", "4 -> 4"]),
    ("inception-narrow", _stage(1, block="inception", width=3), ["stage 1", "at least 4, not 3"]),
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


def test_base_spec_is_valid() -> None:
    # So each bad case above fails for its one change.
    validate_spec(BASE, SIZE)


@pytest.mark.parametrize(("spec", "fragment"), [
    (_stage(2, kernel_size=4), "stage 2 kernel_size"),
    (_stage(2, block="fire", width=1, stride=1), "stage 2: a fire module"),
    (_stage(2, block="dense"), "stage 2: a dense layer"),
    (_stage(2, expansion=2.0), "stage 2: block 'plain'"),
    (_stage(2, downsample="maxpool"), "stage 2 downsamples (maxpool) a 1x1 feature map"),
], ids=["value", "family-problem", "cannot-stride", "option", "size"])
def test_messages_name_the_stage(spec: ArchSpec, fragment: str) -> None:
    with pytest.raises(SpecError) as err:
        validate_spec(spec, (1, 1))
    assert fragment in str(err.value)
    assert "stage 1" not in str(err.value)


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
    assert failing == 4

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


# ------------------------------------------------------------------ the builder's plan
def test_families_using_each_option() -> None:
    assert families_using("expansion") == ["bottleneck", "dense", "convnext", "inverted_residual", "fire",
                                           "attention", "mlp"]
    assert families_using("heads") == families_using("position") == ["attention"]
    assert families_using("groups") == ["plain", "residual", "bottleneck"]
    assert families_using("group_width") == ["bottleneck"]
    assert families_using("branches") == families_using("wide_kernel") == ["inception"]
    fields = {f.name for f in dataclasses.fields(StageSpec)}
    for option in FAMILY_OPTIONS:
        assert option in fields
        assert families_using(option) == [n for n in BLOCKS.names() if option in BLOCKS.get(n).options]


def test_plan_blocks_widths_and_strides() -> None:
    spec = ArchSpec(
        stem=StemSpec(width=8),
        stages=(StageSpec(block="residual", depth=2, width=16, stride=2),
                StageSpec(block="dense", depth=2, width=4, stride=2, downsample="transition"),
                StageSpec(block="convnext", depth=1, width=24, stride=2, downsample="patch")),
    )
    plan = [(b.stage, b.family.__name__, b.in_width, b.out_width, b.stride) for b in plan_blocks(spec)]
    assert plan == [
        (1, "BasicResidualBlock", 8, 16, 2),  # strides itself
        (1, "BasicResidualBlock", 16, 16, 1),
        (2, "DenseLayer", 8, 12, 1),  # the transition halves 16 to 8 and downsamples in front
        (2, "DenseLayer", 12, 16, 1),
        (3, "ConvNeXtBlock", 24, 24, 1),  # the patch layer gives the stage width
    ]
    assert stage_widths(spec) == [16, 16, 24]
    # With the stem "none" the first block sees the image's channels.
    bare = dataclasses.replace(spec, stem=StemSpec(kind="none"))
    assert next(plan_blocks(bare, in_channels=1)).in_width == 1


def test_resolve_spec_writes_in_family_defaults() -> None:
    spec = ArchSpec(stem=StemSpec(width=8), stages=(
        StageSpec(block="bottleneck", width=16),
        StageSpec(block="bottleneck", width=16, groups=2, group_width=4),
        StageSpec(block="inverted_residual", width=16),
        StageSpec(block="plain", width=16),
    ))
    resolved = resolve_spec(spec)
    assert [s.expansion for s in resolved.stages] == [0.25, None, 6.0, None]
    assert resolve_spec(resolved) == resolved
    assert resolved.spec_id != spec.spec_id
    validate_spec(resolved, SIZE)
    # The same network: equal parameter shapes.
    shapes = [p.shape for p in build_model(spec, input_size=SIZE).parameters()]
    assert shapes == [p.shape for p in build_model(resolved, input_size=SIZE).parameters()]


# ------------------------------------------------------------------ identity: dict round trip, id, label
MIXED = ArchSpec(
    stem=StemSpec(kind="imagenet", width=8, kernel_size=5, stride=2),
    stages=(
        StageSpec(block="plain", depth=2, width=8, kernel_size=3, dilation=2, se=4),
        StageSpec(block="bottleneck", depth=1, width=16, kernel_size=7, stride=2, downsample="maxpool", groups=2,
                  group_width=4, attention="spatial"),
        StageSpec(block="dense", depth=2, width=4, kernel_size=5, stride=2, downsample="transition",
                  compression=0.75, expansion=2.0),
        StageSpec(block="inception", depth=1, width=16, kernel_size=3, wide_kernel=5,
                  branches=(0.25, 0.125, 0.5, 0.0625, 0.125, 0.125)),
    ),
    head=HeadSpec(pool="max", dropout=0.25, hidden=(32,), norm="pre"),
    norm="group",
    activation="gelu",
    drop_path=0.1,
)


def test_mixed_spec_is_valid_and_builds() -> None:
    validate_spec(MIXED, (64, 64))
    model = build_model(MIXED, input_size=(64, 64))
    assert tuple(model(torch.randn(2, 3, 64, 64)).shape) == (2, 10)


def test_to_dict_from_dict_round_trip_also_through_json_and_yaml() -> None:
    data = MIXED.to_dict()
    assert isinstance(data["stages"], list) and isinstance(data["stages"][3]["branches"], list)
    assert ArchSpec.from_dict(data) == MIXED
    for text in (json.loads(json.dumps(data)), yaml.safe_load(yaml.safe_dump(data))):
        again = ArchSpec.from_dict(text)
        assert again == MIXED and again.spec_id == MIXED.spec_id
        assert again.to_dict() == data


def test_compact_dict_leaves_out_defaults_and_round_trips() -> None:
    compact = MIXED.to_dict(compact=True)
    assert compact["stages"][0] == {"depth": 2, "width": 8, "dilation": 2, "se": 4}
    assert compact["head"] == {"pool": "max", "dropout": 0.25, "hidden": [32], "norm": "pre"}
    assert compact["stem"] == {"kind": "imagenet", "width": 8, "kernel_size": 5, "stride": 2}
    assert (compact["norm"], compact["activation"], compact["drop_path"]) == ("group", "gelu", 0.1)
    for text in (compact, json.loads(json.dumps(compact))):
        assert ArchSpec.from_dict(text) == MIXED
    assert ArchSpec(stages=(StageSpec(),)).to_dict(compact=True) == {"stages": [{}]}
    assert ArchSpec.from_dict({"stages": [{}]}) == ArchSpec(stages=(StageSpec(),))


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
    assert f"{where}: unknown key {key!r}" in str(err.value)
    assert "valid:" in str(err.value)


def test_from_dict_rejects_what_is_not_a_mapping() -> None:
    for data, fragment in (([], "a spec must be a mapping"), ({"stages": [3]}, "stage 1 must be a mapping"),
                           ({"stages": {"width": 8}}, "stages must be a list")):
        with pytest.raises(SpecError, match=fragment):
            ArchSpec.from_dict(data)


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
    ids.add(dataclasses.replace(MIXED, head=dataclasses.replace(MIXED.head, hidden=(32, 32))).spec_id)
    ids.add(dataclasses.replace(MIXED, drop_path=0.2).spec_id)
    assert len(ids) == 2 * len(MIXED.stages) + 4


def test_equal_specs_have_equal_ids() -> None:
    # YAML reads `dropout: 0` as the int 0 and a list where the spec keeps a tuple; the specs must
    # be equal and get the same id.
    stages = (StageSpec(block="inception", width=16, branches=[0.25, 0.125, 0.5, 0.0625, 0.125, 0.125]),
              StageSpec(block="dense", width=4, stride=2, downsample="transition", compression=1, expansion=2))
    loose = ArchSpec(stages=stages, head=HeadSpec(pool="max", dropout=0, hidden=[8]), drop_path=0)
    strict = ArchSpec(
        stages=(dataclasses.replace(stages[0], branches=(0.25, 0.125, 0.5, 0.0625, 0.125, 0.125)),
                dataclasses.replace(stages[1], compression=1.0, expansion=2.0)),
        head=HeadSpec(pool="max", dropout=0.0, hidden=(8,)), drop_path=0.0)
    assert loose == strict and hash(loose) == hash(strict)
    assert loose.spec_id == strict.spec_id


def test_label_mentions_per_stage_kernel_sizes() -> None:
    assert "k3-7-5-3" in MIXED.label
    other = dataclasses.replace(MIXED, stages=tuple(dataclasses.replace(s, kernel_size=9) for s in MIXED.stages))
    assert "k9-9-9-9" in other.label
    assert other.label != MIXED.label
    assert MIXED.label.startswith("imagenet-stem plain+bottleneck+dense+inception w8-16-4-16 n2-1-2-1")
    assert MIXED.label.endswith("gn gelu")
