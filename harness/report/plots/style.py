"""What every figure shares: the look (`apply_style`, `styled_figure`, `set_titles`, `save_figure`,
`log_limits`), the trials table as the figures read it (`normalise`, `completed`, `counts_line`; the
filters are harness.store.record.filters') and parameter values as display levels (`natural_order`,
`levels`, `param_levels`).

All figures have seaborn's whitegrid style, 7 x 4.5 inches at 110 dpi, a title, and axis labels
that name their units. Accuracy is drawn in percent.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; no display needed (servers, CI)

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from harness.errors import HarnessError  # noqa: E402
from harness.files import atomic_write  # noqa: E402
from harness.numbers import human, plain, plural  # noqa: E402
from harness.store.record import catalogue, filters, keys  # noqa: E402

FIGSIZE = (7.0, 4.5)  # inches
DPI = 110
# A numeric parameter with more distinct values than this (a learning rate drawn from a range) is
# shown in quantile bins instead of one group per value.
MAX_LEVELS = 10
QUANTILE_BINS = 5
LEVEL_DIGITS = 3  # significant digits of a parameter value shown as a level
ACCURACY_LABEL = catalogue.label("accuracy")  # "validation accuracy (%)"


# --- the look ----------------------------------------------------------------------------------

@contextmanager
def apply_style() -> Iterator[None]:
    """The one look of every figure here, applied for the duration of the block only (the global
    matplotlib settings are left as they were)."""
    rc: dict[str, Any] = {**sns.axes_style("whitegrid"), **sns.plotting_context("notebook", font_scale=0.85)}
    rc.update({"figure.figsize": FIGSIZE, "figure.dpi": DPI, "savefig.dpi": DPI,
               "axes.titlesize": 11, "axes.titleweight": "bold", "legend.fontsize": 8,
               "legend.title_fontsize": 8, "legend.framealpha": 0.9,
               # Text as written: a class, study or parameter name with "$" is not TeX (and bad TeX would
               # fail the drawing).
               "text.parse_math": False})
    with plt.rc_context(rc):
        yield


@contextmanager
def styled_figure() -> Iterator[tuple[Figure, Axes]]:
    """A styled figure and axes, always closed afterwards (no figure leaks in long searches)."""
    with apply_style():
        fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI, layout="constrained")
        try:
            yield fig, ax
        finally:
            plt.close(fig)


def set_titles(fig: Figure, ax: Axes, title: str, subtitle: str = "") -> None:
    """The figure's title (bold, centred on the figure) and a smaller grey line under it (counts,
    what the figure shows), wrapped so that neither is ever cut at the figure's edge."""
    fig.suptitle(textwrap.fill(title, 70), fontsize=12, fontweight="bold")
    if subtitle:
        ax.set_title(textwrap.fill(subtitle, 95), fontsize=8.5, fontweight="normal", color="dimgrey",
                     loc="left")


def save_figure(fig: Figure, path: str | Path) -> None:
    """The figure as a PNG at `path` (its folder made if needed), written atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=DPI))


def log_scale(ax: Axes, *axes: str) -> None:
    """Log scale on `axes` ("x", "y"), its ticks labelled in plain text (1M, 2M, 5M, 10M): matplotlib's own
    labels are TeX ($10^{6}$), which apply_style turns off so that names with "$" print as written."""
    from matplotlib import ticker

    for which in axes:
        axis = ax.xaxis if which == "x" else ax.yaxis
        (ax.set_xscale if which == "x" else ax.set_yscale)("log")
        axis.set_major_formatter(ticker.FuncFormatter(lambda value, _pos: human(value)))
        axis.set_minor_formatter(ticker.FuncFormatter(_minor_label))


def _minor_label(value: float, _pos: int) -> str:
    """A log axis' minor tick labelled at 2 and 5 times a power of ten (a decade is often all a
    study spans), unlabelled otherwise."""
    if value <= 0:
        return ""
    lead = value / 10 ** np.floor(np.log10(value))
    return human(value) if round(lead) in (2, 5) and abs(lead - round(lead)) < 1e-6 else ""


def log_limits(ax: Axes, costs: Sequence[float]) -> None:
    """x limits of a log axis that leave room around the positive finite `costs`."""
    finite = [c for c in costs if c is not None and np.isfinite(c) and c > 0]
    if finite:
        lo, hi = min(finite), max(finite)
        ax.set_xlim(lo / 1.6, hi * 1.6)


# --- the table as the figures read it -------------------------------------------------------------

def normalise(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with the columns the plots read present and numeric where they should be (tables read
    back from CSV, Int64 columns with <NA>, or hand-made tables lacking columns all work)."""
    t = frame.reset_index(drop=True)  # a copy; a repeated index (concatenated tables) must not misalign
    if "state" not in t:
        t["state"] = "COMPLETE"
    t["state"] = t["state"].astype(str).str.upper()
    for col in ("number", *catalogue.numeric_columns()):
        t[col] = pd.to_numeric(t[col], errors="coerce").astype(float) if col in t else np.nan
    for col in (keys.INFEASIBLE, *keys.CURVES, "label"):
        if col not in t:
            t[col] = np.nan
    if "number" in frame:
        t["number"] = t["number"].fillna(pd.Series(range(len(t)), index=t.index, dtype=float))
    else:
        t["number"] = np.arange(len(t), dtype=float)
    return t


def completed(frame: pd.DataFrame) -> pd.DataFrame:
    """The completed, trained, first-run trials with an accuracy: what the figures compare
    (harness.store.record.filters on the normalised table)."""
    return filters.first_runs(filters.trained(normalise(frame)))


def axis_label(name: str, log: bool = False) -> str:
    """The axis label of a column (its catalogue label, with the unit), saying so on a log axis."""
    text = catalogue.label(name)
    if not log:
        return text
    return f"{text[:-1]}, log scale)" if text.endswith(")") else f"{text} (log scale)"


def in_words(name: str) -> str:
    """A column as a sentence names it ("parameters", "FLOPs"), from the catalogue."""
    try:
        return catalogue.metric(name).words
    except HarnessError:
        return name


def positive(values: pd.Series) -> pd.Series:
    """The values as floats, NaN where not positive (a log axis cannot show them)."""
    v = pd.to_numeric(values, errors="coerce").astype(float)
    return v.where(v > 0)


def counts_line(t: pd.DataFrame) -> str:
    """'12 trials: 8 completed, 2 pruned, 1 failed, 1 running; 1 infeasible, 2 reused'."""
    refused = filters.infeasible_rows(t)
    reused = filters.reused_rows(t) & ~refused
    trained = (t["state"] == "COMPLETE") & ~refused & ~reused
    parts = [f"{int(trained.sum())} completed"]
    for state in ("PRUNED", "FAIL", "RUNNING", "WAITING"):
        k = int((t["state"] == state).sum())
        if k:
            parts.append(f"{k} {'failed' if state == 'FAIL' else state.lower()}")
    extra = [f"{int(s.sum())} {what}" for s, what in ((refused, keys.NOTE_WORDS[keys.INFEASIBLE]),
                                                                (reused, keys.NOTE_WORDS[keys.REUSED_FROM])) if s.any()]
    return f"{plural(len(t), 'trial')}: " + ", ".join(parts) + ("; " + ", ".join(extra) if extra else "")


# --- parameter values as levels ----------------------------------------------------------------

def _sort_key(value: Any) -> tuple[int, float, str]:
    if isinstance(value, (bool, np.bool_)):
        return (1, 0.0, str(value))
    try:
        number = float(value)
    except (TypeError, ValueError):
        return (1, 0.0, str(value))
    return (0, number, "") if not math.isnan(number) else (2, 0.0, "")


def natural_order(values: Sequence[Any] | pd.Series) -> list[Any]:
    """Distinct values (NaN dropped), numbers in numeric order (3, 5, 11, also as strings) before
    the others in text order."""
    seen = pd.Series(list(values), dtype=object).dropna().unique().tolist()
    return sorted(seen, key=_sort_key)


def is_numeric_param(values: pd.Series) -> bool:
    """All present values are numbers (not booleans): a sequential palette suits them."""
    v = values.dropna()
    if v.empty or pd.api.types.is_bool_dtype(v) or v.map(lambda x: isinstance(x, (bool, np.bool_))).any():
        return False
    return bool(pd.to_numeric(v, errors="coerce").notna().all())


def levels(values: pd.Series) -> tuple[pd.Series, list[str]]:
    """Each non-missing value as a display label (index-aligned, missing rows dropped), and the
    labels in natural order. A numeric parameter with more than MAX_LEVELS distinct values is cut
    into QUANTILE_BINS quantile bins labelled 'low-high'."""
    v = values.dropna()
    if v.empty:
        return v.astype(str), []
    numeric = pd.to_numeric(v, errors="coerce")
    is_bool = pd.api.types.is_bool_dtype(v) or v.map(lambda x: isinstance(x, (bool, np.bool_))).any()
    if not is_bool and numeric.notna().all() and numeric.nunique() > MAX_LEVELS:
        numeric = numeric.astype(float)
        codes = pd.qcut(numeric, q=QUANTILE_BINS, duplicates="drop", labels=False)
        span = numeric.groupby(codes).agg(["min", "max"])  # labelled by the values seen, not qcut's edges
        names = {code: f"{row['min']:.3g}–{row['max']:.3g}" for code, row in span.iterrows()}
        labels = codes.map(names).astype(object)
        return labels, [names[code] for code in sorted(names)]
    labels = v.map(lambda x: plain(x, LEVEL_DIGITS)).astype(object)
    order = list(dict.fromkeys(plain(x, LEVEL_DIGITS) for x in natural_order(v)))
    return labels, order


def param_levels(frame: pd.DataFrame, param: str) -> pd.DataFrame:
    """The completed trials where `param` was asked, with its display `level` (an ordered
    categorical, in natural order); empty when `param` is not a column or has fewer than two
    levels among them."""
    done = completed(frame)
    if param not in done:
        return done.iloc[0:0].assign(level=pd.Categorical([]))
    done = done[done[param].notna()]
    labels, order = levels(done[param])
    if len(order) < 2:
        return done.iloc[0:0].assign(level=pd.Categorical([]))
    return done.assign(level=labels.astype(pd.CategoricalDtype(order, ordered=True)))
