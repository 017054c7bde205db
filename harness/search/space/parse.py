"""Parsing values: `Parser` turns the raw YAML value of one key into a Param (a fixed value, choices,
a range, per-stage parameters or patterns, named variants), checking every value it can take, and
raises SpaceError naming the file and the key on the first problem."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable
from typing import Any

from harness.errors import InvalidValueError, SpaceError
from harness.search.space.params import Choice, Fixed, FloatRange, IntRange, Param, Pattern, Variants, same
from harness.value_checks import Check, check_int

# Keys whose value is itself a list: a plain list would read as choices, so they are only fixed.
LIST_VALUED = frozenset({"branches", "hidden"})
PARAM_KEYS = ("value", "choices", "low", "high", "step", "log")
SCALARS = (str, int, float, bool, type(None))  # null: an optional key's "family default"
# A grid larger than this is not checked value by value (the bounds are).
MAX_CHECKED_RANGE = 10_000


class Parser:
    """Turns raw YAML values into Params, raising SpaceError(file, key) on the first problem."""

    def __init__(self, path: str | None) -> None:
        self.path = path

    def error(self, key: str, message: str) -> SpaceError:
        """The SpaceError for a problem at `key` ("" for the whole file)."""
        return SpaceError(message, self.path, key or None)

    def check(self, check: Check, value: Any, key: str, what: str = "value") -> None:
        """Run `check` on `value` (called `what` in its message), as a SpaceError at `key`."""
        try:
            check(what, value)
        except InvalidValueError as err:
            raise self.error(key, str(err)) from None

    def mapping(self, raw: Any, key: str, valid: Iterable[str]) -> dict[str, Any]:
        """`raw` itself, once it is a mapping whose keys are all in `valid` (an unknown key gets a hint)."""
        valid = list(valid)
        if not isinstance(raw, dict):
            what = "the file" if not key else "this section"
            raise self.error(key, f"{what} must be a mapping of keys ({', '.join(valid)}), "
                                  f"not {type(raw).__name__}")
        for k in raw:
            if k not in valid:
                hint = difflib.get_close_matches(str(k), valid, n=1)
                maybe = f" (did you mean {hint[0]!r}?)" if hint else ""
                raise self.error(f"{key}.{k}" if key else str(k),
                                 f"unknown key{maybe}; valid keys here: {', '.join(valid)}")
        return raw

    def param(self, raw: Any, key: str, check: Check, *, per_stage_ok: bool = False,
              listed: bool = False) -> Param:
        """A Param from a scalar, a list of choices or a mapping; every possible value is checked.
        A `listed` key takes a list as one value, so it can only be fixed ({value: [...]})."""
        if listed:
            return self._listed(raw, key, check, per_stage_ok)
        if isinstance(raw, list):
            return self._choice(raw, key, check)
        if isinstance(raw, dict):
            allowed = PARAM_KEYS + (("per_stage",) if per_stage_ok else ())
            body = {k: v for k, v in self.mapping(raw, key, allowed).items() if k != "per_stage"}
            if "value" in body:
                if len(body) > 1:
                    raise self.error(key, "`value` fixes the parameter; it takes no other keys")
                return self._fixed(body["value"], key, check)
            if "choices" in body:
                if len(body) > 1:
                    raise self.error(key, "`choices` takes no other keys (low/high/step/log are for ranges)")
                if not isinstance(body["choices"], list):
                    raise self.error(key, "`choices` must be a list")
                return self._choice(body["choices"], key, check)
            if "low" in body or "high" in body:
                return self._range(body, key, check)
            raise self.error(key, "a parameter mapping needs `value`, `choices`, or `low` and `high`")
        return self._fixed(raw, key, check)

    def _listed(self, raw: Any, key: str, check: Check, per_stage_ok: bool) -> Fixed:
        leaf = key.rsplit(".", 1)[-1].split("[")[0]
        hint = (f"`{leaf}` takes a list as one value and a plain list means a choice of values: fix it "
                f"as {{value: [...]}} (a list-valued key can only be fixed)")
        if isinstance(raw, list):
            raise self.error(key, hint)
        if isinstance(raw, dict):
            body = {k: v for k, v in raw.items() if not (per_stage_ok and k == "per_stage")}
            if set(body) != {"value"}:
                raise self.error(key, hint)
            raw = body["value"]
        self.check(check, raw, key)
        return Fixed(tuple(raw) if isinstance(raw, list) else raw)

    def _fixed(self, value: Any, key: str, check: Check) -> Fixed:
        self.check(check, value, key)
        return Fixed(value)

    def _choice(self, options: list[Any], key: str, check: Check) -> Choice:
        if not options:
            raise self.error(key, "empty list of choices; give at least one value")
        for value in options:
            if not isinstance(value, SCALARS):
                raise self.error(key, f"a choice must be a single value, not {value!r}")
            self.check(check, value, key, "choice")
        self._no_repeats(options, key, "choices")
        return Choice(tuple(options))

    def _no_repeats(self, options: list[Any], key: str, what: str) -> None:
        for i, a in enumerate(options):
            if any(same(a, b) for b in options[:i]):
                raise self.error(key, f"{what} repeat a value: {options}")

    def _range(self, body: dict[str, Any], key: str, check: Check) -> Param:
        """{low, high, step, log}: an IntRange when low, high and step are integers, else a FloatRange."""
        if "low" not in body or "high" not in body:
            raise self.error(key, "a range needs both `low` and `high`")
        low, high, step, log = body["low"], body["high"], body.get("step"), body.get("log", False)
        for what, value in (("low", low), ("high", high), ("step", step)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise self.error(key, f"`{what}` must be a number, not {value!r}")
        if not isinstance(log, bool):
            raise self.error(key, f"`log` must be true or false, not {log!r}")
        if not low <= high:
            raise self.error(key, f"`low` ({low}) must not exceed `high` ({high})")
        if step is not None and step <= 0:
            raise self.error(key, f"`step` must be positive, not {step}")
        if log and step is not None:
            raise self.error(key, "a range is either `log` or stepped, not both")
        if log and low <= 0:
            raise self.error(key, f"a log range needs `low` > 0, not {low}")
        if all(isinstance(v, int) for v in (low, high, step or 1)):
            param: Param = IntRange(low, high, step or 1, log)
        else:
            if step is not None and not math.isclose(((high - low) / step) % 1, 0, abs_tol=1e-9):
                raise self.error(key, f"`step` {step} does not divide the range {low}..{high}")
            param = FloatRange(float(low), float(high), None if step is None else float(step), log)
        values = param.values()
        if values is not None and len(values) > MAX_CHECKED_RANGE:
            # The checks are intervals or parity, so both ends and the second value reveal a problem.
            values = [values[0], values[1], values[-1]]
        to_check = values if values is not None else [low, high]
        for value in to_check:
            try:
                check("value", value)
            except InvalidValueError as err:
                raise self.error(key, f"the range {low}..{high} includes {value!r}: {err}") from None
        return param

    def variants(self, raw: Any, section: str, given: dict[str, Any], checks: dict[str, Check],
                 defaults: object, example: str) -> Variants:
        """`<section>.variants`: {name: {key: value, ...}, ...}, each fixing some keys of the
        section together; a key that some variant sets and another does not takes the default."""
        key = f"{section}.variants"
        if not isinstance(raw, dict) or not raw:
            raise self.error(key, f"must map variant names to settings, e.g. {example}")
        fields: list[str] = []
        for name, settings in raw.items():
            if settings is None:
                settings = raw[name] = {}
            self.mapping(settings, f"{key}.{name}", checks)
            for k, value in settings.items():
                where = f"{key}.{name}.{k}"
                if k in LIST_VALUED and isinstance(value, list):
                    value = settings[k] = tuple(value)
                if isinstance(value, (list, dict)):
                    raise self.error(where, f"a variant fixes its values; search other {section} keys "
                                            "beside `variants`, shared by all variants")
                self.check(checks[k], value, where)
                if k not in fields:
                    fields.append(k)
        for k in fields:
            if k in given:
                raise self.error(f"{section}.{k}", f"set both here and by {key}: give it in one place")
        fields = [k for k in checks if k in fields]
        if not fields:
            raise self.error(key, f"the variants set no {section} keys; e.g. {example}")
        table = tuple((str(name), tuple((k, settings.get(k, getattr(defaults, k))) for k in fields))
                      for name, settings in raw.items())
        seen: dict[tuple[tuple[str, Any], ...], str] = {}
        for name, settings in table:
            if settings in seen:
                raise self.error(f"{key}.{name}", f"the same settings as variant {seen[settings]!r}")
            seen[settings] = name
        return Variants(table)

    def stage_count(self, stages: dict[str, Any]) -> int:
        """`stages.count`, or else the length of the `each` and `patterns` lists."""
        lengths = {len(v["each"]) for v in stages.values() if isinstance(v, dict) and "each" in v
                   and isinstance(v["each"], list)}
        lengths |= {len(v["patterns"][0]) for v in stages.values() if isinstance(v, dict)
                    and isinstance(v.get("patterns"), list) and v["patterns"]
                    and isinstance(v["patterns"][0], list)}
        if "count" in stages:
            self.check(check_int(1), stages["count"], "stages.count")
            return int(stages["count"])
        if len(lengths) == 1:
            return lengths.pop()
        if len(lengths) > 1:
            raise self.error("stages", f"the `each` and `patterns` lists have different lengths "
                                       f"{sorted(lengths)}: give one entry per stage (and `count`)")
        raise self.error("stages.count", "missing: say how many stages the network has")

    def stage_param(self, raw: Any, key: str, check: Check, count: int, *, listed: bool = False
                    ) -> list[tuple[str, Param]]:
        """(name, param) for each stage: one shared parameter, one per stage, an explicit list,
        or one choice among per-stage patterns."""
        full = f"stages.{key}"
        stages = f"{count} stage" + ("s" if count != 1 else "")
        if isinstance(raw, dict) and "each" in raw:
            if len(raw) > 1:
                raise self.error(full, "`each` takes no other keys")
            each = raw["each"]
            if not isinstance(each, list):
                raise self.error(full, "`each` must be a list with one parameter per stage")
            if len(each) != count:
                raise self.error(full, f"`each` has {len(each)} entries for {stages}; give one per stage")
            return [(f"s{i}.{key}", self.param(p, f"{full}[{i}]", check, listed=listed))
                    for i, p in enumerate(each, start=1)]
        if isinstance(raw, dict) and "patterns" in raw:
            return self._patterns(raw, full, key, check, count, listed)
        per_stage = isinstance(raw, dict) and raw.get("per_stage", False)
        if not isinstance(per_stage, bool):
            raise self.error(full, f"`per_stage` must be true or false, not {per_stage!r}")
        param = self.param(raw, full, check, per_stage_ok=True, listed=listed)
        if per_stage and param.searched:
            return [(f"s{i}.{key}", param) for i in range(1, count + 1)]
        return [(key, param)] * count

    def _patterns(self, raw: dict[str, Any], full: str, key: str, check: Check, count: int,
                  listed: bool) -> list[tuple[str, Param]]:
        """{patterns: [[...], ...]}: one Pattern for all stages (one pattern only fixes each stage)."""
        stages = f"{count} stage" + ("s" if count != 1 else "")
        if len(raw) > 1:
            raise self.error(full, "`patterns` takes no other keys")
        if listed:
            raise self.error(full, f"`{key}` takes a list as one value: it cannot be searched by "
                                   "patterns; fix it per stage with {each: [{value: [...]}, ...]}")
        patterns = raw["patterns"]
        if not isinstance(patterns, list) or not patterns:
            raise self.error(full, "`patterns` must be a non-empty list of per-stage lists, "
                                   "e.g. [[1, 1, 2], [2, 2, 2]]")
        for j, pattern in enumerate(patterns, start=1):
            if not isinstance(pattern, list) or len(pattern) != count:
                raise self.error(full, f"pattern {j} ({pattern!r}) must list one value for each of "
                                       f"the {stages}")
            for value in pattern:
                if not isinstance(value, SCALARS):
                    raise self.error(full, f"pattern {j}: a value must be a single value, not {value!r}")
                self.check(check, value, full, f"pattern {j}: value")
        # Compared as values, not labels: [1, 2] and [1.0, 2.0] are the same pattern.
        self._no_repeats(patterns, full, "patterns")
        if len(patterns) == 1:
            return [(f"s{i}.{key}", Fixed(v)) for i, v in enumerate(patterns[0], start=1)]
        param = Pattern(tuple(tuple(pattern) for pattern in patterns))
        return [(key, param)] * count
