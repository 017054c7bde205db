"""Plots from a trials table alone (never from a study or a model): one module per figure family,
each a `*_table` function (what the figure shows, as a DataFrame) and a `plot_*` that draws it.

- harness.report.plots.style: the one look, the table as the figures read it, parameter levels;
- cost: accuracy against FLOPs or params (`plot_accuracy_vs_cost`, `plot_accuracy_vs_flops`);
- effect: accuracy per value of a parameter (`plot_param_effect`);
- edf: error EDFs per value of a parameter (`plot_error_edf`);
- importance: parameter importance (`plot_importance`);
- history: the optimisation history (`plot_history`);
- curves: learning curves (`plot_learning_curves`);
- heatmap: mean accuracy over two parameters (`plot_heatmap`);
- robustness: accuracy against robust accuracy, each shift's drop per value (`plot_robustness`).

Every `plot_*` function takes a trials table (as `harness.store.trials.trials_frame` or `load_trials`
makes it; also tables read back from trials.csv), writes one PNG and returns True, or returns
False and writes nothing when the table cannot support that figure (no completed trial, a
parameter with a single value, no learning curves, ...). None of them raises on such tables: a
study that is still running, one where every trial failed, or one with a single trial is normal.

Which rows a figure uses:
- "completed": state COMPLETE with an accuracy, not infeasible (a hard constraint refused it, so it
  was never trained) and not reused (a copy of an earlier trial's result: the same experiment,
  counted once);
- "pruned": state PRUNED; their accuracy is the one when they were stopped, so only the
  accuracy-vs-cost, history and learning-curve figures show them, marked apart;
- FAIL and RUNNING rows are counted in titles and otherwise left out.
"""

from harness.report.plots.cost import (
    accuracy_vs_cost_table,
    front_points,
    plot_accuracy_vs_cost,
    plot_accuracy_vs_flops,
    strongest_parameter,
)
from harness.report.plots.curves import curves_table, parse_curve, plot_learning_curves
from harness.report.plots.edf import edf_table, error_edf, flop_weights, plot_error_edf
from harness.report.plots.effect import param_effect_table, plot_param_effect
from harness.report.plots.heatmap import heatmap_table, plot_heatmap
from harness.report.plots.history import best_so_far, history_table, plot_history
from harness.report.plots.importance import importance_table, plot_importance
from harness.report.plots.latency import latency_flops_table, plot_latency_vs_flops
from harness.report.plots.robustness import plot_robustness, robustness_table, shift_columns
from harness.report.plots.style import (
    DPI,
    FIGSIZE,
    QUANTILE_BINS,
    apply_style,
    completed,
    levels,
    log_limits,
    natural_order,
    save_figure,
    set_titles,
    styled_figure,
)

__all__ = [
    "DPI",
    "plot_robustness",
    "robustness_table",
    "latency_flops_table",
    "plot_latency_vs_flops",
    "shift_columns",
    "FIGSIZE",
    "QUANTILE_BINS",
    "accuracy_vs_cost_table",
    "apply_style",
    "best_so_far",
    "completed",
    "curves_table",
    "edf_table",
    "error_edf",
    "flop_weights",
    "front_points",
    "heatmap_table",
    "history_table",
    "importance_table",
    "levels",
    "log_limits",
    "natural_order",
    "param_effect_table",
    "parse_curve",
    "plot_accuracy_vs_cost",
    "plot_accuracy_vs_flops",
    "plot_error_edf",
    "plot_heatmap",
    "plot_history",
    "plot_importance",
    "plot_learning_curves",
    "plot_param_effect",
    "save_figure",
    "set_titles",
    "strongest_parameter",
    "styled_figure",
]
