"""Counting: `architecture_count(plan)`, the number of distinct architectures of a space (distinct
specs; training parameters excluded), and whether that number is exact.

The count is exact, conditional parameters included: the joint values of the controlling
parameters (block, stride, downsample, stem kind, group_width) of each group of stages that
parameters link are enumerated, and the values of the parameters that apply there multiplied.
Where a group has more than MAX_ENUMERATED such combinations, the product of all its parameters'
counts is used instead, an upper bound.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from typing import Any

from harness.search.space.params import Fixed, Param, Slot
from harness.search.space.rules import CONTROLLERS, Plan, kind
from harness.zoo.blocks import BLOCKS

MAX_ENUMERATED = 1_000_000


def architecture_count(plan: Plan) -> tuple[int | None, bool]:
    """(number of distinct architectures, whether it is exact); the number is None when infinite."""
    params, slots_of = plan.params, plan.slots_of
    arch = [n for n in params if not n.startswith("train.")]
    controllers = [n for n in arch if any(kind(s) in CONTROLLERS for s in slots_of[n])]
    dependent = [n for n in arch if params[n].searched and n not in controllers
                 and any(plan.rule(s) is not None for s in slots_of[n])]
    # The parameters that always apply and decide nothing multiply the count.
    total = _product(params[n] for n in arch
                     if params[n].searched and n not in controllers and n not in dependent)
    if total is None:
        return None, True

    # drop_path applies when any stage's block has an identity path: rather than enumerate
    # every stage's block jointly, count the networks without such a block apart (below).
    drop = [n for n in dependent if any(plan.rule(s) == "drop_path" for s in slots_of[n])]
    dependent = [n for n in dependent if n not in drop]
    groups = _groups(slots_of, [n for n in controllers if params[n].searched] + dependent)
    counter = _Counter(plan, controllers, dependent, groups)
    every, exact = counter.count(None)
    if every is None:
        return None, True
    if drop:
        every, exact = _with_drop_path(counter, params[drop[0]], every, exact)
    return (None, True) if every is None else (total * every, exact)


def _product(params: Iterable[Param]) -> int | None:
    """The product of the parameters' numbers of values; None when one is continuous."""
    total = 1
    for param in params:
        values = param.values()
        if values is None:
            return None
        total *= len(values)
    return total


def _groups(slots_of: dict[str, list[Slot]], linking: list[str]) -> list[set[str]]:
    """The units (stem, s1, s2, ...) that the `linking` parameters join (a shared stage parameter
    joins its stages), grouped: groups are counted apart and multiplied."""
    parent: dict[str, str] = {}

    def root(unit: str) -> str:
        while parent.setdefault(unit, unit) != unit:
            unit = parent[unit]
        return unit

    for name in linking:
        first, *rest = sorted({s[0] for s in slots_of[name]})
        root(first)
        for unit in rest:
            parent[root(unit)] = root(first)
    groups: dict[str, set[str]] = {}
    for unit in list(parent):
        groups.setdefault(root(unit), set()).add(unit)
    return list(groups.values())


def _with_drop_path(counter: _Counter, drop: Param, every: int, exact: bool) -> tuple[int | None, bool]:
    """The count `every` (of the grouped units, drop_path aside) with drop_path's values, which
    tell networks apart only where some stage has a block with an identity path."""
    plan = counter.plan
    values = drop.values()
    plain_blocks = frozenset(b for b, (_, residual) in plan.families.items() if not residual)
    # Stages in no group have a fixed block: one with an identity path rules "none" out.
    linked = set().union(*counter.groups)
    fixed = [plan.params[plan.slots[(f"s{i}", "block")]] for i in range(1, plan.stage_count + 1)
             if f"s{i}" not in linked]
    without: int | None
    if any(isinstance(p, Fixed) and p.value not in plain_blocks for p in fixed):
        without = 0
    else:
        without, _ = counter.count(plain_blocks)
    if values is None:
        return (None, True) if every != without else (every, exact)
    if not exact or without is None:
        return every * len(values), False
    return every + (len(values) - 1) * (every - without), exact


class _Counter:
    """Counts the groups of linked units of one plan, given which parameters control and which
    depend; the distinct values a dependent parameter gives some slots are kept once computed."""

    def __init__(self, plan: Plan, controllers: list[str], dependent: list[str], groups: list[set[str]]) -> None:
        self.plan = plan
        self.controllers = controllers
        self.dependent = dependent
        self.groups = groups
        self._distinct: dict[tuple[str, tuple[Slot, ...], tuple[str | None, ...]], int | None] = {}

    def count(self, allowed: frozenset[str] | None) -> tuple[int | None, bool]:
        """The product of the groups' counts, only networks whose blocks are in `allowed` (when given)."""
        n, exact = 1, True
        for units in self.groups:
            c, group_exact = self.group(units, allowed)
            if c is None:
                return None, True
            n, exact = n * c, exact and group_exact
        return n, exact

    def group(self, units: set[str], allowed: frozenset[str] | None = None) -> tuple[int | None, bool]:
        """Distinct settings of the slots of `units`, counting only networks whose blocks there are
        all in `allowed` (when given)."""
        params, slots_of = self.plan.params, self.plan.slots_of
        ctrl = [n for n in self.controllers if any(s[0] in units for s in slots_of[n])]
        deps = [n for n in self.dependent if any(s[0] in units for s in slots_of[n])]
        searched = [n for n in ctrl if params[n].searched]
        combinations = math.prod(len(params[n].values() or ()) for n in searched)
        if combinations > MAX_ENUMERATED:
            bound = _product(params[n] for n in deps)
            return (None, True) if bound is None else (combinations * bound, False)
        names = set(ctrl) | set(deps)
        steps = [step for step in self.plan.steps if step.name in names and step.slot[0] in units]
        key_slots = [s for n in ctrl for s in slots_of[n] if s[0] in units]
        block_slots = [s for s in key_slots if s[1] == "block"]
        seen: set[tuple[Any, ...]] = set()
        count = 0
        examples = {n: params[n].example() for n in names}
        for combo in itertools.product(*(params[n].values() for n in searched)):
            chosen = {**examples, **dict(zip(searched, combo, strict=True))}
            got, used = self.plan.walk(chosen.__getitem__, steps)
            if allowed is not None and any(got[s] not in allowed for s in block_slots):
                continue
            key = tuple(got[s] for s in key_slots)
            if key in seen:
                continue
            seen.add(key)
            product = self.dependent_values(deps, got, used)
            if product is None:
                return None, True
            count += product
        return count, True

    def dependent_values(self, deps: list[str], got: dict[Slot, Any], used: dict[str, list[Slot]]) -> int | None:
        """The product, over the dependent parameters that apply (`used`), of the distinct values
        each gives its slots; None when one is continuous."""
        product = 1
        for name in deps:
            if name not in used:
                continue
            blocks = tuple(got.get((s[0], "block")) for s in used[name])
            at = (name, tuple(used[name]), blocks)
            if at not in self._distinct:
                self._distinct[at] = self.distinct(name, at[1], blocks)
            n = self._distinct[at]
            if n is None:
                return None
            product *= n
        return product

    def distinct(self, name: str, slots: tuple[Slot, ...], blocks: tuple[str | None, ...]) -> int | None:
        """How many different values `slots` (of stages with `blocks`) get from the parameter's
        values, once resolve_spec has put the family default in place of null."""
        param = self.plan.params[name]
        values = param.values()
        if values is None:
            return None

        def resolved(value: Any, slot: Slot, block: str | None) -> Any:
            value = param.pick(value, slot)
            if value is None and block is not None:
                return BLOCKS.get(block).defaults.get(slot[1])
            return value

        return len({tuple(resolved(v, s, b) for s, b in zip(slots, blocks, strict=True)) for v in values})
