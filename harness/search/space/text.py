"""Text: `conditions` (parameter -> where it applies, in words) and `describe` (the parameters, one
line each), for `harness space` and the study's first lines."""

from __future__ import annotations

import textwrap

from harness.search.space.params import Param, Slot, Variants
from harness.search.space.rules import Plan, families, rule, token_families
from harness.zoo.model import families_using


def condition_text(slot: Slot, what: str | None = None) -> str:
    """Where `slot` applies, e.g. "where stride > 1"; "" when it always does. `what`: the slot's rule
    in its space (Plan.rule), when known; else `rule(slot)`."""
    what = rule(slot) if what is None else what
    if what == "conv":
        return f"for conv blocks (not {', '.join(sorted(token_families()))})"
    if what in ("option", "expansion"):
        text = f"for {', '.join(families_using(slot[1]))} blocks"
        return text + (" (not with group_width)" if what == "expansion" else "")
    if what == "compression":
        return "where downsample is transition (stride > 1)"
    if what == "downsample":
        return "where stride > 1"
    if what == "stem":
        return "unless stem.kind is none"
    if what == "drop_path":
        residual = [name for name, (_, res) in families().items() if res]
        return f"with {', '.join(residual)} blocks"
    return ""


def conditions(params: dict[str, Param], plan: Plan) -> dict[str, str]:
    """Parameter name -> when it applies, for the architecture parameters that do not always apply."""
    out = {}
    for name, slots in plan.slots_of.items():
        if name.startswith("train.") or isinstance(params[name], Variants):
            continue
        texts = {condition_text(s, plan.rule(s) or "") for s in slots}
        if texts != {""}:
            out[name] = "; ".join(sorted(t for t in texts if t))
    return out


def describe(params: dict[str, Param], conditional: dict[str, str], exact: bool) -> str:
    """The parameters as text: one line each, searched ones first; a conditional one says where it
    applies (`conditional`); `exact` False adds that the count of architectures is an upper bound."""
    lines = []
    searched = {n: p for n, p in params.items() if p.searched}
    width = max((len(n) for n in searched), default=0)
    shown = {n: str(p) for n, p in searched.items()}
    column = min(max((len(s) for s in shown.values()), default=0), 45)
    for name, text in shown.items():
        when = conditional.get(name)
        line = f"  {name:<{width}}  {text}"
        if when:
            line = f"{line:<{width + column + 4}}  only {when}"
        lines.append(line.rstrip())
    fixed = [f"{n}={p}" for n, p in params.items() if not p.searched]
    if fixed:
        lines.append(textwrap.fill("fixed: " + ", ".join(fixed), width=100,
                                   initial_indent="  ", subsequent_indent="    "))
    if not exact:
        lines.append("  (too many block/stride/downsample combinations to enumerate: the count "
                     "of architectures is an upper bound)")
    return "\n".join(lines)
