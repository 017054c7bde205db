"""Search-space files: the shipped kernel-size space, every parameter format, and every kind of bad
input answered with a SpaceError naming the file, the key and what is allowed."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness import (
    DATASETS,
    ArchSpec,
    HeadSpec,
    SpaceError,
    StageSpec,
    StemSpec,
    TrainConfig,
    load_space,
    space_from_dict,
    validate_spec,
)
from harness.zoo.blocks import BLOCKS
from harness.zoo.layers import ACTIVATIONS, NORMS

ROOT = Path(__file__).resolve().parents[1]
KERNEL_SPACE = ROOT / "search_spaces" / "kernel_size.yaml"


def write(tmp_path: Path, text: str, name: str = "space.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


# ------------------------------------------------------------------ the shipped space
@pytest.fixture(scope="module")
def kernel_space():
    return load_space(KERNEL_SPACE)


def test_kernel_size_space_searches_kernel_and_dilation_per_stage(kernel_space) -> None:
    n = kernel_space.stage_count
    assert n == 3
    expected = {f"s{i}.{key}" for i in range(1, n + 1) for key in ("kernel_size", "dilation")}
    assert set(kernel_space.searched) == expected
    assert kernel_space.architecture_count() == (4 * 2) ** n == 512
    assert kernel_space.name == "kernel_size" and kernel_space.dataset in DATASETS


def test_kernel_size_space_samples_valid_varied_specs(kernel_space) -> None:
    ids = set()
    for seed in range(8):
        spec, config, params = kernel_space.sample(seed=seed)
        assert isinstance(spec, ArchSpec) and isinstance(config, TrainConfig)
        assert set(params) == set(kernel_space.searched)
        for i, stage in enumerate(spec.stages, start=1):
            assert stage.kernel_size in {3, 5, 7, 9} and stage.dilation in {1, 2}
            assert (stage.kernel_size, stage.dilation) == (params[f"s{i}.kernel_size"], params[f"s{i}.dilation"])
        assert [s.width for s in spec.stages] == [16, 32, 64]
        validate_spec(spec, (32, 32))
        ids.add(spec.spec_id)
    assert len(ids) > 1
    assert kernel_space.sample(seed=3)[0] == kernel_space.sample(seed=3)[0]  # a seed is reproducible


# ------------------------------------------------------------------ formats
FORMATS = """
    name: formats
    stem: {width: {value: 8}, kernel_size: 3}
    stages:
      count: 3
      width: {each: [8, [8, 16], {low: 16, high: 32, step: 8}]}
      kernel_size: {choices: [3, 5, 7], per_stage: true}
      dilation: [1, 2]
      block: residual
    head: {dropout: {choices: [0.0, 0.5]}}
    norm: [batch, group]
    train:
      epochs: 2
      lr: {low: 1.0e-4, high: 1.0e-2, log: true}
"""


def test_every_format_becomes_the_right_parameter(tmp_path: Path) -> None:
    space = load_space(write(tmp_path, FORMATS))
    assert space.name == "formats" and space.path == str(tmp_path / "space.yaml")
    p = space.params
    # Fixed: scalar, {value: X} and a one-value `each` entry are not searched.
    for name, value in (("stem.width", 8), ("stem.kernel_size", 3), ("s1.width", 8), ("train.epochs", 2),
                        ("block", "residual")):
        assert not p[name].searched and p[name].values() == [value]
    # Choices, from a list or from {choices: ...}.
    assert p["s2.width"].values() == [8, 16]
    assert p["head.dropout"].values() == [0.0, 0.5]
    assert p["norm"].values() == ["batch", "group"]
    # Integer range with a step.
    assert p["s3.width"].values() == list(range(16, 33, 8))
    # Float log range: continuous.
    assert p["train.lr"].values() is None
    # per_stage: one parameter per stage; a list in `stages`: one parameter shared by all stages.
    searched = set(space.searched)
    assert {"s1.kernel_size", "s2.kernel_size", "s3.kernel_size", "dilation"} <= searched
    assert "kernel_size" not in searched and not any(n.endswith(".dilation") for n in searched)
    assert searched == {"s2.width", "s3.width", "s1.kernel_size", "s2.kernel_size", "s3.kernel_size",
                        "dilation", "head.dropout", "norm", "train.lr"}
    # Training parameters are searched but do not multiply the number of architectures.
    assert space.architecture_count() == 2 * len(range(16, 33, 8)) * 3**3 * 2 * 2 * 2


def test_build_assembles_spec_and_train_config(tmp_path: Path) -> None:
    space = load_space(write(tmp_path, FORMATS))
    values = {"s2.width": 16, "s3.width": 24, "s1.kernel_size": 3, "s2.kernel_size": 7, "s3.kernel_size": 5,
              "dilation": 2, "head.dropout": 0.5, "norm": "group", "train.lr": 0.002}
    spec, config = space.build(values)
    assert spec == ArchSpec(
        stem=StemSpec(width=8, kernel_size=3),
        stages=(StageSpec(block="residual", width=8, kernel_size=3, dilation=2),
                StageSpec(block="residual", width=16, kernel_size=7, dilation=2),
                StageSpec(block="residual", width=24, kernel_size=5, dilation=2)),
        head=HeadSpec(dropout=0.5),
        norm="group",
    )
    assert config == TrainConfig(epochs=2, lr=0.002)
    with pytest.raises(SpaceError, match="s3.width"):
        space.build({k: v for k, v in values.items() if k != "s3.width"})


def test_sampling_respects_every_parameter(tmp_path: Path) -> None:
    space = load_space(write(tmp_path, FORMATS))
    for seed in range(6):
        spec, config, params = space.sample(seed=seed)
        assert set(params) == set(space.searched)
        assert spec.stages[1].width in (8, 16) and spec.stages[2].width in range(16, 33, 8)
        assert len({s.dilation for s in spec.stages}) == 1  # one shared parameter
        assert 1e-4 <= config.lr <= 1e-2 and config.lr == params["train.lr"]
        validate_spec(spec, (16, 16))


def test_shared_stage_parameter_is_one_optuna_parameter(tmp_path: Path) -> None:
    space = load_space(write(tmp_path, """
        stages: {count: 3, kernel_size: [3, 5, 7, 9], width: 4}
    """))
    assert set(space.searched) == {"kernel_size"}
    assert space.architecture_count() == 4
    kernels = set()
    for seed in range(6):
        spec, _, params = space.sample(seed=seed)
        assert {s.kernel_size for s in spec.stages} == {params["kernel_size"]}
        kernels.add(params["kernel_size"])
    assert len(kernels) > 1


def test_stage_count_is_inferred_from_each(tmp_path: Path) -> None:
    space = load_space(write(tmp_path, """
        stages:
          width: {each: [4, 8]}
          stride: {each: [1, 2]}
    """))
    assert space.stage_count == 2
    spec, _ = space.build({})
    assert [(s.width, s.stride) for s in spec.stages] == [(4, 1), (8, 2)]
    assert space.architecture_count() == 1 and space.searched == {}


def test_float_range_in_the_architecture_makes_the_count_infinite(tmp_path: Path) -> None:
    space = load_space(write(tmp_path, """
        stages: {count: 1}
        head: {dropout: {low: 0.0, high: 0.5}}
    """))
    assert space.architecture_count() is None
    stepped = load_space(write(tmp_path, """
        stages: {count: 1}
        head: {dropout: {low: 0.0, high: 0.5, step: 0.25}}
    """, name="stepped.yaml"))
    assert stepped.architecture_count() == 3
    assert stepped.params["head.dropout"].values() == pytest.approx([0.0, 0.25, 0.5])


def test_int_log_range_and_odd_kernel_range(tmp_path: Path) -> None:
    space = load_space(write(tmp_path, """
        stages:
          count: 2
          width: {low: 4, high: 64, log: true}
          kernel_size: {low: 3, high: 9, step: 2}
    """))
    assert space.params["kernel_size"].values() == [3, 5, 7, 9]
    assert space.architecture_count() == len(range(4, 65)) * 4
    for seed in range(4):
        spec, _, params = space.sample(seed=seed)
        assert 4 <= params["width"] <= 64 and params["kernel_size"] in (3, 5, 7, 9)


def test_space_from_dict_matches_the_file(tmp_path: Path) -> None:
    import yaml

    path = write(tmp_path, FORMATS)
    from_file = load_space(path)
    from_dict = space_from_dict(yaml.safe_load(path.read_text()), path=str(path))
    assert from_dict.params == from_file.params and from_dict.slots == from_file.slots


# ------------------------------------------------------------------ bad input
def assert_error(path: Path, key: str | None, *fragments: str) -> SpaceError:
    with pytest.raises(SpaceError) as err:
        load_space(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and err.value.path == str(path)
    rest = message.removeprefix(f"{path}: ")  # fragments must not match the (tmp) path itself
    if key is not None:
        assert rest.startswith(f"{key}: ") and err.value.key == key
        rest = rest.removeprefix(f"{key}: ")
    for fragment in fragments:
        assert fragment in rest, f"{fragment!r} not in {message!r}"
    return err.value


def test_missing_file(tmp_path: Path) -> None:
    assert_error(tmp_path / "nowhere.yaml", None, "no such file")


def test_folder_is_not_a_file(tmp_path: Path) -> None:
    assert_error(tmp_path, None, "folder")


def test_not_yaml(tmp_path: Path) -> None:
    assert_error(write(tmp_path, "stages: [1, 2\n"), None, "not valid YAML", "line")


def test_empty_file(tmp_path: Path) -> None:
    assert_error(write(tmp_path, ""), None, "empty")


def test_top_level_list(tmp_path: Path) -> None:
    assert_error(write(tmp_path, "- stages\n- norm\n"), None, "mapping", "list", "stages")


def test_unknown_top_level_key_suggests_the_right_one(tmp_path: Path) -> None:
    assert_error(write(tmp_path, "stges: {count: 1}\n"), "stges", "unknown key", "did you mean 'stages'")


def test_unknown_stage_key_suggests_the_right_one(tmp_path: Path) -> None:
    assert_error(write(tmp_path, "stages: {count: 1, kernal_size: 3}\n"), "stages.kernal_size",
                 "unknown key", "'kernel_size'")


def test_missing_stages(tmp_path: Path) -> None:
    assert_error(write(tmp_path, "norm: batch\n"), "stages", "count")


def test_missing_stage_count(tmp_path: Path) -> None:
    assert_error(write(tmp_path, "stages: {width: 8}\n"), "stages.count", "how many stages")


WRONG_TYPE = [
    ("stages: {count: 1, width: wide}", "stages.width", ["integer", "'wide'"]),
    ("stages: {count: 1, kernel_size: 3.5}", "stages.kernel_size", ["integer", "3.5"]),
    ("stages: {count: 1}\ntrain: {epochs: many}", "train.epochs", ["integer", "'many'"]),
    ("stages: {count: 1}\nstem: {width: [8, wide]}", "stem.width", ["integer", "'wide'"]),
    ("stages: {count: 1}\nhead: {dropout: lots}", "head.dropout", ["number", "'lots'"]),
    ("stages: {count: two}", "stages.count", ["integer", "'two'"]),
    ("stages: {count: 1}\nstem: wide", "stem", ["mapping", "width"]),
    ("stages: {count: 1}\nname: [a]", "name", ["string"]),
]


@pytest.mark.parametrize(("text", "key", "fragments"), WRONG_TYPE, ids=[c[1] for c in WRONG_TYPE])
def test_value_of_wrong_type(tmp_path: Path, text: str, key: str, fragments: list[str]) -> None:
    assert_error(write(tmp_path, text + "\n"), key, *fragments)


BAD_VALUES = [
    ("empty-list", "stages: {count: 1, kernel_size: []}", "stages.kernel_size", ["empty", "at least one"]),
    ("empty-choices", "stages: {count: 1, kernel_size: {choices: []}}", "stages.kernel_size", ["empty"]),
    ("even-kernel-list", "stages: {count: 1, kernel_size: [3, 4]}", "stages.kernel_size", ["odd", "4"]),
    ("even-kernel-range", "stages: {count: 1, kernel_size: {low: 3, high: 7}}", "stages.kernel_size",
     ["odd", "4"]),
    ("even-kernel-fixed", "stages: {count: 1, kernel_size: 2}", "stages.kernel_size", ["odd", "2"]),
    ("even-stem-kernel", "stages: {count: 1}\nstem: {kernel_size: 4}", "stem.kernel_size", ["odd"]),
    ("kernel-0", "stages: {count: 1, kernel_size: 0}", "stages.kernel_size", [">= 1", "0"]),
    ("kernel-negative", "stages: {count: 1, kernel_size: [3, -1]}", "stages.kernel_size", [">= 1", "-1"]),
    ("dilation-0", "stages: {count: 1, dilation: 0}", "stages.dilation", [">= 1"]),
    ("dilation-0-per-stage", "stages: {count: 2, dilation: {each: [1, 0]}}", "stages.dilation[2]", [">= 1"]),
    ("depth-range-0", "stages: {count: 1, depth: {low: 0, high: 2}}", "stages.depth", [">= 1", "0"]),
    ("each-too-short", "stages: {count: 3, width: {each: [8, 16]}}", "stages.width", ["2 entries", "3 stages"]),
    ("each-too-long", "stages: {count: 1, width: {each: [8, 16]}}", "stages.width", ["2 entries", "1 stage"]),
    ("low-above-high", "stages: {count: 1}\ntrain: {lr: {low: 0.1, high: 0.01}}", "train.lr",
     ["low", "high", "0.1", "0.01"]),
    ("log-low-zero", "stages: {count: 1}\ntrain: {lr: {low: 0, high: 0.1, log: true}}", "train.lr",
     ["log", "> 0"]),
    ("log-low-negative", "stages: {count: 1, width: {low: -4, high: 8, log: true}}", "stages.width",
     ["log", "> 0"]),
    ("repeated-choice", "stages: {count: 1, kernel_size: [3, 3]}", "stages.kernel_size", ["repeat"]),
    ("value-and-choices", "stages: {count: 1, width: {value: 8, choices: [8]}}", "stages.width", ["value"]),
    ("unknown-param-key", "stages: {count: 1, width: {min: 8, high: 16}}", "stages.width.min",
     ["unknown key", "low"]),
    ("dropout-1", "stages: {count: 1}\nhead: {dropout: 1.0}", "head.dropout", ["1.0"]),
    ("trials-0", "stages: {count: 1}\nsearch: {trials: 0}", "search.trials", [">= 1"]),
    ("per-stage-not-bool", "stages: {count: 1, width: {choices: [8], per_stage: yes please}}",
     "stages.width", ["true or false"]),
]


@pytest.mark.parametrize(("text", "key", "fragments"), [c[1:] for c in BAD_VALUES], ids=[c[0] for c in BAD_VALUES])
def test_bad_value(tmp_path: Path, text: str, key: str, fragments: list[str]) -> None:
    assert_error(write(tmp_path, text + "\n"), key, *fragments)


def test_kernel_range_too_long_to_list_is_still_checked_for_even_sizes(tmp_path: Path) -> None:
    # _Parser.param promises "every possible value is checked", but a range of more than
    # _MAX_CHECKED_RANGE values only has its bounds checked, and both bounds here are odd.
    path = write(tmp_path, "stages: {count: 1, kernel_size: {low: 1, high: 20001}}\n")
    try:
        space = load_space(path)
    except SpaceError as err:
        assert "odd" in str(err) and "stages.kernel_size" in str(err)
    else:
        even = [v for v in space.params["kernel_size"].values() if v % 2 == 0]
        pytest.fail(f"accepted a kernel_size range with {len(even)} even sizes ({even[:3]}, ...)")


NAMES = [
    ("stages: {count: 1, block: resnet}", "stages.block", "resnet", BLOCKS),
    ("stages: {count: 1, block: [plain, transformer]}", "stages.block", "transformer", BLOCKS),
    ("stages: {count: 1}\nnorm: instance", "norm", "instance", NORMS),
    ("stages: {count: 1}\nactivation: [relu, mish]", "activation", "mish", ACTIVATIONS),
    ("stages: {count: 1}\ndataset: imagenet-22k", "dataset", "imagenet-22k", DATASETS),
]


@pytest.mark.parametrize(("text", "key", "bad", "registry"), NAMES,
                         ids=["block", "block-choice", "norm", "activation", "dataset"])
def test_unknown_name_lists_valid_names(tmp_path: Path, text: str, key: str, bad: str, registry) -> None:
    assert_error(write(tmp_path, text + "\n"), key, repr(bad), *registry.names())


@pytest.mark.parametrize("name", BLOCKS.names())
def test_every_registered_block_is_accepted(tmp_path: Path, name: str) -> None:
    space = load_space(write(tmp_path, f"stages: {{count: 1, block: {name}}}\n"))
    assert space.build({})[0].stages[0].block == name


@pytest.mark.parametrize("name", NORMS.names())
def test_every_registered_norm_is_accepted(tmp_path: Path, name: str) -> None:
    assert load_space(write(tmp_path, f"stages: {{count: 1}}\nnorm: {name}\n")).build({})[0].norm == name


@pytest.mark.parametrize("name", ACTIVATIONS.names())
def test_every_registered_activation_is_accepted(tmp_path: Path, name: str) -> None:
    space = load_space(write(tmp_path, f"stages: {{count: 1}}\nactivation: {name}\n"))
    assert space.build({})[0].activation == name


def test_space_from_dict_without_a_file_names_the_key() -> None:
    with pytest.raises(SpaceError) as err:
        space_from_dict({"stages": {"count": 1, "dilation": [0, 1]}})
    assert err.value.key == "stages.dilation" and err.value.path is None
    assert str(err.value).startswith("stages.dilation: ")


def test_lr_range_bounds_are_checked(tmp_path: Path) -> None:
    err = assert_error(write(tmp_path, "stages: {count: 1}\ntrain: {lr: {low: 0.0, high: 0.1}}\n"), "train.lr")
    assert "(0.0, inf)" in str(err)  # lr must be positive; the message gives the open interval
