"""Conditions: which slot of the spec applies when (`rule`), and `Plan`, the slots of a space in the
order they are decided, which walks them given the parameters' values.

Conditional parameters (define-by-run): a value the network would not read is not asked of the
trial, and the spec gets the field's default there instead, so the same network always has the
same spec (and `spec_id`), and the count of architectures counts networks, not unused values:
  - a family option (expansion, groups, group_width, branches, wide_kernel) applies to a stage
    whose block family reads it (`harness.zoo.blocks.BLOCKS.get(name).options`); expansion not where
    a bottleneck's group_width is given (groups x group_width is the inner width then);
  - `downsample` applies to a stage with stride > 1 (no downsampling layer otherwise), and
    `compression` where, in addition, downsample is `transition`;
  - stem width, kernel_size and stride apply unless stem.kind is `none`;
  - `drop_path` applies when some stage has a block with an identity path (family.residual);
  - the conv-only stage fields (kernel_size, dilation, padding, se, attention) apply to a stage
    whose block is not a token family (attention, mlp), in a space where some stage can get one
    (elsewhere they always apply, as before the token families existed).
Controlling parameters (stem kind, block, stride, downsample, group_width) are asked first, then
the parameters whose use depends on them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from harness.search.space.params import Fixed, Param, Slot
from harness.search.space.parse import MAX_CHECKED_RANGE
from harness.train.loop import TrainConfig
from harness.zoo.blocks import BLOCKS
from harness.zoo.model import CONV_FIELDS, FAMILY_OPTIONS
from harness.zoo.spec import ArchSpec, HeadSpec, StageSpec, StemSpec

# The fields whose values decide which other fields apply ("controllers").
CONTROLLERS = frozenset({"stem.kind", "stage.block", "stage.stride", "stage.downsample", "stage.group_width"})

# Order in which slots are decided: a slot's condition reads only slots of lower levels.
LEVELS = {None: 0, "stem": 1, "downsample": 1, "drop_path": 1, "compression": 2, "option": 2, "conv": 2,
          "expansion": 3}


def is_stage(section: str) -> bool:
    return section[0] == "s" and section[1:].isdigit()


def kind(slot: Slot) -> str:
    """"stage.block" for ("s2", "block"), "stem.kind" for ("stem", "kind"), ..."""
    return f"stage.{slot[1]}" if is_stage(slot[0]) else f"{slot[0]}.{slot[1]}"


def rule(slot: Slot) -> str | None:
    """Which condition decides whether `slot` applies; None when it always does."""
    section, name = slot
    if section == "stem":
        return None if name == "kind" else "stem"
    if section == "net":
        return "drop_path" if name == "drop_path" else None
    if is_stage(section):
        if name in ("downsample", "compression", "expansion"):
            return name
        if name in FAMILY_OPTIONS:
            return "option"
        if name in CONV_FIELDS:
            return "conv"
    return None


def possible(params: dict[str, Param], slots: dict[Slot, str], slot: Slot) -> list[Any]:
    """The values `slot` can get (before conditions), in order, without repeats."""
    param = params[slots[slot]]
    values = param.values()
    if values is None:
        return []
    out: list[Any] = []
    for value in values[:MAX_CHECKED_RANGE]:
        v = param.pick(value, slot)
        if v not in out:
            out.append(v)
    return out


def token_families() -> frozenset[str]:
    """The block families that read no conv field (attention, mlp)."""
    return frozenset(name for name in BLOCKS.names() if BLOCKS.get(name).tokens)


def default(slot: Slot) -> Any:
    """The field's default, which a slot gets where it does not apply."""
    section, name = slot
    if is_stage(section):
        return getattr(StageSpec(), name)
    cls = {"stem": StemSpec, "head": HeadSpec, "net": ArchSpec, "train": TrainConfig}[section]
    return getattr(cls(), name)


def families() -> dict[str, tuple[frozenset[str], bool]]:
    """block name -> (the options it reads, whether it has an identity path)."""
    return {name: (frozenset(BLOCKS.get(name).options), BLOCKS.get(name).residual)
            for name in BLOCKS.names()}


@dataclass(frozen=True)
class Step:
    """One slot to decide, in order: its parameter, the condition it is under, its default."""

    name: str
    slot: Slot
    rule: str | None
    default: Any


class Plan:
    """The slots of a space (`slots`: slot -> parameter name) in the order they are decided, and
    the walk that decides them. Each part is computed when first needed, then kept."""

    def __init__(self, params: dict[str, Param], slots: dict[Slot, str], stage_count: int) -> None:
        self.params = params
        self.slots = slots
        self.stage_count = stage_count

    @cached_property
    def slots_of(self) -> dict[str, list[Slot]]:
        """Parameter name -> the slots it goes to."""
        out: dict[str, list[Slot]] = {name: [] for name in self.params}
        for slot, name in self.slots.items():
            out[name].append(slot)
        return out

    @cached_property
    def token_stages(self) -> frozenset[str]:
        """The stages ("s2", ...) that can get a token block (whose conv fields are then conditional)."""
        tokens = token_families()
        return frozenset(f"s{i}" for i in range(1, self.stage_count + 1)
                         if tokens.intersection(possible(self.params, self.slots, (f"s{i}", "block"))))

    def rule(self, slot: Slot) -> str | None:
        """`rule(slot)` in this space: a conv field is unconditional where no token block can go."""
        what = rule(slot)
        return None if what == "conv" and slot[0] not in self.token_stages else what

    @cached_property
    def steps(self) -> list[Step]:
        """Every slot, in the order it is decided: by level, then parameters in file order."""
        order = {name: i for i, name in enumerate(self.params)}
        steps = [Step(name, slot, self.rule(slot), default(slot)) for slot, name in self.slots.items()]
        return sorted(steps, key=lambda s: (LEVELS[s.rule], order[s.name]))

    @cached_property
    def families(self) -> dict[str, tuple[frozenset[str], bool]]:
        return families()

    def applies(self, step: Step, got: dict[Slot, Any]) -> bool:
        """Whether `step`'s slot is read, given the values `got` of the slots decided before it."""
        rule = step.rule
        if rule is None:
            return True
        section = step.slot[0]
        if rule == "stem":
            return got[("stem", "kind")] != "none"
        if rule == "drop_path":
            return any(self.families[got[(f"s{i}", "block")]][1] for i in range(1, self.stage_count + 1))
        if rule == "downsample":
            return got[(section, "stride")] > 1
        if rule == "compression":
            return got[(section, "stride")] > 1 and got[(section, "downsample")] == "transition"
        if rule == "conv":
            return not BLOCKS.get(got[(section, "block")]).tokens
        if step.slot[1] not in self.families[got[(section, "block")]][0]:
            return False
        return rule != "expansion" or got.get((section, "group_width")) is None

    def walk(self, value_of: Callable[[str], Any], steps: list[Step] | None = None
             ) -> tuple[dict[Slot, Any], dict[str, list[Slot]]]:
        """Decide each slot of `steps` (all of them by default) in order: the parameter's value
        (asked of `value_of` once, when a first slot of it applies) or the field's default.
        Returns the slot values and, per parameter used, the slots it went to."""
        got: dict[Slot, Any] = {}
        used: dict[str, list[Slot]] = {}
        chosen: dict[str, Any] = {}
        for step in self.steps if steps is None else steps:
            if self.applies(step, got):
                param = self.params[step.name]
                if step.name not in chosen:
                    chosen[step.name] = param.value if isinstance(param, Fixed) else value_of(step.name)
                used.setdefault(step.name, []).append(step.slot)
                got[step.slot] = param.pick(chosen[step.name], step.slot)
            else:
                got[step.slot] = step.default
        return got, used
