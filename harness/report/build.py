"""Reports: the tables, plots and one self-contained HTML page of a study, drawn again at any time.

`build_report(folder)` reads the study from its storage (folder/study.db) or, when only that is at
hand, from trials.csv, and writes into the folder:

- `trials.csv` (every trial; left as it is when it is the source), `leaderboard.md`, `pareto.csv`,
  `importance.csv` (when importance can be computed);
- `plots/*.png` (harness.report.plots, one function per figure);
- `report.html`: one page with the study's record (run.json, space.yaml), the tables and every plot
  embedded as a data URI, so the page is a single file that reads offline and needs no JavaScript.

Nothing is trained; a study that is still running gets a report of what has ended so far.
"""

from __future__ import annotations

import base64
import html
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from harness.files import atomic_write
from harness.numbers import human
from harness.store.folder import quiet_optuna, read_folder, read_run_info
from harness.store.provenance import versions
from harness.store.trials import (
    complete_columns,
    first_runs,
    leaderboard,
    pareto_front,
    searched_columns,
    state_counts,
    trained_trials,
    trials_frame,
)

if TYPE_CHECKING:
    import optuna

DEFAULT_TOP = 10
REPORT_HTML = "report.html"
PLOTS_DIR = "plots"
MAX_HEATMAPS = 4
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
COSTS = {"flops": "FLOPs", "params": "params"}


@dataclass
class Plot:
    """One figure of the report: drawn (path set) or not (reason set)."""

    name: str  # file stem under plots/
    title: str
    caption: str
    path: Path | None = None
    reason: str | None = None


@dataclass
class Report:
    """What `build_report` wrote, for the CLI to print and for tests to check."""

    folder: Path
    study_name: str
    source: str  # where the trials came from, in words
    frame: pd.DataFrame
    html: Path
    files: list[Path] = field(default_factory=list)
    plots: list[Plot] = field(default_factory=list)
    importance: pd.DataFrame | None = None
    importance_note: str = ""

    @property
    def drawn(self) -> list[Plot]:
        return [p for p in self.plots if p.path is not None]

    @property
    def not_drawn(self) -> list[Plot]:
        return [p for p in self.plots if p.path is None]


# ---------------------------------------------------------------------------------------------
# Reading the study


def varying_parameters(frame: pd.DataFrame) -> list[str]:
    """Searched parameters with at least two values among the feasible completed trials."""
    done = trained_trials(frame)
    return [c for c in searched_columns(frame) if done[c].dropna().nunique() >= 2]


# ---------------------------------------------------------------------------------------------
# Tables


def report_leaderboard(frame: pd.DataFrame, top: int = DEFAULT_TOP) -> pd.DataFrame:
    """The `top` feasible completed trials by accuracy, each experiment once (a reused result is
    listed under the trial that trained it), with accuracy per GFLOP and who reused it."""
    board = leaderboard(frame, top).copy()
    flops = pd.to_numeric(board["flops"], errors="coerce").astype(float)
    board["acc_per_gflop"] = board["accuracy"].astype(float) / (flops / 1e9)
    reused = frame["reused_from"].dropna() if "reused_from" in frame else pd.Series(dtype=float)
    board["reused_by"] = [
        ", ".join(str(int(n)) for n in frame.loc[reused.index[reused.astype(int) == int(num)], "number"])
        for num in board["number"]
    ]
    return board


def _md_cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "-"
    return str(value).replace("|", "\\|").replace("\n", " ")


def _value(value: Any) -> Any:
    """A parameter value as it reads best: 3 rather than 3.0, '-' for none."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return int(value) if value.is_integer() else f"{value:.4g}"
    return value


def leaderboard_rows(frame: pd.DataFrame, top: int = DEFAULT_TOP) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the leaderboard as text cells (for leaderboard.md and the page)."""
    board = report_leaderboard(frame, top)
    params = searched_columns(frame)
    header = ["rank", "trial", "accuracy", "params", "FLOPs", "acc/GFLOP", "architecture", *params]
    if board["reused_by"].astype(bool).any():
        header.append("reused by")
    rows = []
    for rank, (_, r) in enumerate(board.iterrows(), start=1):
        per = r["acc_per_gflop"]
        row = [str(rank), str(int(r["number"])), f"{r['accuracy']:.2%}", human(r["params"]), human(r["flops"]),
               "-" if pd.isna(per) else f"{per:.3g}", _md_cell(r["label"]),
               *[_md_cell(_value(r[p])) for p in params]]
        if "reused by" in header:
            row.append(r["reused_by"] or "-")
        rows.append(row)
    return header, rows


def leaderboard_markdown(frame: pd.DataFrame, top: int = DEFAULT_TOP, title: str = "") -> str:
    """leaderboard.md: the best trials as a Markdown table, with what each column means."""
    header, rows = leaderboard_rows(frame, top)
    lines = [f"# Leaderboard{': ' + title if title else ''}", ""]
    if not rows:
        lines.append(f"No trial has completed yet ({_state_counts(frame)}).")
        return "\n".join(lines) + "\n"
    lines += [
        f"Top {len(rows)} trials by validation accuracy ({_state_counts(frame)}). Each architecture "
        "is listed once (trials that reused its result are under \"reused by\"); trials refused by a "
        "constraint are left out. acc/GFLOP: validation accuracy (fraction) per 10^9 multiply-adds "
        "per image.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---:" if h in ("rank", "trial", "accuracy", "params", "FLOPs", "acc/GFLOP") else "---"
                       for h in header) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def pareto_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The non-dominated trials by accuracy vs FLOPs and by accuracy vs params, one row per trial
    and front; `front` says which (flops or params). Infeasible and reused trials are left out."""
    done = trained_trials(frame)
    params = searched_columns(frame)
    columns = ["front", "number", "accuracy", "flops", "params", "label", *params]
    parts = []
    for cost in COSTS:
        front = pareto_front(done, cost=cost)
        if not front.empty:
            parts.append(front.assign(front=cost)[columns])
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts, ignore_index=True)


def _state_counts(frame: pd.DataFrame) -> str:
    """'12 trials: 10 complete, 2 failed, 1 infeasible' (store.trials.state_counts in words)."""
    if frame.empty:
        return "no trials"
    words = {"FAIL": "failed"}
    parts = [f"{n} {words.get(s, s.lower())}" for s, n in state_counts(frame).items()]
    total = len(frame)
    return f"{total} trial{'s' if total != 1 else ''}: " + ", ".join(parts)


# ---------------------------------------------------------------------------------------------
# Parameter importance


def _python_value(value: Any) -> Any:
    """A numpy scalar as the plain Python value a CategoricalDistribution accepts."""
    return value.item() if hasattr(value, "item") else value


def _choices(column: pd.Series) -> list[Any]:
    values = [_python_value(v) for v in column.dropna().unique()]
    if values and all(isinstance(v, float) and v.is_integer() for v in values):
        values = [int(v) for v in values]  # an int column read as floats because of empty cells
    try:
        return sorted(set(values))
    except TypeError:
        return sorted(set(values), key=str)


def study_from_table(frame: pd.DataFrame, params: list[str]) -> optuna.Study:
    """An in-memory study that maximises accuracy, built from the table's feasible completed trials
    (each experiment once): a categorical distribution over each parameter's observed values."""
    import optuna
    from optuna.distributions import CategoricalDistribution

    done = first_runs(trained_trials(frame))
    choices = {p: _choices(done[p]) for p in params}
    with quiet_optuna():
        study = optuna.create_study(direction="maximize")
    for _, row in done.iterrows():
        values, dists = {}, {}
        for p in params:
            v = row[p]
            if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
                continue  # a conditional parameter this trial did not have
            v = _python_value(v)
            if isinstance(v, float) and v.is_integer() and all(isinstance(c, int) for c in choices[p]):
                v = int(v)
            values[p], dists[p] = v, CategoricalDistribution(choices[p])
        study.add_trial(optuna.trial.create_trial(params=values, distributions=dists, value=float(row["accuracy"])))
    return study


def _feasible_copy(study: optuna.Study) -> optuna.Study:
    """An in-memory copy of the study's completed, trained trials, each experiment once (an
    infeasible trial's accuracy 0 and a reused result's second copy are no measurements)."""
    import optuna
    from optuna.trial import TrialState

    keep = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if "infeasible" not in t.user_attrs and "reused_from" not in t.user_attrs]
    with quiet_optuna():
        copy = optuna.create_study(directions=study.directions)
        copy.add_trials(keep)
    return copy


def param_importance(frame: pd.DataFrame, study: optuna.Study | None = None) -> tuple[pd.DataFrame | None, str]:
    """Importance of each varying searched parameter for validation accuracy, by Optuna's default
    importance evaluator: on the study's trials when the storage is at hand, else on a study built
    from the table. Returns (a param/importance table, highest first, or None) and a note on how."""
    import optuna

    done = first_runs(trained_trials(frame))
    if len(done) < 2:
        return None, (f"not computed: {len(done)} completed trial{'s' if len(done) != 1 else ''} "
                      "(importance needs at least 2)")
    params = varying_parameters(frame)
    constant = [p for p in searched_columns(frame) if p not in params]
    if not params:
        what = f" ({', '.join(constant)} took one value)" if constant else " (no searched parameter)"
        return None, f"not computed: no searched parameter varies among the completed trials{what}"
    try:
        with quiet_optuna():
            if study is not None:
                source = "the study's storage"
                target = None
                if len(study.directions) > 1:  # accuracy, the first objective; lower must be better
                    target = lambda t: -t.values[0]  # noqa: E731
                values = optuna.importance.get_param_importances(_feasible_copy(study), params=params, target=target)
            else:
                source = "trials.csv (each parameter categorical over its observed values)"
                values = optuna.importance.get_param_importances(study_from_table(frame, params), params=params)
    except Exception as err:  # an evaluator that cannot cope with these trials
        return None, f"not computed: Optuna's evaluator failed ({type(err).__name__}: {err})"
    table = pd.DataFrame({"param": list(values), "importance": [float(v) for v in values.values()]})
    table = table.sort_values("importance", ascending=False, kind="stable").reset_index(drop=True)
    note = (f"Optuna {optuna.__version__}'s default importance evaluator, for validation accuracy, on "
            f"{len(done)} completed trials from {source}")
    if constant:
        note += f"; not assessed (one value): {', '.join(constant)}"
    if not (table["importance"] > 0).any() or (len(table) > 1 and table["importance"].nunique() == 1):
        note += "; the evaluator could not tell the parameters apart (too few trials)"
    return table, note


# ---------------------------------------------------------------------------------------------
# Plots


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "param"


def _is_png(path: Path) -> bool:
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


def _not_enough(frame: pd.DataFrame, what: str = "completed trial") -> str:
    """Why a plot of completed trials has nothing to show, from the state counts."""
    return f"no {what} yet ({_state_counts(frame)})"


def draw_plots(frame: pd.DataFrame, plots_dir: Path, importance: pd.DataFrame | None,
               importance_note: str, title: str) -> list[Plot]:
    """Every figure of the report, through harness.report.plots; a figure that cannot be drawn is kept
    with the reason."""
    from harness.report import plots as P

    plots_dir.mkdir(parents=True, exist_ok=True)
    done = trained_trials(frame)
    params = searched_columns(frame)
    varying = varying_parameters(frame)
    order = list(importance["param"]) if importance is not None else []
    color_by = order[0] if order else (varying[0] if len(varying) == 1 else None)
    with_accuracy = frame[frame["state"].isin(["COMPLETE", "PRUNED"]) & frame["accuracy"].notna()]
    out: list[Plot] = []

    def draw(name: str, title_: str, caption: str, fn: Callable[[Path], bool], why: str | None,
             skip: bool = False) -> None:
        """Draw one figure; `why` says why it could not be drawn should the plot decline (or,
        with `skip`, why it is not even tried)."""
        plot = Plot(_slug(name), title_, caption)
        out.append(plot)
        path = plots_dir / f"{plot.name}.png"
        if skip:
            plot.reason = why
            return
        try:
            ok = bool(fn(path))
        except Exception as err:  # a plot must not take the report down
            plot.reason = f"drawing failed ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
            return
        if ok and _is_png(path):
            plot.path = path
        else:
            plot.reason = why or "the data cannot support this plot"

    def one_value(p: str) -> str:
        seen = done[p].dropna().unique()
        if len(seen) >= 2:
            return f"the plot declined the {len(seen)} values of {p}"
        shown = _value(_python_value(seen[0])) if len(seen) else "none"
        return f"{p} took one value ({shown}) among the completed trials"

    no_done = _not_enough(frame)
    for cost, unit in (("flops", "FLOPs per image (multiply-adds, log scale)"), ("params", "parameters")):
        has_cost = bool(with_accuracy[cost].notna().any())
        colour = ""
        if color_by:
            colour = f", coloured by {color_by}" + (" (the most important parameter)" if order else "")
        draw(f"accuracy_vs_{cost}", f"Accuracy vs {COSTS[cost]}",
             f"Validation accuracy against {unit}, with the Pareto front{colour}; pruned trials "
             "show the accuracy at which they stopped.",
             lambda p, cost=cost: P.plot_accuracy_vs_cost(frame, p, cost=cost, color_by=color_by,
                                                          title=f"{title}: accuracy vs {COSTS[cost]}"),
             _not_enough(frame, f"trial with an accuracy and {COSTS[cost]}"), skip=not has_cost)
    draw("importance", "Parameter importance", importance_note[:1].upper() + importance_note[1:] + ".",
         lambda p: P.plot_importance(importance, p), importance_note, skip=importance is None)
    draw("history", "Optimisation history",
         "Validation accuracy of each trial in the order they ran, and the best so far.",
         lambda p: P.plot_history(frame, p), _not_enough(frame, "trial with an accuracy"),
         skip=with_accuracy.empty)
    has_curves = bool(frame["history"].notna().any())
    draw("learning_curves", "Learning curves",
         "Validation accuracy per epoch of every trained trial; pruned trials in grey.",
         lambda p: P.plot_learning_curves(frame, p), "no trial has recorded a learning curve yet",
         skip=not has_curves)
    for param in params:
        draw(f"effect_{param}", f"Accuracy per value of {param}",
             f"Validation accuracy of the completed trials for each value of {param} (box and points).",
             lambda p, param=param: P.plot_param_effect(frame, param, p),
             no_done if done.empty else one_value(param), skip=done.empty)
        for per_flop in (False, True):
            suffix = "_flop_normalised" if per_flop else ""
            what = "FLOP-normalised error" if per_flop else "error"
            draw(f"edf_{param}{suffix}", f"Error EDF per value of {param}" + (" (FLOP-normalised)" if per_flop else ""),
                 f"Share of completed trials with error below x, one curve per value of {param} "
                 + ("(each value's models re-weighted so every FLOP range counts equally, as in the RegNet "
                    "design-space paper, so that a value is not favoured just for costing more) " if per_flop else
                    "(the RegNet design-space view: a curve further up and left is a better choice)."),
                 lambda p, param=param, per_flop=per_flop: P.plot_error_edf(frame, param, p, per_flop=per_flop),
                 no_done if done.empty else f"too few completed trials to draw the {what} distribution of {param}",
                 skip=done.empty)
    for x, y in heatmap_pairs(varying, order):
        draw(f"heatmap_{x}_{y}", f"Mean accuracy: {x} x {y}",
             f"Mean validation accuracy of the completed trials for each pair of values of {x} and {y}.",
             lambda p, x=x, y=y: P.plot_heatmap(frame, x, y, p),
             f"too few completed trials to fill a grid of {x} and {y}")
    if len(varying) < 2 and len(params) >= 1:
        which = f"only {varying[0]} varies" if varying else "none varies"
        out.append(Plot("heatmap", "Heatmap of two parameters", "",
                        reason=f"needs two searched parameters that vary among the completed trials ({which})"))
    return out


# ---------------------------------------------------------------------------------------------
# The page


CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0 auto; max-width: 1100px;
       padding: 1em 2em 3em; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
.sub { color: #666; margin-top: 0; }
.banner { background: #fff4d6; border: 1px solid #e0c060; padding: 0.5em 1em; border-radius: 4px; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.info th { width: 11em; }
pre { background: #f7f7f7; border: 1px solid #e3e3e3; padding: 0.6em; overflow-x: auto; font-size: 0.85em; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(460px, 1fr)); gap: 1.5em; }
figure { margin: 0; } figure img { width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #444; font-size: 0.9em; margin-top: 0.3em; }
.notes li { color: #8a4b00; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def html_table(header: list[str], rows: list[list[str]], numeric: set[str] = frozenset()) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td class=\"num\">{_e(c)}</td>" if h in numeric else f"<td>{_e(c)}</td>"
                         for h, c in zip(header, row, strict=True)) + "</tr>"
        for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def info_table(items: list[tuple[str, Any]]) -> str:
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in items if v not in (None, ""))
    return f"<table class=\"info\">{rows}</table>"


def _flag(command: list[str], name: str) -> str | None:
    """The value of `--name V` or `--name=V` in a recorded command line."""
    for i, word in enumerate(command):
        if word == name and i + 1 < len(command):
            return command[i + 1]
        if word.startswith(name + "="):
            return word.split("=", 1)[1]
    return None


def _study_items(run: dict[str, Any], study: optuna.Study | None, frame: pd.DataFrame) -> list[tuple[str, Any]]:
    """What the study was, as (label, text) rows: dataset, budget, sampler, pruner, hardware."""
    latest = run.get("latest") or {}
    runs = run.get("runs") or []
    command = [str(w) for w in latest.get("command") or []]
    fingerprint = dict(study.user_attrs.get("fingerprint") or {}) if study is not None else {}
    items: list[tuple[str, Any]] = []
    if runs:
        first = runs[0].get("started", "?")
        items.append(("runs", f"{len(runs)} (first started {first}, latest {latest.get('started', '?')})"))
    if command:
        items.append(("latest command", " ".join(command)))
    data = latest.get("dataset") or {}
    if data:
        items.append(("dataset", data.get("summary") or data.get("ref")))
        items.append(("dataset source", data.get("source")))
        aug = data.get("augment") or {}
        if aug:
            items.append(("augmentation", f"crop padding {aug.get('crop_padding')} px, flips "
                          f"{'on' if aug.get('flip') else 'off'}"))
        items.append(("validation split", data.get("split_id")))
        items.append(("data placement", data.get("placement")))
    elif fingerprint.get("dataset"):
        items.append(("dataset", f"{fingerprint['dataset']} ({fingerprint.get('image_size', '?')})"))
    budget = []
    if latest.get("trials") is not None:
        budget.append(f"{latest['trials']} trials")
    epochs = fingerprint.get("epochs", latest.get("epochs"))
    seconds = fingerprint.get("seconds") or _flag(command, "--seconds")
    if seconds:
        budget.append(f"{seconds} s of training per trial")
    elif epochs is not None:
        budget.append(f"{epochs} epoch{'s' if epochs != 1 else ''} per trial")
    elif latest:
        budget.append("epochs per trial from the space (train.epochs)")
    timeout = _flag(command, "--timeout")
    if timeout:
        budget.append(f"timeout {timeout} s per run")
    items.append(("budget", ", ".join(budget)))
    objectives = latest.get("objectives") or fingerprint.get("objectives")
    if objectives is None and study is not None:
        objectives = "accuracy" if len(study.directions) == 1 else f"{len(study.directions)} objectives"
    items.append(("objectives", objectives))
    sampler = _flag(command, "--sampler")
    if sampler is None and command[1:2] == ["search"]:
        sampler = "tpe (the default)"
    items.append(("sampler", sampler or ("not recorded" if latest else None)))
    pruner = latest.get("pruner")
    if pruner is None and latest:
        pruner = ("median" if objectives == "accuracy" else "pareto") + " (the default)"
    items.append(("pruner", pruner))
    constraints = fingerprint.get("constraints")
    if constraints:
        items.append(("constraints", ", ".join(f"{k} {v}" for k, v in constraints.items() if v is not None)))
    if latest.get("seed") is not None:
        items.append(("seed", latest["seed"]))
    device = latest.get("device") or {}
    if device:
        extra = ", ".join(f"{k} {v}" for k, v in device.items() if k not in ("type", "name"))
        what = f"{device.get('type', '?')}: {device.get('name', '?')}"
        items.append(("hardware", what + (f" ({extra})" if extra else "")))
    run_versions = latest.get("versions") or {}
    if run_versions:
        items.append(("versions (run)", ", ".join(f"{k} {v}" for k, v in run_versions.items())))
    items.append(("trials", _state_counts(frame)))
    return items


def embed_png(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"<img alt=\"{_e(alt)}\" src=\"data:image/png;base64,{data}\">"


def render_html(report: Report, run: dict[str, Any], study: optuna.Study | None, top: int) -> str:
    """The page: the study, the tables, the plots (embedded), and why any plot is missing."""
    frame = report.frame
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    parts = [
        "<!DOCTYPE html>",
        "<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        f"<title>{_e(report.study_name)}: harness report</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>Study {_e(report.study_name)}</h1>",
        f"<p class=\"sub\">Report drawn {_e(now)} from {_e(report.source)}; {_e(_state_counts(frame))}.</p>",
    ]
    running = int((frame["state"] == "RUNNING").sum()) if not frame.empty else 0
    if running:
        parts.append(f"<p class=\"banner\">The study is still running ({running} trial"
                     f"{'s' if running != 1 else ''} in progress): this report shows the trials ended so "
                     "far; run <code>harness report</code> again for a newer one.</p>")
    done = trained_trials(frame)
    if not done.empty:
        best = done.sort_values(["accuracy", "number"], ascending=[False, True]).iloc[0]
        parts.append(f"<p>Best: trial {int(best['number'])}, {best['accuracy']:.2%} validation accuracy at "
                     f"{_e(human(best['flops']))} FLOPs and {_e(human(best['params']))} params "
                     f"(<code>{_e(best['label'])}</code>).</p>")
    elif not frame.empty and (frame["state"] == "FAIL").all():
        reasons = frame["failure_reason"].dropna().astype(str).value_counts()
        listed = "".join(f"<li>{_e(r)} ({n} trial{'s' if n != 1 else ''})</li>" for r, n in reasons.items())
        parts.append(f"<p class=\"banner\">Every trial failed. The reasons:</p><ul>{listed}</ul>")

    parts.append("<h2>The study</h2>")
    parts.append(info_table(_study_items(run, study, frame)))
    space = report.folder / "space.yaml"
    if space.is_file():
        parts.append("<h3>Search space (space.yaml)</h3>")
        parts.append(f"<pre>{_e(space.read_text(errors='replace'))}</pre>")
    else:
        latest = run.get("latest") or {}
        parts.append(f"<p>Search space: {_e(latest.get('space') or 'not recorded (no space.yaml here)')}.</p>")

    parts.append("<h2>Leaderboard</h2>")
    header, rows = leaderboard_rows(frame, top)
    numeric = {"rank", "trial", "accuracy", "params", "FLOPs", "acc/GFLOP"}
    if rows:
        parts.append(f"<p>Top {len(rows)} by validation accuracy; each architecture once (trials that reused "
                     "its result under \"reused by\"), infeasible trials left out. acc/GFLOP: accuracy "
                     "(fraction) per 10<sup>9</sup> multiply-adds per image.</p>")
        parts.append(html_table(header, rows, numeric))
    else:
        parts.append("<p>No trial has completed yet.</p>")

    parts.append("<h2>Pareto fronts</h2>")
    pareto = pareto_table(frame)
    if pareto.empty:
        parts.append("<p>No completed trial with an accuracy and costs yet.</p>")
    for cost, name in COSTS.items():
        front = pareto[pareto["front"] == cost]
        if front.empty:
            continue
        parts.append(f"<h3>Accuracy vs {name}</h3>")
        ph = ["trial", "accuracy", "FLOPs", "params", "architecture"]
        prows = [[str(int(r["number"])), f"{r['accuracy']:.2%}", human(r["flops"]), human(r["params"]),
                  str(r["label"]) if pd.notna(r["label"]) else "-"] for _, r in front.iterrows()]
        parts.append(html_table(ph, prows, {"trial", "accuracy", "FLOPs", "params"}))

    parts.append("<h2>Parameter importance</h2>")
    if report.importance is not None:
        irows = [[str(r["param"]), f"{r['importance']:.3f}"] for _, r in report.importance.iterrows()]
        parts.append(html_table(["parameter", "importance"], irows, {"importance"}))
    parts.append(f"<p>{_e(report.importance_note[:1].upper() + report.importance_note[1:])}.</p>")

    parts.append("<h2>Plots</h2>")
    if report.drawn:
        parts.append("<div class=\"plots\">")
    for plot in report.drawn:
        assert plot.path is not None
        parts.append(f"<figure id=\"{_e(plot.name)}\">{embed_png(plot.path, plot.title)}"
                     f"<figcaption><b>{_e(plot.title)}.</b> {_e(plot.caption)}</figcaption></figure>")
    if report.drawn:
        parts.append("</div>")
    if report.not_drawn:
        parts.append("<h3>Not drawn</h3><ul class=\"notes\">")
        parts += [f"<li><b>{_e(p.title)}</b>: {_e(p.reason)}</li>" for p in report.not_drawn]
        parts.append("</ul>")

    mine = versions()
    parts.append("<h2>Files</h2><p>In this folder: "
                 + ", ".join(f"<code>{_e(f.relative_to(report.folder))}</code>" for f in report.files
                             if f.parent == report.folder)
                 + f"; the plots as PNG under <code>{PLOTS_DIR}/</code>. Drawn with harness "
                 f"{_e(mine.get('harness'))}, optuna {_e(mine.get('optuna'))}, pandas {_e(mine.get('pandas'))}.</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# ---------------------------------------------------------------------------------------------
# Entry points


def build_report(folder: str | Path, *, study: optuna.Study | None = None, frame: pd.DataFrame | None = None,
                 storage: str | None = None, study_name: str | None = None, top: int = DEFAULT_TOP) -> Report:
    """Write every table, plot and report.html into `folder`; return what was written.

    The trials come from `study` when given, else from `frame`, else from `storage` (a URL; the
    folder is then created if needed), else from folder/study.db, else from folder/trials.csv.
    Raises HarnessError when there is nothing to read.
    """
    folder = Path(folder)
    csv_is_source = False
    if study is None and frame is None:
        read = read_folder(folder, storage, study_name)
        study, frame, csv_is_source = read.study, read.frame, read.from_csv
        name, source, run = read.name, read.source, read.run
    else:
        run = read_run_info(folder)
        name = study.study_name if study is not None else (run.get("latest") or {}).get("study") or folder.name
        source = f"the storage {folder / 'study.db'}" if study is not None else "a trials table"
        if study is not None:
            frame = trials_frame(study)
    folder.mkdir(parents=True, exist_ok=True)
    assert frame is not None
    frame = complete_columns(frame)

    report = Report(folder=folder, study_name=str(name), source=source, frame=frame, html=folder / REPORT_HTML)
    trials_csv = folder / "trials.csv"
    if not csv_is_source:
        atomic_write(trials_csv, lambda p: frame.to_csv(p, index=False))
    report.files.append(trials_csv)

    board = folder / "leaderboard.md"
    text = leaderboard_markdown(frame, top, title=str(name))
    atomic_write(board, lambda p: p.write_text(text))
    report.files.append(board)

    pareto = folder / "pareto.csv"
    front = pareto_table(frame)
    atomic_write(pareto, lambda p: front.to_csv(p, index=False))
    report.files.append(pareto)

    report.importance, report.importance_note = param_importance(frame, study)
    importance_csv = folder / "importance.csv"
    if report.importance is not None:
        table = report.importance
        atomic_write(importance_csv, lambda p: table.to_csv(p, index=False))
        report.files.append(importance_csv)
    else:
        importance_csv.unlink(missing_ok=True)  # an older one would no longer be true

    plots_dir = folder / PLOTS_DIR
    report.plots = draw_plots(frame, plots_dir, report.importance, report.importance_note, str(name))
    drawn = {p.path for p in report.drawn}
    for old in plots_dir.glob("*.png"):  # figures of an earlier report that this one did not draw
        if old not in drawn:
            old.unlink(missing_ok=True)
    report.files += [p.path for p in report.drawn if p.path is not None]

    page = render_html(report, run, study, top)
    atomic_write(report.html, lambda p: p.write_text(page, encoding="utf-8"))
    report.files.append(report.html)
    return report
