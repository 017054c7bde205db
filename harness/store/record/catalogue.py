"""The catalogue of what a trial records: one `Metric` per column of the trials table (name,
label, unit, direction, formatter, and which objective, figure, table and tracker uses it), in
the order trials.csv shows them; `register` adds one.

Everything that names, labels, orders or counts a trial's values reads it here: the trials table
(its columns and whole-number columns), the search's objective (the cost an objective pair
optimises, what a reused trial copies, the derived values it records), the report (the leaderboard's
columns, the accuracy-vs-cost figures and their axis labels), and MLflow (which values are metrics,
params or tags). A metric measured by training or counting is written by the objective under its
name; a derived one (`derive`) is computed from the others when the trial is recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from harness.errors import HarnessError
from harness.store.record import keys
from harness.train.overheads import OVERHEAD_COLUMNS

Kind = Literal["score", "cost", "time", "count", "text", "link"]
Tracked = Literal["metric", "param", "tag", "none"]


@dataclass(frozen=True)
class Metric:
    """One column of a trial's record: `name` (its user attribute and column), `label` (an axis
    label with the unit), `short` (a table header), `noun` (in a sentence: "accuracy vs
    parameters"), `unit`, `direction` (which way is better; None: not a result), `kind`, whether it
    is a whole number, whether a reused trial copies it, the objective pair that optimises it
    (`objective`: "flops" for --objectives accuracy,flops), the place of the report's figure of
    accuracy against it (`plot`: 1, 2, ...; 0 or False: none; True: 1), whether the leaderboard
    lists it (`board`), how MLflow logs it, a formatter for
    tables, and `derive` (computed from the record's other values; None: measured)."""

    name: str
    label: str
    short: str = ""
    noun: str = ""
    unit: str = ""
    direction: Literal["max", "min"] | None = None
    kind: Kind = "score"
    integer: bool = False
    reuse: bool = True
    objective: str | None = None
    plot: int = 0
    board: bool = False
    tracked: Tracked = "metric"
    format: Callable[[Any], str] | None = None
    derive: Callable[[Mapping[str, Any]], Any] | None = None

    @property
    def header(self) -> str:
        """A table header: `short`, else the name."""
        return self.short or self.name

    @property
    def words(self) -> str:
        """The metric in a sentence: `noun`, else the header."""
        return self.noun or self.header

    @property
    def numeric(self) -> bool:
        """Whether its values are numbers (scores, costs, times, counts, and reused_from)."""
        return self.kind in ("score", "cost", "time", "count") or self.integer

    def text(self, value: Any) -> str:
        """`value` as a table cell (the formatter, else harness.numbers.plain)."""
        from harness.numbers import plain

        return self.format(value) if self.format is not None else plain(value)


def _percent(value: Any) -> str:
    from harness.numbers import percent

    return percent(value, 2)


def _human(value: Any) -> str:
    from harness.numbers import human

    return human(value)


_OVERHEAD_WORDS = {"build_seconds": "building the network", "count_seconds": "counting its costs",
                   "speed_seconds": "measuring its speed", "warmup_seconds": "the first step's warm-up",
                   "eval_seconds": "evaluating after each epoch", "robust_seconds": "evaluating shifted copies"}

_BUILT_IN = (
    Metric("accuracy", "validation accuracy (%)", "accuracy", "accuracy", "fraction", "max", board=True,
           format=_percent),
    Metric("balanced_accuracy", "balanced validation accuracy (%)", "balanced accuracy", unit="fraction",
           direction="max", format=_percent),
    Metric("macro_f1", "macro F1 on validation", "macro F1", unit="fraction", direction="max"),
    Metric("val_loss", "validation loss (cross-entropy)", "val loss", direction="min"),
    Metric("params", "parameters (count)", "params", "parameters", "count", "min", "cost", integer=True,
           objective="params", plot=2, board=True, format=_human),
    Metric("flops", "FLOPs per image (multiply-adds)", "FLOPs", "FLOPs", "multiply-adds", "min", "cost",
           integer=True, objective="flops", plot=1, board=True, format=_human),
    Metric("receptive_field", "receptive field (px)", "receptive field", unit="px", kind="count", integer=True),
    Metric("latency_ms", "latency at batch 1 (ms)", "latency", "latency", "ms", "min", "cost",
           objective="latency", plot=3),
    Metric("throughput", "throughput (images/s)", "throughput", unit="images/s", direction="max", kind="cost"),
    Metric("memory", "training memory (bytes)", "memory", unit="bytes", direction="min", kind="cost",
           objective="memory"),
    Metric("train_seconds", "training time (s)", "train s", unit="s", direction="min", kind="time"),
    Metric("epochs", "epochs trained", "epochs", kind="count", integer=True),
    Metric(keys.FAILURE_REASON, "why it failed", kind="text", reuse=False, tracked="tag"),
    Metric(keys.INFEASIBLE, "the constraint that refused it", kind="text", tracked="tag"),
    Metric(keys.REUSED_FROM, "the trial whose result it reuses", kind="link", integer=True, reuse=False,
           tracked="tag"),
    Metric(keys.COPIED_FROM, "the warm start's trial it copies", kind="link", reuse=False, tracked="tag"),
    Metric(keys.WARM_START_FROM, "the folder a warm start queued it from", kind="link", reuse=False,
           tracked="tag"),
    Metric(keys.PRUNED_REASON, "why it was stopped early", kind="text", reuse=False, tracked="tag"),
    Metric("train_loss", "training loss (cross-entropy)", "train loss", direction="min"),
    Metric("label", "architecture", "architecture", kind="text", tracked="tag"),
    Metric("spec_id", "the architecture's id", kind="text", tracked="tag"),
    Metric(keys.SEED, "seed", kind="link", integer=True, reuse=False, tracked="param"),
    Metric("uncounted_ops", "operators fvcore did not count", kind="text", tracked="none"),
    Metric("batch_size", "batch size (images)", "batch", kind="count", integer=True, tracked="param"),
    Metric(keys.NOTE, "note", kind="text", tracked="tag"),
    Metric(keys.DEVICE, "device", kind="text", reuse=False, tracked="none"),
    Metric(keys.PRECISION, "precision", kind="text", reuse=False, tracked="none"),
    Metric("robust_accuracy", "accuracy on shifted copies (%)", "robust accuracy", unit="fraction",
           direction="max", format=_percent),
    *(Metric(name, f"seconds {_OVERHEAD_WORDS[name]} (s)", unit="s", direction="min", kind="time", reuse=False)
      for name in OVERHEAD_COLUMNS),
)
_CATALOGUE: dict[str, Metric] = {m.name: m for m in _BUILT_IN}


def register(metric: Metric) -> Metric:
    """Add `metric` to the catalogue (after the others; a name taken is refused): from then on
    trials record it (a derived one is computed when a trial is recorded), trials.csv has its
    column, and reports and trackers show it as its entry says."""
    if metric.name in _CATALOGUE:
        raise HarnessError(f"metric {metric.name!r} is already in the catalogue")
    if metric.name in keys.MARKERS or metric.name in ("number", "state"):
        raise HarnessError(f"{metric.name!r} is a key of the trial record, not a metric name")
    _CATALOGUE[metric.name] = metric
    return metric


def unregister(name: str) -> None:
    """Take a metric added by `register` out again (built-in ones stay)."""
    if name in {m.name for m in _BUILT_IN}:
        raise HarnessError(f"metric {name!r} is built in")
    _CATALOGUE.pop(name, None)


def metrics() -> list[Metric]:
    """Every metric, in table order."""
    return list(_CATALOGUE.values())


def metric(name: str) -> Metric:
    """The catalogue's entry for `name` (a robust.<shift> column gets robust_accuracy's look);
    an unknown name lists the valid ones."""
    if name in _CATALOGUE:
        return _CATALOGUE[name]
    if name.startswith(keys.ROBUST_PREFIX):
        return Metric(name, f"accuracy on {name[len(keys.ROBUST_PREFIX):]} (%)", unit="fraction", direction="max",
                      format=_percent)
    raise HarnessError(f"unknown metric {name!r}; valid: {', '.join(_CATALOGUE)}")


def columns() -> list[str]:
    """The record's columns of the trials table, in order (before each shift's and the curves)."""
    return list(_CATALOGUE)


def integer_columns() -> list[str]:
    """The columns written as whole numbers."""
    return [m.name for m in _CATALOGUE.values() if m.integer]


def numeric_columns() -> list[str]:
    """The columns whose values are numbers."""
    return [m.name for m in _CATALOGUE.values() if m.numeric]


def label(name: str) -> str:
    """The axis label of `name`, with its unit (the name itself when it is not in the catalogue)."""
    try:
        return metric(name).label
    except HarnessError:
        return name


def reused(name: str) -> bool:
    """Whether a trial that reuses another's result copies the value `name` (each shift's too)."""
    return name.startswith(keys.ROBUST_PREFIX) or name in keys.CURVES or (
        name in _CATALOGUE and _CATALOGUE[name].reuse)


def objective_cost(objectives: str) -> str | None:
    """The cost an objective pair optimises beside accuracy ("accuracy,flops" -> "flops"); None
    for one objective or a pair of two accuracies."""
    first, _, second = objectives.partition(",")
    if first != "accuracy" or not second:
        return None
    return next((m.name for m in _CATALOGUE.values() if m.objective == second), None)



def plotted() -> list[Metric]:
    """The costs a report draws accuracy against, in their figures' order (FLOPs, params, latency)."""
    return sorted((m for m in _CATALOGUE.values() if m.plot), key=lambda m: int(m.plot))


def board() -> list[Metric]:
    """The metrics a leaderboard lists (accuracy first), in order."""
    return [m for m in _CATALOGUE.values() if m.board]


def tracked_as(kind: Tracked) -> list[str]:
    """The names MLflow logs as `kind` (metric, param, tag, none)."""
    return [m.name for m in _CATALOGUE.values() if m.tracked == kind]


def derived(values: Mapping[str, Any]) -> dict[str, Any]:
    """The derived metrics computed from `values` (a trial's record so far), those that could be
    (a value they need missing, or None, leaves them out)."""
    out: dict[str, Any] = {}
    for m in _CATALOGUE.values():
        if m.derive is None:
            continue
        try:
            value = m.derive({**values, **out})
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            continue  # not computable from this record (a failed or refused trial)
        if value is not None:
            out[m.name] = value
    return out
