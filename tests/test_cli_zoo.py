"""`harness presets` and `harness profile` as a user meets them: the numbers printed are the
model's, a spec file profiles like its preset, and bad input gets one line and exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from harness.zoo.blocks import BLOCKS
from harness.zoo.measure import count_flops, count_params, receptive_field
from harness.zoo.model import build_model
from harness.zoo.presets import PRESETS, preset
from tests.support.inprocess import CliResult, run_cli


def harness_cli(*args: str) -> CliResult:
    return run_cli(*args)  # in this process: see tests/support/inprocess.py


def test_presets_lists_every_preset_with_a_description() -> None:
    result = harness_cli("presets")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for name in PRESETS.names():
        line = next(line for line in lines if line.split()[:1] == [name])
        assert len(line.split()) > 2  # a description follows the name


def test_profile_json_has_the_models_own_numbers() -> None:
    result = harness_cli("profile", "resnet18", "--input-size", "64", "--num-classes", "10", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    model = build_model(preset("resnet18"), num_classes=10, input_size=(64, 64))
    assert info["params"] == count_params(model)
    assert info["flops"] == count_flops(model, (3, 64, 64))[0]
    assert info["receptive_field"] == receptive_field(preset("resnet18"))
    assert info["feature_sizes"][-1] == [2, 2] and info["stage_widths"] == [64, 128, 256, 512]
    assert "aten::max_pool2d" in info["uncounted_ops"]


def test_profile_text_defaults_to_imagenet_and_names_uncounted_ops() -> None:
    result = harness_cli("profile", "vgg11")
    assert result.returncode == 0, result.stderr
    expected = count_params(build_model(preset("vgg11"), num_classes=1000))
    assert f"{expected:,}" in result.stdout
    assert "3x224x224, 1000 classes" in result.stdout
    assert "not counted" in result.stdout and "max_pool2d" in result.stdout
    # VGG-16's receptive field is the textbook 212 px (Araujo et al., Distill 2019); VGG-11's is 150.
    assert "receptive field  150 px" in result.stdout


def test_vgg16_receptive_field_is_the_published_212_pixels() -> None:
    assert receptive_field(preset("vgg16")) == 212


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_a_spec_file_profiles_like_its_preset(tmp_path: Path, suffix: str) -> None:
    spec = preset("mobilenet_v2")
    path = tmp_path / f"spec{suffix}"
    data = spec.to_dict(compact=True)
    path.write_text(json.dumps(data) if suffix == ".json" else yaml.safe_dump(data))
    from_file = json.loads(harness_cli("profile", str(path), "--input-size", "32", "--json").stdout)
    from_name = json.loads(harness_cli("profile", "mobilenet_v2", "--input-size", "32", "--json").stdout)
    assert from_file["spec_id"] == from_name["spec_id"] == spec.spec_id
    assert from_file["params"] == from_name["params"] and from_file["flops"] == from_name["flops"]


BAD = [
    ("unknown-preset", ["profile", "resnet19"], ["resnet19", "resnet18", "convnext_tiny"]),
    ("input-too-small", ["profile", "convnext_tiny", "--input-size", "16"], ["stage", "16x16"]),
    ("bad-size", ["profile", "resnet18", "--input-size", "big"], ["--input-size", "big"]),
]


@pytest.mark.parametrize(("args", "fragments"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_profile_input_gets_one_line_and_exit_2(args: list[str], fragments: list[str]) -> None:
    result = harness_cli(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


@pytest.mark.parametrize(("text", "fragments"), [
    ("stages: [{block: plain, widht: 8}]\n", ["widht", "width"]),
    ("stages: [{block: dense, width: 8, groups: 2}]\n", ["groups", "dense", "bottleneck"]),
    ("stages: [{block: residual, width: 8, stride: 2, downsample: transition, compression: 0}]\n",
     ["compression", "0"]),
    ("- not a mapping\n", ["mapping"]),
    ("stages: [{block: plain\n", ["YAML"]),
], ids=["typo", "option-of-another-family", "bad-compression", "list", "broken-yaml"])
def test_bad_spec_file_names_the_file_and_the_problem(tmp_path: Path, text: str, fragments: list[str]) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    result = harness_cli("profile", str(path), "--input-size", "32")
    assert result.returncode == 2, result.stdout
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    for fragment in fragments:
        assert fragment in result.stderr
    assert str(path) in result.stderr


def test_search_over_block_families_end_to_end(tmp_path: Path) -> None:
    """A short search on search_spaces/blocks.yaml: every sampled family trains (no failed trial:
    the whole space is valid at 32x32) and trials.csv names the block, norm and kernel size."""
    import pandas as pd

    space = Path(__file__).resolve().parents[1] / "search_spaces" / "blocks.yaml"
    out = harness_cli("search", str(space), "--trials", "4", "--epochs", "1", "--seed", "3",
                      "--train-images", "512", "--results", str(tmp_path), "--device", "cpu")
    assert out.returncode == 0, out.stderr
    frame = pd.read_csv(tmp_path / "blocks" / "trials.csv")
    assert len(frame) == 4 and set(frame["state"]) == {"COMPLETE"}, frame["failure_reason"].tolist()
    assert set(frame["block"]) <= set(BLOCKS.names()) and set(frame["norm"]) <= {"batch", "group", "layer", "none"}
    assert set(frame["kernel_size"]) <= {3, 5, 7}
    assert (frame["params"] > 0).all() and (frame["flops"] > 0).all()
    # Each row's architecture is the block it sampled: its label starts with the family's name.
    assert all(str(label).startswith(block) for label, block in zip(frame["label"], frame["block"], strict=True))
