"""Checks across keys, once every parameter is parsed: `check_stem` (each stem value makes a valid
stem with some values of the others) and `check_options` (no family option or compression where no
stage can read it), raising the parser's SpaceError at the key the problem is about."""

from __future__ import annotations

import itertools
import math
from typing import Any

from harness.errors import SpecError
from harness.search.space.params import Fixed, Param, Slot, Variants
from harness.search.space.parse import MAX_CHECKED_RANGE, Parser
from harness.search.space.rules import families, possible
from harness.zoo.model import FAMILY_OPTIONS, families_using
from harness.zoo.spec import ArchSpec, StageSpec, StemSpec
from harness.zoo.spec_values import STEM_CHECKS

# The stage keys some stages do not read: the family options, and compression (transitions only).
OPTIONAL_KEYS = (*FAMILY_OPTIONS, "compression")
# When one stem value fails with every value of another, the reason is blamed on the first of
# these (with one kind and one kernel, both fail: blame the kernel).
STEM_BLAME_ORDER = ("kernel_size", "stride", "width", "kind")


def check_stem(p: Parser, params: dict[str, Param], slots: dict[Slot, str]) -> None:
    """Each stem value must make a valid stem with some values of the others (an even kernel
    only with a patchify stem, kernel_size = stride for patchify, width % 3 for googlenet)."""
    variant = params.get("stem")
    variants = variant if isinstance(variant, Variants) else None
    own = [f for f in STEM_CHECKS if slots[("stem", f)] != "stem"]
    base = [dict(settings) for _, settings in variants.table] if variants else [{}]
    choices = [possible(params, slots, ("stem", f)) for f in own]
    if math.prod(len(c) for c in choices) * len(base) > MAX_CHECKED_RANGE:
        return
    rows = [{**fixed, **dict(zip(own, combo, strict=True))}
            for fixed in base for combo in itertools.product(*choices)]
    rows = [r for r in rows if r["kind"] != "none"]  # without a stem the other values are unused
    reasons = [_stem_problem(r) for r in rows]
    if variants:
        for name, settings in variants.table:
            mine = [why for r, why in zip(rows, reasons, strict=True) if all(r[k] == v for k, v in settings)]
            if mine and all(mine):
                raise p.error(f"stem.variants.{name}", mine[0])
    # A value that makes no valid stem with any values of the others is refused, under the key
    # the reason is about.
    for f, values in sorted(zip(own, choices, strict=True), key=lambda fv: STEM_BLAME_ORDER.index(fv[0])):
        for value in values:
            mine = [why for r, why in zip(rows, reasons, strict=True) if r[f] == value]
            if mine and all(mine) and (f == "kind" or f in mine[0]):
                raise p.error(f"stem.{f}", mine[0])


def _stem_problem(row: dict[str, Any]) -> str | None:
    """Why a network with the stem `row` is invalid; None when it is valid."""
    try:
        ArchSpec(stem=StemSpec(**row), stages=(StageSpec(),)).validate()
    except SpecError as err:
        return str(err)
    return None


def check_options(p: Parser, stages: dict[str, Any], params: dict[str, Param], slots: dict[Slot, str],
                  count: int) -> None:
    """A family option (or compression) given where no stage can ever read it is a mistake."""
    variants = params.get("stages")
    if isinstance(variants, Variants):
        _check_variant_options(p, variants, params, slots, count)
    for key in OPTIONAL_KEYS:
        if key in stages:
            _check_option(p, stages[key], key, params, slots, count)


def _blocks(params: dict[str, Param], slots: dict[Slot, str], count: int) -> list[str]:
    """Every block some stage can get, sorted."""
    return sorted({b for i in range(1, count + 1) for b in possible(params, slots, (f"s{i}", "block"))})


def _check_variant_options(p: Parser, variants: Variants, params: dict[str, Param], slots: dict[Slot, str],
                           count: int) -> None:
    """Each stage variant that sets an option (not to its default) must give it a stage that reads it."""
    for name, settings in variants.table:
        fixed = dict(settings)
        for key, value in settings:
            if key not in OPTIONAL_KEYS or value == getattr(StageSpec(), key):
                continue
            if key == "compression":
                ok = fixed.get("downsample", "transition") == "transition"
                why = "`compression` is only read by a `downsample: transition` stage"
            else:
                blocks = [fixed["block"]] if "block" in fixed else _blocks(params, slots, count)
                ok = any(key in families()[b][0] for b in blocks)
                why = (f"block(s) {', '.join(blocks)} do not read `{key}` (the families that "
                       f"do: {', '.join(families_using(key))})")
            if not ok:
                raise p.error(f"stages.variants.{name}.{key}", why)


def _readable(params: dict[str, Param], slots: dict[Slot, str], key: str, stage: int) -> bool:
    """Whether stage `stage` can ever read the optional `key`."""
    if key == "compression":
        return ("transition" in possible(params, slots, (f"s{stage}", "downsample"))
                and any(s > 1 for s in possible(params, slots, (f"s{stage}", "stride"))))
    return any(key in families()[b][0] for b in possible(params, slots, (f"s{stage}", "block")))


def _check_option(p: Parser, raw: Any, key: str, params: dict[str, Param], slots: dict[Slot, str],
                  count: int) -> None:
    """The optional stage `key` (given as `raw`), where not left at its default, must be readable by
    some stage, and, given per stage with `each`, by each stage it is given for."""
    default = getattr(StageSpec(), key)
    readable = [_readable(params, slots, key, i) for i in range(1, count + 1)]
    given = [not (isinstance(params[slots[(f"s{i}", key)]], Fixed)
                  and params[slots[(f"s{i}", key)]].value == default) for i in range(1, count + 1)]
    if not any(given):
        return
    readers = ", ".join(families_using(key))
    if not any(readable):
        if key == "compression":
            why = ("`compression` is the width ratio of a DenseNet transition, but no stage here "
                   "downsamples with `downsample: transition` at a stride > 1")
        else:
            why = (f"no stage here can get a block that reads `{key}` (blocks here: "
                   f"{', '.join(_blocks(params, slots, count))}); the families that read it: {readers}")
        raise p.error(f"stages.{key}", why)
    if not (isinstance(raw, dict) and "each" in raw):
        return
    for i in range(1, count + 1):
        if given[i - 1] and not readable[i - 1]:
            what = (f"stage {i} never downsamples with `transition` at a stride > 1" if key == "compression" else
                    f"stage {i} can only get block(s) {', '.join(possible(params, slots, (f's{i}', 'block')))}, "
                    f"which do not read `{key}` (the families that do: {readers})")
            raise p.error(f"stages.{key}[{i}]", f"{what}; leave this stage at the default "
                                                f"({'null' if default is None else default})")


def check_heads(p: Parser, params: dict[str, Param], slots: dict[Slot, str], count: int) -> None:
    """An attention head count must divide some width its stage can have (each head gets
    width / heads channels): a value that divides none of them makes no network."""
    from harness.zoo.blocks import BLOCKS

    default = BLOCKS.get("attention").defaults["heads"]
    for i in range(1, count + 1):
        if "attention" not in possible(params, slots, (f"s{i}", "block")):
            continue
        widths = possible(params, slots, (f"s{i}", "width"))
        if not widths:  # a range too long to list: not checked here (each network still is)
            continue
        for heads in possible(params, slots, (f"s{i}", "heads")):
            heads = default if heads is None else heads
            if not any(w % heads == 0 for w in widths):
                name = slots[(f"s{i}", "heads")]
                key = "stages.variants" if name == "stages" else "stages.heads"
                raise p.error(key, f"heads={heads} divides no width stage {i} can have "
                                   f"({', '.join(map(str, widths))}): each attention head gets width / heads channels")
