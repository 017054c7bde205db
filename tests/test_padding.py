"""Padding modes: every family builds and trains a step in every torch mode, with every padded conv
set to it; a reflect-padded stage computes what F.pad + conv computes; "valid" (no padding)
shrinks plain stages exactly as feature_sizes says and is refused elsewhere with the reason; a
reflect padding wider than the map is refused before torch would fail; FLOPs and the receptive
field do not change; ids of networks without the option are the same as before it existed; and
the padding space runs end to end, with bad input answered in one line."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from harness import ArchSpec, StageSpec, StemSpec, build_model
from harness.errors import SpecError
from harness.zoo.blocks import BLOCKS
from harness.zoo.measure import measure_model
from harness.zoo.model import validate_spec
from harness.zoo.spec_values import PADDINGS
from tests.support.inprocess import run_cli
from tests.support.networks import SIZE, check_runs, two_stage

ROOT = Path(__file__).resolve().parents[1]
MODES = ("zeros", "reflect", "replicate", "circular")


def _padded_convs(model: nn.Module) -> list[nn.Conv2d]:
    return [m for m in model.stages.modules() if isinstance(m, nn.Conv2d) and any(p > 0 for p in m.padding)]


# The conv families: the token families have no padding to set (refused: tests/test_tokens.py).
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("block", [n for n in BLOCKS.names() if not BLOCKS.get(n).tokens])
def test_every_family_trains_in_every_mode(block: str, mode: str) -> None:
    spec = two_stage(block, kernel_size=3, stride=1, padding=mode, se=4, attention="spatial")
    model = check_runs(spec)
    convs = _padded_convs(model)
    assert convs and {c.padding_mode for c in convs} == {mode}
    # The stem is not a stage: it keeps zero padding.
    assert all(m.padding_mode == "zeros" for m in model.stem.modules() if isinstance(m, nn.Conv2d))


def test_a_reflect_stage_computes_pad_then_conv() -> None:
    spec = ArchSpec(stem=StemSpec(kind="none"), stages=(StageSpec(width=4, kernel_size=5, padding="reflect"),),
                    norm="none", activation="relu")
    model = build_model(spec, num_classes=3, input_size=(12, 12)).eval()
    conv = _padded_convs(model)[0]
    x = torch.randn(2, 3, 12, 12)
    expected = F.relu(F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), conv.weight, conv.bias))
    assert torch.allclose(model.features(x), expected, atol=1e-6)
    zeros = F.relu(F.conv2d(x, conv.weight, conv.bias, padding=2))
    assert not torch.allclose(model.features(x), zeros, atol=1e-3)  # the border differs


@pytest.mark.parametrize(("kernel_size", "dilation", "stride", "downsample", "depth"),
                         [(3, 1, 1, "conv", 2), (5, 1, 2, "conv", 1), (3, 2, 2, "conv", 2), (3, 1, 2, "maxpool", 2),
                          (7, 1, 1, "conv", 1)])
def test_valid_plain_stages_shrink_as_predicted(kernel_size: int, dilation: int, stride: int, downsample: str,
                                                depth: int) -> None:
    spec = ArchSpec(stem=StemSpec(width=8), stages=(
        StageSpec(width=8, depth=depth, kernel_size=kernel_size, dilation=dilation, stride=stride,
                  downsample=downsample, padding="valid"),
        StageSpec(width=16, padding="valid")))
    check_runs(spec, size=(24, 24))  # every stage's map has the predicted size
    lost = dilation * (kernel_size - 1)
    first = (24 // stride - lost * depth) if downsample != "conv" else None
    if first is not None:
        assert spec.feature_sizes((24, 24))[1] == (first, first)
    assert measure_model(build_model(spec), spec, (3, 24, 24)).receptive_field > 0


@pytest.mark.parametrize("block", sorted(set([n for n in BLOCKS.names() if not BLOCKS.get(n).tokens]) - {"plain"}))
def test_valid_is_refused_where_maps_must_keep_their_size(block: str) -> None:
    spec = two_stage(block, padding="valid")
    with pytest.raises(SpecError, match=rf"stage 1: padding 'valid' .* block '{block}' adds or concatenates"):
        validate_spec(spec, SIZE)


def test_valid_refuses_a_map_that_would_vanish() -> None:
    spec = ArchSpec(stages=(StageSpec(width=8, depth=3, kernel_size=7, padding="valid"),))
    with pytest.raises(SpecError, match=r"stage 1: without padding \('valid'\) .* block 3 gets a 4x4 map"):
        spec.feature_sizes((16, 16))


def test_reflect_wider_than_the_map_is_refused_before_torch_fails() -> None:
    # Three stride-2 stages take 16 px to 2 px; a 5x5 kernel reflects 2 px: not possible on 2 px.
    stages = tuple(StageSpec(width=8, stride=2, kernel_size=5, padding="reflect", depth=2) for _ in range(3))
    spec = ArchSpec(stem=StemSpec(width=8), stages=stages)
    with pytest.raises(SpecError, match=r"stage 3: reflect padding of 2 px needs a feature map longer than 2 px "
                                        r"on each side, and this stage's is 2x2"):
        validate_spec(spec, (16, 16))
    # Unchecked, torch itself fails on it: the refusal is needed.
    with pytest.raises(RuntimeError, match="[Pp]adding size should be less than"):
        build_model(spec)(torch.randn(1, 3, 16, 16))
    # Replicate has no such limit, and circular needs only a map as long as the padding.
    for mode in ("replicate", "circular"):
        ok = dataclasses.replace(spec, stages=tuple(dataclasses.replace(s, padding=mode) for s in stages))
        check_runs(ok, size=(16, 16))


def test_flops_and_receptive_field_do_not_depend_on_the_mode() -> None:
    base = ArchSpec(stem=StemSpec(width=8), stages=(StageSpec(width=16, kernel_size=5, stride=2),
                                                    StageSpec(width=32, kernel_size=3, stride=2)))
    costs = set()
    for mode in MODES:
        spec = dataclasses.replace(base, stages=tuple(dataclasses.replace(s, padding=mode) for s in base.stages))
        c = measure_model(build_model(spec), spec, (3, 32, 32))
        costs.add((c.params, c.flops, c.receptive_field))
    assert len(costs) == 1


def test_ids_without_the_option_are_unchanged_and_with_it_distinct() -> None:
    # The id the default network had before `padding` existed (computed by the code of commit 00bf782).
    assert ArchSpec(stages=(StageSpec(),)).spec_id == "3454bd47efa2"
    ids = {ArchSpec(stages=(StageSpec(padding=m),)).spec_id for m in PADDINGS}
    assert len(ids) == len(PADDINGS)
    reflect = ArchSpec(stages=(StageSpec(padding="reflect"),))
    assert ArchSpec.from_dict(reflect.to_dict()) == reflect and "padr" in reflect.label
    assert "pad" not in ArchSpec(stages=(StageSpec(),)).label


def test_the_padding_space_runs_end_to_end(tmp_path: Path) -> None:
    space = ROOT / "search_spaces" / "padding.yaml"
    shown = run_cli("show", str(space))
    assert shown.returncode == 0 and "distinct architectures: 108" in shown.stdout and "padding" in shown.stdout
    out = run_cli("search", str(space), "--trials", "3", "--epochs", "1", "--train-images", "512", "--device", "cpu",
                  "--sampler", "random", "--results", str(tmp_path))
    assert out.returncode == 0, out.stderr
    import pandas as pd

    frame = pd.read_csv(tmp_path / "padding" / "trials.csv")
    assert len(frame) == 3 and set(frame["state"]) == {"COMPLETE"}
    assert set(frame["padding"]) <= set(MODES)


def test_an_unknown_padding_mode_is_one_line_naming_the_key_and_file(tmp_path: Path) -> None:
    text = (ROOT / "search_spaces" / "padding.yaml").read_text().replace("[zeros, reflect, replicate, circular]",
                                                                          "[zeros, mirror]")
    space = tmp_path / "bad.yaml"
    space.write_text(text)
    out = run_cli("show", str(space))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    line = out.stderr.strip()
    assert len(line.splitlines()) == 1 and str(space) in line and "stages.padding" in line and "mirror" in line

