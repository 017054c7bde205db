"""The report's figures: which to draw from a trials table (`draw_plots`, in page order: accuracy
vs costs, importance, history, learning curves, per parameter its effect and error EDFs, then
heatmaps of `heatmap_pairs`), each drawn by harness.report.plots and kept as a `Plot`, drawn or
with the reason it is not."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from harness.numbers import plain
from harness.report import plots
from harness.report.contents import Plot
from harness.report.plots.latency import latency_flops_table
from harness.report.study_tables import COSTS, sentence, state_words, varying_parameters
from harness.store.record import catalogue, keys
from harness.store.trials import searched_columns, trained_trials

MAX_HEATMAPS = 4
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def slug(name: str) -> str:
    """A name as a file stem: runs of anything but letters, digits, _ and - become one _."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "param"


def is_png(path: Path) -> bool:
    """The file exists and starts as a PNG does."""
    try:
        with path.open("rb") as f:
            return f.read(8) == PNG_SIGNATURE
    except OSError:
        return False


def heatmap_pairs(params: list[str], order: list[str], limit: int = MAX_HEATMAPS) -> list[tuple[str, str]]:
    """Pairs of varying parameters for heatmaps: kernel size with the dilation of the same stage
    first, then the two most important (`order`: most important first)."""
    pairs: list[tuple[str, str]] = []

    def stage(name: str) -> str:
        return name.rsplit(".", 1)[0] if "." in name else ""

    def add(a: str, b: str) -> None:
        if a != b and (a, b) not in pairs and (b, a) not in pairs:
            pairs.append((a, b))

    kernels = [p for p in params if "kernel" in p]
    dilations = [p for p in params if "dilation" in p]
    for k in kernels:
        match = [d for d in dilations if stage(d) == stage(k)] or (dilations if len(dilations) == 1 else [])
        for d in match:
            add(k, d)
    pairs = pairs[:limit - 1]
    ranked = [p for p in order if p in params] + [p for p in params if p not in order]
    if len(ranked) >= 2:
        add(ranked[0], ranked[1])
    return pairs[:limit]


def not_enough(frame: pd.DataFrame, what: str = "completed trial") -> str:
    """Why a plot of completed trials has nothing to show, from the state counts."""
    return f"no {what} yet ({state_words(frame)})"


class Figures:
    """The figures drawn into one folder so far, each a Plot: drawn, or with the reason it is not."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.plots: list[Plot] = []

    def draw(self, name: str, title: str, caption: str, fn: Callable[[Path], bool], why: str | None,
             skip: bool = False) -> None:
        """Draw one figure; `why` says why it could not be drawn should the plot decline (or,
        with `skip`, why it is not even tried)."""
        plot = Plot(slug(name), title, caption)
        self.plots.append(plot)
        path = self.folder / f"{plot.name}.png"
        if skip:
            plot.reason = why
            return
        try:
            ok = bool(fn(path))
        except Exception as err:  # a plot must not take the report down
            plot.reason = f"drawing failed ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
            return
        if ok and is_png(path):
            plot.path = path
        else:
            plot.reason = why or "the data cannot support this plot"


def draw_plots(frame: pd.DataFrame, plots_dir: Path, importance: pd.DataFrame | None,
               importance_note: str, title: str) -> list[Plot]:
    """Every figure of the report, through harness.report.plots; a figure that cannot be drawn is kept
    with the reason."""
    plots_dir.mkdir(parents=True, exist_ok=True)
    figures = Figures(plots_dir)
    order = list(importance["param"]) if importance is not None else []
    _cost_figures(figures, frame, order, title)
    _study_figures(figures, frame, importance, importance_note)
    _robustness_figure(figures, frame, order)
    _parameter_figures(figures, frame)
    _heatmaps(figures, frame, order)
    return figures.plots


def _with_accuracy(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["state"].isin(["COMPLETE", "PRUNED"]) & frame["accuracy"].notna()]


def _cost_figures(figures: Figures, frame: pd.DataFrame, order: list[str], title: str) -> None:
    """Accuracy against FLOPs and against params, coloured by the most important parameter (or
    the only varying one)."""
    varying = varying_parameters(frame)
    color_by = order[0] if order else (varying[0] if len(varying) == 1 else None)
    colour = ""
    if color_by:
        colour = f", coloured by {color_by}" + (" (the most important parameter)" if order else "")
    with_accuracy = _with_accuracy(frame)
    for metric in catalogue.plotted():
        cost, name = metric.name, COSTS.get(metric.name, metric.words)
        unit = metric.label
        figures.draw(f"accuracy_vs_{cost}", f"Accuracy vs {name}",
                     f"Validation accuracy against {unit}, with the Pareto front{colour}; pruned trials "
                     "show the accuracy at which they stopped.",
                     lambda p, cost=cost, name=name: plots.plot_accuracy_vs_cost(
                         frame, p, cost=cost, color_by=color_by, title=f"{title}: accuracy vs {name}"),
                     not_enough(frame, f"trial with an accuracy and {name}"),
                     skip=cost not in with_accuracy or not bool(with_accuracy[cost].notna().any()))
    measured = latency_flops_table(frame)[0]
    figures.draw("latency_vs_flops", "Latency vs FLOPs",
                 "Latency measured at batch 1 against FLOPs counted, one point per trained architecture; "
                 "Kendall's tau says how well FLOPs order the networks by speed on this device.",
                 lambda p: plots.plot_latency_vs_flops(frame, p, title=f"{title}: latency vs FLOPs"),
                 not_enough(frame, "two trials with a measured latency"), skip=len(measured) < 2)


def _study_figures(figures: Figures, frame: pd.DataFrame, importance: pd.DataFrame | None,
                   importance_note: str) -> None:
    """Parameter importance, the optimisation history and the learning curves."""
    figures.draw("importance", "Parameter importance", sentence(importance_note),
                 lambda p: plots.plot_importance(importance, p), importance_note, skip=importance is None)
    figures.draw("history", "Optimisation history",
                 "Validation accuracy of each trial in the order they ran, and the best so far.",
                 lambda p: plots.plot_history(frame, p), not_enough(frame, "trial with an accuracy"),
                 skip=_with_accuracy(frame).empty)
    figures.draw("learning_curves", "Learning curves",
                 "Validation accuracy per epoch of every trained trial; pruned trials in grey.",
                 lambda p: plots.plot_learning_curves(frame, p), "no trial has recorded a learning curve yet",
                 skip=not bool(frame[keys.HISTORY].notna().any()))


def _robustness_figure(figures: Figures, frame: pd.DataFrame, order: list[str]) -> None:
    """Accuracy vs robust accuracy and each shift's drop per value of the most important (or the
    only varying) parameter; only for a search that measured robustness."""
    if not plots.shift_columns(frame):
        return
    varying = varying_parameters(frame)
    by = order[0] if order else (varying[0] if varying else None)
    figures.draw("robustness", "Accuracy under shift",
                 "Validation accuracy against robust accuracy (the mean over the shifted copies), and each "
                 "shift's mean accuracy drop" + (f" per value of {by}" if by else "") + ".",
                 lambda p: plots.plot_robustness(frame, p, by=by), not_enough(frame, "trial with a robust accuracy"))


def _one_value(done: pd.DataFrame, param: str) -> str:
    """Why the figures of `param` declined: it took one value (or the plot declined its values)."""
    seen = done[param].dropna().unique()
    if len(seen) >= 2:
        return f"the plot declined the {len(seen)} values of {param}"
    shown = plain(seen[0]) if len(seen) else "none"
    return f"{param} took one value ({shown}) among the completed trials"


def _parameter_figures(figures: Figures, frame: pd.DataFrame) -> None:
    """Per searched parameter: accuracy per value, its error EDF and the FLOP-normalised one."""
    done = trained_trials(frame)
    no_done = not_enough(frame)
    for param in searched_columns(frame):
        figures.draw(f"effect_{param}", f"Accuracy per value of {param}",
                     f"Validation accuracy of the completed trials for each value of {param} (box and points).",
                     lambda p, param=param: plots.plot_param_effect(frame, param, p),
                     no_done if done.empty else _one_value(done, param), skip=done.empty)
        for per_flop in (False, True):
            what = "FLOP-normalised error" if per_flop else "error"
            how = ("(each value's models re-weighted so every FLOP range counts equally, as in the RegNet "
                   "design-space paper, so that a value is not favoured just for costing more) " if per_flop else
                   "(the RegNet design-space view: a curve further up and left is a better choice).")
            figures.draw(f"edf_{param}" + ("_flop_normalised" if per_flop else ""),
                         f"Error EDF per value of {param}" + (" (FLOP-normalised)" if per_flop else ""),
                         f"Share of completed trials with error below x, one curve per value of {param} " + how,
                         lambda p, param=param, per_flop=per_flop: plots.plot_error_edf(frame, param, p,
                                                                                        per_flop=per_flop),
                         no_done if done.empty else f"too few completed trials to draw the {what} distribution "
                         f"of {param}", skip=done.empty)


def _heatmaps(figures: Figures, frame: pd.DataFrame, order: list[str]) -> None:
    """Mean accuracy over pairs of varying parameters (`heatmap_pairs`), or why there is none."""
    varying = varying_parameters(frame)
    for x, y in heatmap_pairs(varying, order):
        figures.draw(f"heatmap_{x}_{y}", f"Mean accuracy: {x} x {y}",
                     f"Mean validation accuracy of the completed trials for each pair of values of {x} and {y}.",
                     lambda p, x=x, y=y: plots.plot_heatmap(frame, x, y, p),
                     f"too few completed trials to fill a grid of {x} and {y}")
    if len(varying) < 2 and len(searched_columns(frame)) >= 1:
        which = f"only {varying[0]} varies" if varying else "none varies"
        figures.plots.append(Plot("heatmap", "Heatmap of two parameters", "",
                                  reason=f"needs two searched parameters that vary among the completed trials "
                                         f"({which})"))
