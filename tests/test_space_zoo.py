"""Search spaces over the architecture zoo: conditional parameters (asked only where the network reads
them), the exact count of architectures checked against brute-force enumeration, patterns and
variants, load-time errors for options nothing can read, and the shipped zoo spaces."""

from __future__ import annotations

import dataclasses
import itertools
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import pytest
import yaml

from harness import ArchSpec, SpaceError, StageSpec, StemSpec, load_space, space_from_dict, validate_spec
from harness.errors import SpecError
from harness.search.space import SearchSpace
from harness.store.trials import trials_frame
from harness.zoo.blocks import BLOCKS

ROOT = Path(__file__).resolve().parents[1]
SPACES = ROOT / "search_spaces"
EXPANSION_FAMILIES = "bottleneck, dense, convnext, inverted_residual, fire, attention, mlp"
# Options that only some families read (harness.zoo.model.FAMILY_OPTIONS), spelled out here so the
# reference below does not lean on the code under test.
FAMILY_OPTIONS = ("expansion", "groups", "group_width", "branches", "wide_kernel")


def space(text: str) -> SearchSpace:
    return space_from_dict(yaml.safe_load(textwrap.dedent(text)))


def write(tmp_path: Path, text: str, name: str = "space.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def arch_params(sp: SearchSpace) -> list[str]:
    """The searched parameters that shape the network (training ones do not)."""
    return [n for n in sp.searched if not n.startswith("train.")]


def enumerate_specs(sp: SearchSpace) -> dict[str, ArchSpec]:
    """Brute force, independent of the counting code: every combination of raw values of every
    searched architecture parameter (used or not), built, keyed by spec_id."""
    names = arch_params(sp)
    train = {n: sp.params[n].example() for n in sp.searched if n not in names}
    specs: dict[str, ArchSpec] = {}
    for combo in itertools.product(*(sp.params[n].values() for n in names)):
        spec, _ = sp.build({**train, **dict(zip(names, combo, strict=True))})
        specs[spec.spec_id] = spec
    return specs


def canonical(spec: ArchSpec) -> ArchSpec:
    """`spec` with every value the network does not read put back at its default, written from the
    rules of harness.zoo.model/parts (not from harness.search.space): what a conditional space must give."""
    default = StageSpec()
    stages = []
    for s in spec.stages:
        family = BLOCKS.get(s.block)
        changes: dict[str, Any] = {o: getattr(default, o) for o in FAMILY_OPTIONS if o not in family.options}
        if "expansion" in family.options:
            if s.group_width is not None:  # the inner width is groups x group_width then
                changes["expansion"] = None
            elif s.expansion is None:
                changes["expansion"] = family.defaults["expansion"]
        if s.stride == 1:  # no downsampling layer at all
            changes["downsample"] = default.downsample
        if s.stride == 1 or s.downsample != "transition":
            changes["compression"] = default.compression
        stages.append(dataclasses.replace(s, **changes))
    stem = StemSpec(kind="none") if spec.stem.kind == "none" else spec.stem
    residual = any(BLOCKS.get(s.block).residual for s in spec.stages)
    return dataclasses.replace(spec, stem=stem, stages=tuple(stages),
                               drop_path=spec.drop_path if residual else ArchSpec().drop_path)


def ask(sp: SearchSpace, n: int, seed: int = 0) -> Iterator[tuple[dict[str, Any], ArchSpec]]:
    """(trial.params, spec) of `n` trials of a real in-memory study with a seeded random sampler."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    for _ in range(n):
        trial = study.ask()
        spec, _ = sp.suggest(trial)
        study.tell(trial, 0.0)
        yield dict(trial.params), spec


# ------------------------------------------------------------------ conditional sampling
def test_expansion_is_asked_only_of_blocks_that_read_it() -> None:
    sp = space("""
        stages: {count: 2, width: 16, block: [plain, bottleneck], expansion: [0.25, 0.5]}
    """)
    assert sp.conditional["expansion"].startswith(f"for {EXPANSION_FAMILIES} blocks")
    seen = set()
    for params, spec in ask(sp, 40):
        block = params["block"]
        seen.add(block)
        if block == "plain":
            assert "expansion" not in params
            assert all(s.expansion is None for s in spec.stages)  # StageSpec's default
        else:
            assert spec.stages[0].expansion == spec.stages[1].expansion == params["expansion"]
    assert seen == {"plain", "bottleneck"}


def test_shared_option_is_asked_when_any_stage_reads_it_and_only_used_there() -> None:
    sp = space("""
        stages:
          count: 3
          width: 32
          block: {choices: [plain, bottleneck, inception], per_stage: true}
          expansion: [0.5, 1.0]
          groups: [1, 2]
    """)
    kinds = set()
    for params, spec in ask(sp, 60):
        blocks = [params[f"s{i}.block"] for i in (1, 2, 3)]
        assert ("expansion" in params) == ("bottleneck" in blocks)
        assert ("groups" in params) == bool({"plain", "bottleneck"} & set(blocks))  # inception has no groups
        for stage in spec.stages:
            expected = params["expansion"] if stage.block == "bottleneck" else None
            assert stage.expansion == expected
            assert stage.groups == (params["groups"] if stage.block != "inception" else 1)
        kinds.add(("expansion" in params, "groups" in params))
        validate_spec(spec)  # no option is left where its block cannot read it
    assert kinds == {(False, False), (False, True), (True, True)}


def test_group_width_switches_expansion_off() -> None:
    sp = space("""
        stages: {count: 1, width: 32, block: bottleneck, groups: 2, group_width: [null, 4], expansion: [0.5, 1.0]}
    """)
    assert "not with group_width" in sp.conditional["expansion"]
    seen = set()
    for params, spec in ask(sp, 30):
        stage = spec.stages[0]
        if params["group_width"] is None:
            assert stage.expansion == params["expansion"]
        else:
            assert "expansion" not in params and stage.expansion is None and stage.group_width == 4
        seen.add(params["group_width"])
        validate_spec(spec)
    assert seen == {None, 4}


def test_downsample_only_where_strided_and_compression_only_with_a_transition() -> None:
    sp = space("""
        stages:
          count: 3
          stride: {choices: [1, 2], per_stage: true}
          downsample: {choices: [maxpool, transition], per_stage: true}
          compression: {choices: [0.25, 1.0], per_stage: true}
    """)
    assert sp.conditional["s1.downsample"] == "where stride > 1"
    assert sp.conditional["s2.compression"] == "where downsample is transition (stride > 1)"
    cases = set()
    for params, spec in ask(sp, 60):
        for i, stage in enumerate(spec.stages, start=1):
            strided = params[f"s{i}.stride"] == 2
            assert (f"s{i}.downsample" in params) == strided
            transition = strided and params[f"s{i}.downsample"] == "transition"
            assert (f"s{i}.compression" in params) == transition
            assert stage.downsample == (params[f"s{i}.downsample"] if strided else "conv")
            assert stage.compression == (params[f"s{i}.compression"] if transition else 0.5)
            cases.add((strided, transition))
    assert cases == {(False, False), (True, False), (True, True)}


def test_stem_fields_are_not_asked_without_a_stem() -> None:
    sp = space("""
        stem: {kind: [conv, none], width: [8, 16], kernel_size: [3, 5], stride: [1, 2]}
        stages: {count: 1}
    """)
    assert sp.conditional["stem.width"] == "unless stem.kind is none"
    kinds = set()
    for params, spec in ask(sp, 30):
        kinds.add(params["stem.kind"])
        if params["stem.kind"] == "none":
            assert set(params) == {"stem.kind"}
            assert spec.stem == StemSpec(kind="none")
        else:
            assert {"stem.width", "stem.kernel_size", "stem.stride"} <= set(params)
            assert spec.stem == StemSpec("conv", params["stem.width"], params["stem.kernel_size"],
                                         params["stem.stride"])
    assert kinds == {"conv", "none"}


def test_drop_path_only_with_a_block_that_has_an_identity_path() -> None:
    sp = space("""
        stages: {count: 2, width: 16, block: {choices: [plain, fire, residual], per_stage: true}}
        drop_path: [0.1, 0.2]
    """)
    assert sp.conditional["drop_path"] == ("with residual, bottleneck, convnext, inverted_residual, attention, "
                                           "mlp blocks")
    seen = set()
    for params, spec in ask(sp, 40):
        residual = "residual" in (params["s1.block"], params["s2.block"])
        assert ("drop_path" in params) == residual
        assert spec.drop_path == (params["drop_path"] if residual else 0.0)
        seen.add(residual)
    assert seen == {True, False}


def test_suggest_and_build_give_the_same_spec_for_the_same_values() -> None:
    sp = space("""
        stem: {kind: [conv, none], width: [8, 16]}
        stages:
          count: 2
          block: {choices: [plain, bottleneck, dense], per_stage: true}
          stride: {choices: [1, 2], per_stage: true}
          downsample: [maxpool, transition]
          compression: [0.5, 0.25]
          expansion: {choices: [null, 2.0], per_stage: true}
        drop_path: [0.0, 0.1]
    """)
    for params, spec in ask(sp, 40):
        assert sp.build(params)[0] == spec  # only the asked values are needed
        assert canonical(spec) == spec


# ------------------------------------------------------------------ exact counting
# (id, space, count by hand): every count is also checked against brute-force enumeration.
COUNTED = [
    # plain 1 + bottleneck x 2 expansions
    ("blocks-x-expansion", "stages: {count: 2, width: 16, block: [plain, bottleneck], expansion: [0.25, 0.5]}", 3),
    # per-stage blocks, one shared expansion: PP 1, else 3 block pairs x 2
    ("per-stage-blocks-shared-expansion",
     "stages: {count: 2, width: 16, block: {choices: [plain, bottleneck], per_stage: true}, expansion: [0.25, 0.5]}",
     7),
    # null is the bottleneck's own 0.25: per stage plain 1 + bottleneck 2, squared
    ("null-expansion-is-the-family-default",
     "stages: {count: 2, width: 16, block: {choices: [plain, bottleneck], per_stage: true},"
     " expansion: {choices: [null, 0.25, 0.5], per_stage: true}}", 9),
    # groups: read by plain, not by inception: PP 2, PI 2, IP 2, II 1
    ("groups-plain-or-inception",
     "stages: {count: 2, width: 32, block: {choices: [plain, inception], per_stage: true}, groups: [1, 2]}", 7),
    # null group_width: groups 2 x expansion 2; group_width 4: groups 2
    ("group-width-x-expansion",
     "stages: {count: 2, width: 32, block: bottleneck, group_width: [null, 4], groups: [1, 2], expansion: [0.25, 0.5]}",
     6),
    # 8 stride patterns; all stride 1: 1; else conv 1 + maxpool 1 + transition x 2 compressions
    ("stride-x-downsample-x-compression",
     "stages: {count: 3, stride: {choices: [1, 2], per_stage: true}, downsample: [conv, maxpool, transition],"
     " compression: [0.5, 1.0]}", 29),
    # per stage: stride 1 (1) + stride 2 with conv (1) or transition x 2 compressions; cubed
    ("per-stage-downsample-and-compression",
     "stages: {count: 3, stride: {choices: [1, 2], per_stage: true},"
     " downsample: {choices: [conv, transition], per_stage: true},"
     " compression: {choices: [0.5, 0.25], per_stage: true}}",
     64),
    # conv 4 + imagenet 4 + none 1
    ("stem-kinds-with-none", "stem: {kind: [conv, imagenet, none], width: [8, 16], kernel_size: [1, 3]}\n"
                             "stages: {count: 1}", 9),
    # variant a (no stem) 1 + b 2 widths + c 2 widths
    ("stem-variants-with-none",
     "stem: {variants: {a: {kind: none}, b: {kind: conv, kernel_size: 3}, c: {kind: conv, kernel_size: 5}},"
     " width: [8, 16]}\nstages: {count: 1}", 5),
    # 27 block triples; the 8 without residual 1 each, the 19 with it x 3 drop_path values
    ("drop-path-mixed-blocks",
     "stages: {count: 3, width: 16, block: {choices: [plain, residual, fire], per_stage: true}}\n"
     "drop_path: [0.0, 0.1, 0.2]", 65),
    # a fixed residual stage: drop_path always applies
    ("drop-path-fixed-residual-stage",
     "stages: {count: 2, width: 16, block: {each: [residual, [plain, fire]]}}\ndrop_path: [0.0, 0.1]", 4),
    # 0.0 not among the choices: plain 4 kernel pairs + residual 4 x 2
    ("drop-path-without-zero",
     "stages: {count: 2, width: 16, block: [plain, residual], kernel_size: {choices: [3, 5], per_stage: true}}\n"
     "drop_path: [0.1, 0.2]", 12),
    # per stage: 4 families x 3 distinct expansions (null = each family's own); 36 without an identity path
    ("family-default-expansions-and-drop-path",
     "stages: {count: 2, width: 32, block: {choices: [dense, fire, convnext, inverted_residual], per_stage: true},"
     " expansion: {choices: [null, 4.0, 6.0, 0.125], per_stage: true}}\ndrop_path: [0.0, 0.1]", 36 + 108 * 2),
    # inception: 2 kernels x wide_kernel 3 ways; plain: 2 kernels
    ("wide-kernel", "stages: {count: 2, width: 32, block: [inception, plain], wide_kernel: [null, 3, 5],"
                    " kernel_size: [3, 5]}", 8),
    ("fixed-branches",
     "stages: {count: 2, width: 32, block: {choices: [inception, plain], per_stage: true},"
     " branches: {value: [8, 8, 8, 8, 8, 8]}}", 4),
    # [plain, bottleneck] 2 + [bottleneck, bottleneck] 2
    ("block-patterns-x-expansion",
     "stages: {count: 2, width: 16, block: {patterns: [[plain, bottleneck], [bottleneck, bottleneck]]},"
     " expansion: [0.25, 0.5]}", 4),
    # strides 1-2: s2 avgpool (patterns 1 and 2 alike) 1 + transition x 2; strides 2-2: 1 + 1 + 2
    ("stride-and-downsample-patterns",
     "stages: {count: 2, stride: {patterns: [[1, 2], [2, 2]]},"
     " downsample: {patterns: [[maxpool, avgpool], [avgpool, avgpool], [conv, transition]]}, compression: [0.5, 0.25]}",
     7),
    # bottleneck variants 2 expansions each, convnext 1 (null = 4.0); all x 2 drop_path
    ("stage-variants-x-expansion",
     "stages:\n  count: 2\n  stride: {each: [1, 2]}\n  expansion: [null, 4.0]\n"
     "  variants: {r: {block: bottleneck, downsample: conv}, s: {block: bottleneck, downsample: patch},"
     " c: {block: convnext, downsample: patch}}\ndrop_path: [0.0, 0.1]", 10),
    # plain: 4 stride pairs; dense: the two transitions only differ where a stage strides (1 + 3 x 2)
    ("stage-variants-with-compression",
     "stages:\n  count: 2\n  stride: {choices: [1, 2], per_stage: true}\n"
     "  variants: {p: {block: plain}, d: {block: dense, downsample: transition, compression: 0.25},"
     " e: {block: dense, downsample: transition}}\ndrop_path: [0.0, 0.1]", 11),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in COUNTED], ids=[c[0] for c in COUNTED])
def test_architecture_count_is_exact(text: str, expected: int) -> None:
    sp = space(text)
    specs = enumerate_specs(sp)
    assert len(specs) == expected
    assert sp.architecture_count() == expected and sp.count_is_exact
    for spec in specs.values():
        assert canonical(spec) == spec  # no unread value makes two specs of one network
        validate_spec(spec)
    # What a study samples is among them (and, for the smallest spaces, is all of them).
    sampled = {spec.spec_id for _, spec in ask(sp, 200)}
    assert sampled <= set(specs)
    if expected <= 12:
        assert sampled == set(specs)


def test_full_space_count_matches_the_closed_form() -> None:
    sp = load_space(SPACES / "full.yaml")
    # Per stage: sum over the 9 blocks of their option values (expansion 3 where read, groups 3
    # where read: plain 3, residual 3, bottleneck 9, inception 1, dense 3, convnext 3,
    # inverted_residual 3, separable 1, fire 3 = 29), x (stride 1, or stride 2 x 5 downsample
    # modes) x depth 2 x width 2 x kernel 3 x dilation 2 x se 3 x attention 2. Without a residual
    # block (plain, inception, dense, separable, fire: 11) drop_path is not asked.
    per_stage, plain_stage = (29 * 6 * 144, 11 * 6 * 144)
    rest = 5 * (2 * 3 * 2) * 4 * 4  # stem variants, head pool x norm x dropout, norm, activation
    expected = rest * (2 * per_stage**3 - plain_stage**3)
    assert sp.architecture_count() == expected == 29_377_931_803_361_280 and sp.count_is_exact


def test_count_past_the_enumeration_limit_is_an_upper_bound() -> None:
    blocks = list(BLOCKS.names())
    sp = space(f"""
        stages: {{count: 7, width: 16, block: {{choices: {blocks}, per_stage: true}}, expansion: [0.5, 1.0]}}
    """)
    readers = len([b for b in blocks if "expansion" in BLOCKS.get(b).options])
    n = len(blocks)
    exact = 2 * n**7 - (n - readers) ** 7  # expansion is asked unless no stage reads it
    assert not sp.count_is_exact
    assert sp.architecture_count() == 2 * n**7 >= exact
    assert "upper bound" in sp.describe()
    small = space(f"""
        stages: {{count: 3, width: 16, block: {{choices: {blocks}, per_stage: true}}, expansion: [0.5, 1.0]}}
    """)
    assert small.count_is_exact and small.architecture_count() == 2 * n**3 - (n - readers) ** 3


# ------------------------------------------------------------------ patterns and variants
PATTERNED = """
    stem:
      variants:
        resnet: {kind: imagenet, kernel_size: 3}
        patchify: {kind: patchify, kernel_size: 2, stride: 2}
        bare: {kind: none}
      width: [16, 32]
    stages:
      count: 3
      width: {each: [16, 32, 64]}
      stride: {each: [1, 2, 2]}
      depth: {patterns: [[1, 1, 2], [1, 2, 2], [2, 2, 2]]}
      variants:
        resnet: {block: bottleneck, downsample: conv}
        convnext: {block: convnext, downsample: patch}
        dense: {block: dense, downsample: transition, compression: 0.25}
      expansion: {choices: [null, 2.0], per_stage: true}
    drop_path: [0.0, 0.1]
    train: {lr: [0.001, 0.003]}
"""


def test_patterns_and_variants_are_one_parameter_each_named_by_label() -> None:
    sp = space(PATTERNED)
    assert {"stem", "stages", "depth"} <= set(sp.searched)
    assert sp.params["depth"].labels == ["1-1-2", "1-2-2", "2-2-2"]
    seen = {"depth": set(), "stem": set(), "stages": set()}
    for params, spec in ask(sp, 60):
        for key in seen:
            seen[key].add(params[key])
        assert tuple(s.depth for s in spec.stages) == tuple(int(d) for d in params["depth"].split("-"))
        stem = {"resnet": ("imagenet", 3, 1), "patchify": ("patchify", 2, 2), "bare": ("none", 3, 1)}
        assert (spec.stem.kind, spec.stem.kernel_size, spec.stem.stride) == stem[params["stem"]]
        assert ("stem.width" in params) == (params["stem"] != "bare")
        block, downsample = {"resnet": ("bottleneck", "conv"), "convnext": ("convnext", "patch"),
                             "dense": ("dense", "transition")}[params["stages"]]
        assert [s.block for s in spec.stages] == [block] * 3
        assert [s.downsample for s in spec.stages] == ["conv", downsample, downsample]  # s1 has stride 1
        assert spec.stages[1].compression == (0.25 if block == "dense" else 0.5)
        assert ("drop_path" in params) == (block != "dense")
        validate_spec(spec)
    assert seen == {"depth": {"1-1-2", "1-2-2", "2-2-2"}, "stem": {"resnet", "patchify", "bare"},
                    "stages": {"resnet", "convnext", "dense"}}
    assert sp.architecture_count() == len(enumerate_specs(sp))


def test_build_from_trials_csv_round_trips(tmp_path: Path) -> None:
    sp = space(PATTERNED)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    specs = []
    for _ in range(30):
        trial = study.ask()
        specs.append(sp.suggest(trial)[0])
        study.tell(trial, 0.5)
    path = tmp_path / "trials.csv"
    trials_frame(study).to_csv(path, index=False)
    frame = pd.read_csv(path)
    assert frame["stem.width"].isna().any() and frame["drop_path"].isna().any()  # unused: empty cells
    for (_, row), spec in zip(frame.iterrows(), specs, strict=True):
        values = {k: row[k] for k in sp.searched if k in row}
        assert sp.build(values)[0] == spec


def test_one_stage_pattern_reads_back_from_a_number(tmp_path: Path) -> None:
    # A one-stage pattern's label is "2": pandas reads the column back as numbers.
    sp = space("stages: {count: 1, depth: {patterns: [[1], [2]]}}")
    pd.DataFrame({"depth": ["2", None]}).to_csv(tmp_path / "t.csv", index=False)
    cell = pd.read_csv(tmp_path / "t.csv")["depth"][0]  # 2.0: a float, as the column has a gap
    assert sp.build({"depth": cell})[0].stages[0].depth == 2
    assert sp.build({"depth": 1})[0].stages[0].depth == 1
    with pytest.raises(SpaceError, match="patterns"):
        sp.build({"depth": 3})


def test_a_single_pattern_is_fixed_per_stage() -> None:
    sp = space("stages: {count: 3, depth: {patterns: [[1, 2, 3]]}}")
    assert sp.searched == {}
    assert [s.depth for s in sp.build({})[0].stages] == [1, 2, 3]


def test_describe_says_where_each_conditional_parameter_applies() -> None:
    sp = space("""
        stem: {kind: [conv, none], width: [8, 16]}
        stages:
          count: 2
          block: [plain, residual, bottleneck]
          stride: {choices: [1, 2], per_stage: true}
          downsample: {choices: [maxpool, transition], per_stage: true}
          compression: [0.5, 0.25]
          expansion: [0.5, 1.0]
        drop_path: [0.0, 0.1]
    """)
    lines = {line.split()[0]: line for line in sp.describe().splitlines() if line.startswith("  ") and
             not line.startswith("    ")}
    assert "only unless stem.kind is none" in lines["stem.width"]
    assert "only where stride > 1" in lines["s2.downsample"]
    assert "only where downsample is transition" in lines["compression"]
    assert f"only for {EXPANSION_FAMILIES} blocks" in lines["expansion"]
    assert "only with residual, bottleneck" in lines["drop_path"]
    assert "only" not in lines["block"] and "only" not in lines["s1.stride"]


# ------------------------------------------------------------------ load-time errors
def assert_error(path: Path, key: str, *fragments: str) -> None:
    with pytest.raises(SpaceError) as err:
        load_space(path)
    message = str(err.value)
    assert message.startswith(f"{path}: {key}: "), message
    assert err.value.path == str(path) and err.value.key == key
    for fragment in fragments:
        assert fragment in message.removeprefix(f"{path}: "), f"{fragment!r} not in {message!r}"


ERRORS = [
    ("option-no-block-reads", "stages: {count: 2, block: plain, expansion: [0.25, 0.5]}", "stages.expansion",
     ["`expansion`", "blocks here: plain", f"the families that read it: {EXPANSION_FAMILIES}"]),
    ("fixed-option-no-block-reads", "stages: {count: 2, block: [plain, residual], expansion: 0.5}",
     "stages.expansion", ["blocks here: plain, residual", EXPANSION_FAMILIES]),
    ("option-on-one-stage", "stages: {count: 2, block: {each: [plain, bottleneck]}, expansion: {each: [0.5, 0.5]}}",
     "stages.expansion[1]", ["stage 1", "plain", "default (null)"]),
    ("group-width-on-plain", "stages: {count: 1, block: [plain, residual], group_width: 4}", "stages.group_width",
     ["families that read it: bottleneck"]),
    ("branches-on-plain", "stages: {count: 1, block: plain, branches: {value: [8, 8, 8, 8, 8, 8]}}",
     "stages.branches", ["inception"]),
    ("wide-kernel-on-plain", "stages: {count: 1, block: plain, wide_kernel: [3, 5]}", "stages.wide_kernel",
     ["inception"]),
    ("compression-without-transition", "stages: {count: 2, stride: 2, downsample: maxpool, compression: [0.5, 0.25]}",
     "stages.compression", ["transition"]),
    ("compression-without-stride", "stages: {count: 2, stride: 1, downsample: transition, compression: 0.25}",
     "stages.compression", ["transition", "stride > 1"]),
    ("compression-on-unstrided-stage",
     "stages: {count: 2, stride: {each: [1, 2]}, downsample: transition, compression: {each: [0.25, 0.5]}}",
     "stages.compression[1]", ["stage 1", "transition"]),
    ("list-valued-as-plain-list", "stages: {count: 1, block: inception, branches: [8, 8, 8, 8, 8, 8]}",
     "stages.branches", ["{value: [...]}", "only be fixed"]),
    ("hidden-as-plain-list", "stages: {count: 1}\nhead: {hidden: [64, 32]}", "head.hidden", ["{value: [...]}"]),
    ("hidden-as-choices", "stages: {count: 1}\nhead: {hidden: {choices: [[64], [32]]}}", "head.hidden",
     ["only be fixed"]),
    ("list-valued-patterns", "stages: {count: 1, block: inception, branches: {patterns: [[1], [2]]}}",
     "stages.branches", ["cannot be searched by patterns"]),
    ("pattern-too-long", "stages: {count: 2, depth: {patterns: [[1, 2], [1, 2, 3]]}}", "stages.depth",
     ["pattern 2", "2 stages"]),
    ("pattern-too-short", "stages: {count: 3, depth: {patterns: [[1, 2, 2], [1, 2]]}}", "stages.depth",
     ["pattern 2", "3 stages"]),
    ("pattern-repeated", "stages: {count: 2, depth: {patterns: [[1, 2], [1, 2]]}}", "stages.depth", ["repeat"]),
    ("pattern-repeated-as-value", "stages: {count: 2, block: bottleneck, expansion: {patterns: [[1, 2], [1.0, 2.0]]}}",
     "stages.expansion", ["repeat"]),
    ("pattern-bad-value", "stages: {count: 2, kernel_size: {patterns: [[3, 5], [3, 4]]}}", "stages.kernel_size",
     ["pattern 2", "odd"]),
    ("patterns-empty", "stages: {count: 2, depth: {patterns: []}}", "stages.depth", ["non-empty"]),
    ("patterns-with-per-stage", "stages: {count: 2, depth: {patterns: [[1, 2], [2, 2]], per_stage: true}}",
     "stages.depth", ["no other keys"]),
    ("patterns-and-each-disagree", "stages: {depth: {patterns: [[1, 2], [2, 2]]}, width: {each: [8, 16, 32]}}",
     "stages", ["different lengths", "[2, 3]"]),
    ("variants-same-settings", "stages: {count: 1}\nstem: {variants: {a: {kind: conv}, b: {kind: conv, stride: 1}}}",
     "stem.variants.b", ["same settings", "'a'"]),
    ("variant-searches", "stages: {count: 1}\nstem: {variants: {a: {kind: conv, kernel_size: [3, 5]}}}",
     "stem.variants.a.kernel_size", ["fixes its values"]),
    ("variant-and-key", "stages: {count: 1}\nstem: {variants: {a: {kind: conv}}, kind: patchify}", "stem.kind",
     ["set both here and by stem.variants"]),
    ("variant-unknown-key", "stages: {count: 1}\nstem: {variants: {a: {colour: red}}}", "stem.variants.a.colour",
     ["unknown key"]),
    ("variants-not-a-mapping", "stages: {count: 1}\nstem: {variants: [conv, patchify]}", "stem.variants",
     ["must map variant names"]),
    ("variants-set-nothing", "stages: {count: 1}\nstem: {variants: {a: {}}}", "stem.variants", ["set no stem keys"]),
    ("variant-invalid-stem", "stages: {count: 1}\nstem: {variants: {p: {kind: patchify, kernel_size: 3, stride: 2},"
     " c: {kind: conv}}}", "stem.variants.p", ["patchify", "must be the same"]),
    ("stage-variant-option-unread", "stages: {count: 2, variants: {a: {block: plain, expansion: 0.5},"
     " b: {block: bottleneck}}}", "stages.variants.a.expansion", ["plain", EXPANSION_FAMILIES]),
    ("stage-variant-compression-unread", "stages: {count: 2, stride: 2, variants: {a: {downsample: maxpool,"
     " compression: 0.25}, b: {downsample: transition}}}", "stages.variants.a.compression", ["transition"]),
    ("stage-variant-and-key", "stages: {count: 2, block: plain, variants: {a: {block: plain}, b: {block: residual}}}",
     "stages.block", ["set both"]),
]


@pytest.mark.parametrize(("text", "key", "fragments"), [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_load_error_names_file_key_and_reason(tmp_path: Path, text: str, key: str, fragments: list[str]) -> None:
    assert_error(write(tmp_path, text + "\n"), key, *fragments)


def test_an_option_some_allowed_block_reads_is_accepted() -> None:
    sp = space("stages: {count: 2, block: {each: [plain, [plain, bottleneck]]}, expansion: {each: [null, 0.5]}}")
    assert sp.architecture_count() == 2


# ------------------------------------------------------------------ the shipped zoo spaces
@pytest.mark.parametrize(("name", "count"), [("blocks", 108), ("convnext_steps", 96), ("kernel_size", 512)])
def test_every_architecture_of_a_shipped_space_is_valid_at_32x32(name: str, count: int) -> None:
    sp = load_space(SPACES / f"{name}.yaml")
    assert sp.architecture_count() == count and sp.count_is_exact
    specs = enumerate_specs(sp)
    assert len(specs) == count
    for spec in specs.values():
        validate_spec(spec, (32, 32), 3)
        assert canonical(spec) == spec


def test_blocks_space_covers_every_conv_family() -> None:
    # The token families (attention, mlp) have their own space, cnn_vs_attention.yaml.
    conv = [n for n in BLOCKS.names() if not BLOCKS.get(n).tokens]
    sp = load_space(SPACES / "blocks.yaml")
    assert sp.params["block"].values() == conv
    assert {spec.stages[0].block for spec in enumerate_specs(sp).values()} == set(conv)


def test_convnext_steps_space_holds_resnet_and_convnext_endpoints() -> None:
    sp = load_space(SPACES / "convnext_steps.yaml")
    resnet, _ = sp.build({"stem": "resnet", "stages": "resnet", "depth": "1-1-2-1", "kernel_size": 3,
                          "activation": "relu", "norm": "batch"})
    convnext, _ = sp.build({"stem": "patchify", "stages": "convnext", "depth": "1-1-3-1", "kernel_size": 7,
                            "activation": "gelu", "norm": "layer"})
    assert [s.block for s in resnet.stages] == ["bottleneck"] * 4 and resnet.stem.kind == "imagenet"
    assert [s.downsample for s in convnext.stages] == ["conv", "patch", "patch", "patch"]
    assert convnext.stem == StemSpec("patchify", 32, 2, 2) and [s.depth for s in convnext.stages] == [1, 1, 3, 1]


# Measured: 200 of 200 seeds give a valid network at 32x32 (1 failure in 20,000: groups=4 behind
# a dense stage whose width it does not divide, as full.yaml's comment says).
FULL_VALID_AT_LEAST = 0.98


def test_full_space_samples_are_nearly_all_valid_at_32x32() -> None:
    sp = load_space(SPACES / "full.yaml")
    valid, ids = 0, set()
    for seed in range(200):
        spec, _, params = sp.sample(seed=seed)
        assert canonical(spec) == spec
        assert set(params) <= set(sp.searched)
        ids.add(spec.spec_id)
        try:
            validate_spec(spec, (32, 32), 3)
            valid += 1
        except SpecError:
            pass
    assert valid / 200 >= FULL_VALID_AT_LEAST
    assert len(ids) == 200  # 2.9e16 networks: no repeats


def test_show_prints_the_count() -> None:
    result = subprocess.run([sys.executable, "-m", "harness", "show", str(SPACES / "blocks.yaml")],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert "distinct architectures: 108" in result.stdout
    assert "searched parameters (3):" in result.stdout


def test_readme_documents_every_key_and_every_shipped_space() -> None:
    from harness.search.space import SEARCH_CHECKS, TOP_KEYS
    from harness.train.train_config import TRAIN_CHECKS
    from harness.zoo.spec_values import HEAD_CHECKS, STAGE_CHECKS, STEM_CHECKS

    text = (SPACES / "README.md").read_text()
    keys = [*TOP_KEYS, "stem.variants", "stages.count", "stages.variants"]
    for section, checks in (("stem", STEM_CHECKS), ("stages", STAGE_CHECKS), ("head", HEAD_CHECKS),
                            ("train", TRAIN_CHECKS), ("search", SEARCH_CHECKS)):
        keys += [f"{section}.{k}" for k in checks]
    missing = [k for k in keys if f"`{k}`" not in text]
    assert not missing, f"search_spaces/README.md does not document {missing}"
    for name in BLOCKS.names():
        assert f"| `{name}` |" in text
    for path in sorted(SPACES.glob("*.yaml")):
        row = next((line for line in text.splitlines() if line.startswith(f"| `{path.name}` |")), None)
        assert row is not None, f"{path.name} is not in the table of shipped spaces"
        assert f"| {load_space(path).architecture_count():,}" in row


def test_readme_examples_load() -> None:
    text = (SPACES / "README.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    assert len(blocks) >= 3
    for block in blocks:
        space_from_dict(yaml.safe_load(block))
