"""Loading: `load_space` (a YAML file) and `space_from_dict` (its parsed mapping) -> SearchSpace,
section by section, with the key tables (TOP_KEYS, SEARCH_CHECKS, OBJECTIVES).

File format (documented in search_spaces/README.md):

    name: kernel_size            # optional; the study name defaults to the file's stem
    dataset: default             # optional; --dataset overrides
    stem:   {kind: conv, width: 16, kernel_size: 3, stride: 1}
    stages:
      count: 3
      width: {each: [16, 32, 64]}                      # one parameter per stage
      kernel_size: {choices: [3, 5, 7, 9], per_stage: true}   # searched separately per stage
      dilation: [1, 2]                                 # a list: choices shared by all stages
      depth: {patterns: [[1, 1, 1], [1, 1, 2]]}        # one choice among whole per-stage lists
    head:   {pool: avg, dropout: 0.0, hidden: {value: [64]}}  # a list-valued key is only fixed
    norm: batch
    activation: relu
    drop_path: 0.0
    train:  {epochs: 4, lr: {low: 1.0e-3, high: 1.0e-2, log: true}}
    search: {trials: 12, robustness: {shifts: [translate, noise], severity: 3}}

A parameter is a fixed value, a list of choices, or a mapping: {value: V}, {choices: [...]},
{low: L, high: H, step: S, log: true|false} (integers when L, H and S are integers). In `stages`,
a parameter is shared by all stages unless it says `per_stage: true` or is given as
{each: [p1, p2, ...]}, one parameter per stage, or as {patterns: [[v1, v2, ...], ...]}, one
parameter whose choices are whole per-stage lists. `stem: {variants: {name: {kind: ..., ...}}}`
chooses among named stems. Searched parameters are named by where they sit: `stem.width`,
`kernel_size` (shared by the stages), `s2.kernel_size` (stage 2), `norm`, `head.dropout`,
`train.lr`, `stem` (a variant). Which parameters apply when: see harness.search.space.rules.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from harness.errors import HarnessError, InvalidValueError, SpaceError
from harness.search.constraints import BOUNDS, Constraints
from harness.search.space.checks import check_heads, check_options, check_stem
from harness.search.space.params import Param, Slot
from harness.search.space.parse import LIST_VALUED, Parser
from harness.search.space.space import SearchSpace
from harness.train.train_config import TRAIN_CHECKS, TrainConfig
from harness.value_checks import Check, check_choice, check_int
from harness.yamlfile import YamlLimitError, read_yaml
from harness.zoo.blocks import BLOCKS
from harness.zoo.layers import ACTIVATIONS, NORMS
from harness.zoo.spec import ArchSpec, HeadSpec, StageSpec, StemSpec
from harness.zoo.spec_values import HEAD_CHECKS, NET_CHECKS, STAGE_CHECKS, STEM_CHECKS

if TYPE_CHECKING:
    from harness.data.shifts import Robustness

OBJECTIVES = ("accuracy", "accuracy,flops", "accuracy,params", "accuracy,latency", "accuracy,memory",
              "accuracy,robust_accuracy")
TOP_KEYS = ("name", "description", "dataset", "constraints", "stem", "stages", "head", "norm", "activation",
            "drop_path", "train", "search")
SEARCH_CHECKS: dict[str, Check] = {"trials": check_int(1), "objectives": check_choice(OBJECTIVES)}
SEARCH_KEYS = (*SEARCH_CHECKS, "robustness")
# What the error for a bad `variants` mapping shows as an example, per section.
VARIANT_EXAMPLES = {
    "stem": "{resnet: {kind: imagenet, kernel_size: 3}, patchify: {kind: patchify, kernel_size: 2, stride: 2}}",
    "stages": "{resnet: {block: bottleneck, downsample: conv}, convnext: {block: convnext, downsample: patch}}",
}


def load_space(path: str | Path) -> SearchSpace:
    """Read and validate a search-space YAML file; any problem raises SpaceError naming file and key."""
    path = Path(path)
    if not path.exists():
        raise SpaceError("no such file", str(path))
    if path.is_dir():
        raise SpaceError("is a folder, not a search-space file", str(path))
    try:
        data = read_yaml(path)  # bounded: size, depth and expanded aliases (harness.yamlfile)
    except YamlLimitError as err:
        raise SpaceError(f"refused: {err}", str(path)) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise SpaceError(f"not valid YAML{where}: {problem}", str(path)) from None
    except UnicodeDecodeError:
        raise SpaceError("not a text file", str(path)) from None
    return space_from_dict(data, path=str(path), default_name=path.stem)


def space_from_dict(data: Any, *, path: str | None = None, default_name: str = "space") -> SearchSpace:
    """Validate a parsed search-space mapping (as from YAML) and build the SearchSpace.

    Sections are read in a fixed order (stem, head, network keys, stages, then the checks across
    them, train, constraints, search, name): it decides which problem is reported first, and the
    order of the parameters (within a level of conditions, the order a trial is asked for them)."""
    p = Parser(path)
    if data is None:
        raise p.error("", "the file is empty")
    data = p.mapping(data, "", TOP_KEYS)
    found = _Found()
    _stem(p, data, found)
    found.fill(p, "head", p.mapping(data.get("head", {}), "head", HEAD_CHECKS), HEAD_CHECKS, HeadSpec())
    found.fill(p, "net", data, net_checks(), ArchSpec())
    stages, count = _stages(p, data, found)
    check_stem(p, found.params, found.slots)
    check_options(p, stages, found.params, found.slots, count)
    check_heads(p, found.params, found.slots, count)
    train_images = _train(p, data, found)
    constraints = _constraints(p, data)
    search = p.mapping(data.get("search", {}), "search", SEARCH_KEYS)
    for key, check in SEARCH_CHECKS.items():
        if key in search:
            p.check(check, search[key], f"search.{key}")
    robustness = _robustness(p, search.get("robustness"))
    if search.get("objectives") == "accuracy,robust_accuracy" and robustness is None:
        raise p.error("search.objectives", "accuracy,robust_accuracy needs the robustness evaluation: add "
                                           "`robustness: all` (or {shifts: [...], severity: N}) to `search`")
    name, description, dataset = _about(p, data, default_name)
    return SearchSpace(
        name=name, params=found.params, stage_count=count, slots=found.slots, description=description,
        dataset=dataset, trials=search.get("trials"), objectives=search.get("objectives"),
        constraints=constraints, train_images=train_images, robustness=robustness, path=path, raw=data,
    )


def _robustness(p: Parser, raw: Any) -> Robustness | None:
    """`search.robustness`: `all`, a list of shift names, or {shifts: all | [...], severity: 1-5}
    (the copies' seed is the study's --seed); None when absent."""
    from harness.data.shifts import SEVERITIES, SHIFTS, Robustness

    if raw is None:
        return None
    given = p.mapping(raw, "search.robustness", ("shifts", "severity")) if isinstance(raw, dict) else {"shifts": raw}
    shifts = given.get("shifts", "all")
    if shifts == "all":
        shifts = SHIFTS.names()
    if isinstance(shifts, str):
        shifts = [shifts]
    key = "search.robustness.shifts" if isinstance(raw, dict) else "search.robustness"
    if not isinstance(shifts, list) or not shifts:
        raise p.error(key, f"`all` or a list of shifts ({', '.join(SHIFTS.names())}), not {shifts!r}")
    for name in shifts:
        if name not in SHIFTS:
            raise p.error(key, f"unknown shift {name!r}; valid: {', '.join(SHIFTS.names())}")
    severity = given.get("severity", 3)
    if isinstance(severity, bool) or severity not in SEVERITIES:
        raise p.error("search.robustness.severity", f"must be one of {', '.join(map(str, SEVERITIES))} (as "
                                                    f"CIFAR-10-C names them), not {severity!r}")
    return Robustness(shifts=tuple(shifts), severity=severity)


def net_checks() -> dict[str, Check]:
    """The checks of the network-wide keys (norm, activation, drop_path); the registries' names
    are read now, so layers registered after import count."""
    return {"norm": check_choice(tuple(NORMS.names())),
            "activation": check_choice(tuple(ACTIVATIONS.names())),
            "drop_path": NET_CHECKS["drop_path"]}


def stage_checks() -> dict[str, Check]:
    """The checks of the stage keys, `block` among the blocks registered now."""
    return {**STAGE_CHECKS, "block": check_choice(tuple(BLOCKS.names()))}


class _Found:
    """The parameters found so far (name -> Param, in file order) and the slots they fill."""

    def __init__(self) -> None:
        self.params: dict[str, Param] = {}
        self.slots: dict[Slot, str] = {}

    def add(self, name: str, slot: Slot, param: Param) -> None:
        # A parameter shared by several slots is added once per slot: the first one is kept.
        self.params.setdefault(name, param)
        self.slots[slot] = name

    def fill(self, p: Parser, section: str, given: dict[str, Any], checks: dict[str, Check], defaults: object,
             skip: list[str] | tuple[str, ...] = ()) -> None:
        """One parameter per key of `checks` but those in `skip`, from `given` or the default; the
        network-wide keys ("net") are named without a prefix."""
        prefix = "" if section == "net" else f"{section}."
        for key, check in checks.items():
            if key not in skip:
                raw = given.get(key, getattr(defaults, key))
                self.add(f"{prefix}{key}", (section, key),
                         p.param(raw, f"{prefix}{key}", check, listed=key in LIST_VALUED))

    def variants(self, p: Parser, section: str, given: dict[str, Any], checks: dict[str, Check],
                 defaults: object, units: list[str]) -> list[str]:
        """`<section>.variants`, if given: one parameter named `section` that fills its fields in
        each of `units`. Returns the fields it sets ([] without variants)."""
        if "variants" not in given:
            return []
        variants = p.variants(given["variants"], section, given, checks, defaults, VARIANT_EXAMPLES[section])
        for key in variants.fields:
            for unit in units:
                self.add(section, (unit, key), variants)
        return variants.fields


def _stem(p: Parser, data: dict[str, Any], found: _Found) -> None:
    stem = p.mapping(data.get("stem", {}), "stem", ("variants", *STEM_CHECKS))
    set_by_variants = found.variants(p, "stem", stem, STEM_CHECKS, StemSpec(), ["stem"])
    found.fill(p, "stem", stem, STEM_CHECKS, StemSpec(), skip=set_by_variants)


def _stages(p: Parser, data: dict[str, Any], found: _Found) -> tuple[dict[str, Any], int]:
    """The stage parameters; returns the `stages` mapping and the number of stages."""
    if data.get("stages") is None:
        raise p.error("stages", "missing; give at least `count` and the stage parameters")
    checks = stage_checks()
    stages = p.mapping(data["stages"], "stages", ("count", "variants", *checks))
    count = p.stage_count(stages)
    units = [f"s{i}" for i in range(1, count + 1)]
    set_by_variants = found.variants(p, "stages", stages, checks, StageSpec(), units)
    for key, check in checks.items():
        if key in set_by_variants:
            continue
        raw = stages.get(key, getattr(StageSpec(), key))
        for i, (name, param) in enumerate(p.stage_param(raw, key, check, count, listed=key in LIST_VALUED),
                                          start=1):
            found.add(name, (f"s{i}", key), param)
    return stages, count


def _train(p: Parser, data: dict[str, Any], found: _Found) -> int | None:
    """The training parameters; returns train.images (None: the whole training split)."""
    train = p.mapping(data.get("train", {}), "train", (*TRAIN_CHECKS, "images"))
    # train.images is a data fidelity, one value for the whole study (every trial must train on
    # the same images to compare), so it is a fixed whole number, never searched.
    train_images = train.get("images")
    if train_images is not None:
        if isinstance(train_images, dict | list):
            raise p.error("train.images", "a subset size for the whole study (every trial trains on the same "
                                          "images), so one whole number, not searched")
        p.check(check_int(2), train_images, "train.images")
    found.fill(p, "train", train, TRAIN_CHECKS, TrainConfig())
    return train_images


def _constraints(p: Parser, data: dict[str, Any]) -> Constraints:
    raw = p.mapping(data.get("constraints") or {}, "constraints", tuple(BOUNDS))
    bounds: dict[str, float] = {}
    for key, value in raw.items():
        try:
            bounds[key] = BOUNDS[key][1](value, "the bound")
        except InvalidValueError as err:
            raise p.error(f"constraints.{key}", str(err)) from None
    return Constraints(**bounds)


def _about(p: Parser, data: dict[str, Any], default_name: str) -> tuple[str, str, str | None]:
    """(name, description, dataset), checked."""
    name = data.get("name", default_name)
    description = data.get("description", "")
    dataset = data.get("dataset")
    for key, value in (("name", name), ("description", description)):
        if not isinstance(value, str):
            raise p.error(key, f"must be a string, not {value!r}")
    if dataset is not None:
        # Imported here: importing harness.data registers every dataset source, which only a
        # space naming its dataset needs.
        from harness.data import parse_dataset

        if not isinstance(dataset, str):
            raise p.error("dataset", f"must be a dataset name (NAME or NAME:PATH), not {dataset!r}")
        try:
            parse_dataset(dataset)
        except HarnessError as err:
            raise p.error("dataset", str(err)) from None
    return name, description, dataset
