"""report.html of a study, section by section, the answer first: the headline (the best trial, or
why there is none; still running), the accuracy-vs-FLOPs figure, the tables, the other figures,
then the study's record (run.json, space.yaml) and the files and versions at the end."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import pandas as pd

from harness.numbers import human, percent, plural
from harness.report.contents import PLOTS_DIR, Report
from harness.report.html import bullets, escape, figure, html_page, html_table, info_table, words
from harness.report.study_tables import (
    COSTS,
    leaderboard_rows,
    numeric_columns,
    pareto_rows,
    pareto_table,
    sentence,
    state_words,
)
from harness.store.provenance import versions
from harness.store.record import keys
from harness.store.trials import trained_trials

if TYPE_CHECKING:
    import optuna

LEAD_PLOT = "accuracy_vs_flops"  # the figure shown under the best trial, before the tables
FRONT_POINTS = 6  # trials of the accuracy-vs-FLOPs front named under the best trial; the table has them all
CLASSES_SHOWN = 30  # class names listed in the study's record; run.json has them all


def _data_items(latest: dict[str, Any], fingerprint: dict[str, Any]) -> list[tuple[str, Any]]:
    """The dataset, its source, augmentation, split and placement."""
    data = latest.get("dataset") or {}
    if not data:
        if fingerprint.get("dataset"):
            return [("dataset", f"{fingerprint['dataset']} ({fingerprint.get('image_size', '?')})")]
        return []
    items = [("dataset", data.get("summary") or data.get("ref")), ("dataset source", data.get("source"))]
    classes = [str(c) for c in data.get("classes") or []]
    if classes:  # names from a folder of someone else's: escaped like every value of the page
        more = f" and {len(classes) - CLASSES_SHOWN} more" if len(classes) > CLASSES_SHOWN else ""
        items.append(("classes", ", ".join(classes[:CLASSES_SHOWN]) + more))
    aug = data.get("augment") or {}
    if aug:
        items.append(("augmentation", f"crop padding {aug.get('crop_padding')} px, flips "
                      f"{'on' if aug.get('flip') else 'off'}"))
    return items + [("validation split", data.get("split_id")), ("data placement", data.get("placement"))]


def _budget(latest: dict[str, Any], fingerprint: dict[str, Any]) -> str:
    """Trials, training per trial and the run's timeout, in words (from the run's record)."""
    budget = []
    if latest.get("trials") is not None:
        budget.append(f"{latest['trials']} trials")
    epochs = fingerprint.get("epochs", latest.get("epochs"))
    seconds = fingerprint.get("seconds") or latest.get("seconds")
    if seconds:
        budget.append(f"{seconds} s of training per trial")
    elif epochs is not None:
        budget.append(f"{plural(epochs, 'epoch')} per trial")
    elif latest:
        budget.append("epochs per trial from the space (train.epochs)")
    timeout = latest.get("timeout")
    if timeout:
        budget.append(f"timeout {timeout} s per run")
    return ", ".join(budget)


def _search_items(latest: dict[str, Any], fingerprint: dict[str, Any], study: optuna.Study | None
                  ) -> list[tuple[str, Any]]:
    """Objectives, sampler, pruner, recipe, constraints and seed, as the run recorded them (run.json:
    the sampler and the pruner in effect; a record from before harness wrote them says so)."""
    objectives = latest.get("objectives") or fingerprint.get("objectives")
    if objectives is None and study is not None:
        objectives = "accuracy" if len(study.directions) == 1 else f"{len(study.directions)} objectives"
    unknown = "not recorded" if latest else None
    items = [("objectives", objectives), ("sampler", latest.get("sampler") or unknown),
             ("pruner", latest.get("pruner") or unknown)]
    recipe = latest.get("recipe")
    if recipe:
        items.append(("training recipe", ", ".join(f"{k} {v}" for k, v in recipe.items())))
    constraints = fingerprint.get("constraints")
    if constraints:
        items.append(("constraints", ", ".join(f"{k} {v}" for k, v in constraints.items() if v is not None)))
    if latest.get("seed") is not None:
        items.append(("seed", latest["seed"]))
    return items


def _machine_items(latest: dict[str, Any]) -> list[tuple[str, Any]]:
    """The hardware and the versions the latest run recorded."""
    items: list[tuple[str, Any]] = []
    device = latest.get("device") or {}
    if device:
        extra = ", ".join(f"{k} {v}" for k, v in device.items() if k not in ("type", "name"))
        what = f"{device.get('type', '?')}: {device.get('name', '?')}"
        items.append(("hardware", what + (f" ({extra})" if extra else "")))
    run_versions = latest.get("versions") or {}
    if run_versions:
        items.append(("versions (run)", ", ".join(f"{k} {v}" for k, v in run_versions.items())))
    return items


def study_items(run: dict[str, Any], study: optuna.Study | None, frame: pd.DataFrame) -> list[tuple[str, Any]]:
    """What the study was, as (label, text) rows: dataset, budget, sampler, pruner, hardware."""
    latest = run.get("latest") or {}
    runs = run.get("runs") or []
    command = [str(w) for w in latest.get("command") or []]
    fingerprint = dict(study.user_attrs.get(keys.FINGERPRINT) or {}) if study is not None else {}
    items: list[tuple[str, Any]] = []
    if runs:
        first = runs[0].get("started", "?")
        items.append(("runs", f"{len(runs)} (first started {first}, latest {latest.get('started', '?')})"))
    if command:
        items.append(("latest command", " ".join(command)))
    items += _data_items(latest, fingerprint)
    items.append(("budget", _budget(latest, fingerprint)))
    items += _search_items(latest, fingerprint, study)
    items += _machine_items(latest)
    items.append(("trials", state_words(frame)))
    return items


def _context(run: dict[str, Any], study: optuna.Study | None) -> str:
    """' On <dataset>; <budget>.' from run.json and the study's fingerprint; '' when neither says."""
    latest = run.get("latest") or {}
    fingerprint = dict(study.user_attrs.get(keys.FINGERPRINT) or {}) if study is not None else {}
    data = dict(_data_items(latest, fingerprint)).get("dataset")
    said = [str(w) for w in (data, _budget(latest, fingerprint)) if w]
    return f" On {'; '.join(said)}." if said else ""


def _best(frame: pd.DataFrame) -> str:
    """The best trial by validation accuracy and the accuracy-vs-FLOPs front, in words ('' without one)."""
    done = trained_trials(frame)
    if done.empty:
        return ""
    best = done.sort_values(["accuracy", "number"], ascending=[False, True]).iloc[0]
    text = (f"Best: trial {int(best['number'])}, {percent(best['accuracy'], 2)} validation accuracy at "
            f"{escape(human(best['flops']))} FLOPs and {escape(human(best['params']))} params "
            f"(<code>{words(best['label'])}</code>).")
    pareto = pareto_table(frame)
    front = pareto[pareto["front"] == "flops"]
    if len(front) > 1:
        points = [f"trial {int(r['number'])} ({percent(r['accuracy'], 2)} at {escape(human(r['flops']))})"
                  for _, r in front.head(FRONT_POINTS).iterrows()]
        more = f" and {len(front) - FRONT_POINTS} more (under Pareto fronts)" if len(front) > FRONT_POINTS else ""
        text += f"<br>Pareto front, accuracy vs FLOPs: {', '.join(points)}{more}."
    return f"<p class=\"best\" id=\"best\">{text}</p>"


def _headline(report: Report, run: dict[str, Any], study: optuna.Study | None) -> list[str]:
    """The title, where the trials came from and on what data, and the best trial (or why there is none)."""
    frame = report.frame
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    parts = [f"<h1>Study {escape(report.study_name)}</h1>",
             f"<p class=\"sub\">Report drawn {escape(now)} from {escape(report.source)}; "
             f"{escape(state_words(frame))}.{escape(_context(run, study))}</p>"]
    running = int((frame["state"] == "RUNNING").sum()) if not frame.empty else 0
    if running:
        parts.append(f"<p class=\"banner\">The study is still running ({plural(running, 'trial')} in progress): "
                     "this report shows the trials ended so far; run <code>harness report</code> again for a newer "
                     "one.</p>")
    best = _best(frame)
    if best:
        parts.append(best)
    elif not frame.empty and (frame["state"] == "FAIL").all():
        reasons = frame[keys.FAILURE_REASON].dropna().astype(str).value_counts()
        listed = bullets(f"{escape(r)} ({plural(n, 'trial')})" for r, n in reasons.items())
        parts.append(f"<p class=\"banner\">Every trial failed. The reasons:</p>{listed}")
    return parts


def _study_section(report: Report, run: dict[str, Any], study: optuna.Study | None) -> list[str]:
    """The study's record and its search space (at the end: what a reader checks, not what they came for)."""
    parts = ["<h2 id=\"record\">The study</h2>", info_table(study_items(run, study, report.frame))]
    space = report.folder / "space.yaml"
    if space.is_file():
        parts.append("<h3>Search space (space.yaml)</h3>")
        parts.append(f"<pre id=\"space\">{escape(space.read_text(errors='replace'))}</pre>")
    else:
        latest = run.get("latest") or {}
        parts.append(f"<p>Search space: {escape(latest.get('space') or 'not recorded (no space.yaml here)')}.</p>")
    return parts


def _tables_section(report: Report, top: int) -> list[str]:
    """The leaderboard, the Pareto fronts and parameter importance."""
    frame = report.frame
    parts = ["<h2>Leaderboard</h2>"]
    header, rows = leaderboard_rows(frame, top)
    if rows:
        parts.append(f"<p>Top {len(rows)} by validation accuracy; each architecture once (trials that reused "
                     "its result under \"reused by\"), infeasible trials left out. acc/GFLOP: accuracy "
                     "(fraction) per 10<sup>9</sup> multiply-adds per image.</p>")
        parts.append(html_table(header, rows, numeric_columns(), name="leaderboard"))
    else:
        parts.append("<p>No trial has completed yet.</p>")
    parts.append("<h2>Pareto fronts</h2>")
    pareto = pareto_table(frame)
    if pareto.empty:
        parts.append("<p>No completed trial with an accuracy and costs yet.</p>")
    for cost, name in COSTS.items():
        front = pareto[pareto["front"] == cost]
        if not front.empty:
            parts.append(f"<h3>Accuracy vs {name}</h3>")
            parts.append(html_table(*pareto_rows(front), {"trial", "accuracy", "FLOPs", "params"}))
    parts.append("<h2>Parameter importance</h2>")
    if report.importance is not None:
        irows = [[str(r["param"]), f"{r['importance']:.3f}"] for _, r in report.importance.iterrows()]
        parts.append(html_table(["parameter", "importance"], irows, {"importance"}))
    parts.append(f"<p>{escape(sentence(report.importance_note))}</p>")
    return parts


def _lead_figure(report: Report) -> list[str]:
    """The accuracy-vs-FLOPs figure, right under the best trial: the answer in one picture."""
    return [f"<div class=\"lead\">{figure(p.path, p.title, p.caption, p.name)}</div>" for p in report.drawn
            if p.name == LEAD_PLOT and p.path is not None]


def _plots_section(report: Report) -> list[str]:
    """Every other drawn figure, embedded, and why the others are not."""
    parts = ["<h2>Plots</h2>"]
    others = [p for p in report.drawn if p.path is not None and p.name != LEAD_PLOT]
    if others:
        parts.append("<div class=\"plots\">")
        parts += [figure(p.path, p.title, p.caption, p.name) for p in others if p.path is not None]
        parts.append("</div>")
    if report.not_drawn:
        parts.append("<h3>Not drawn</h3><ul class=\"notes\">")
        parts += [f"<li><b>{escape(p.title)}</b>: {escape(p.reason)}</li>" for p in report.not_drawn]
        parts.append("</ul>")
    return parts


def _files_section(report: Report) -> str:
    """The files written beside the page, and the versions that drew it."""
    mine = versions()
    names = ", ".join(f"<code>{escape(f.relative_to(report.folder))}</code>" for f in report.files
                      if f.parent == report.folder)
    return (f"<h2>Files and versions</h2><p id=\"versions\">In this folder: {names}; the plots as PNG under "
            f"<code>{PLOTS_DIR}/</code>. Drawn with harness {escape(mine.get('harness'))}, optuna "
            f"{escape(mine.get('optuna'))}, pandas {escape(mine.get('pandas'))}.</p>")


def render_html(report: Report, run: dict[str, Any], study: optuna.Study | None, top: int) -> str:
    """The page, the answer first: the best trial and the accuracy-vs-FLOPs figure, the tables, the other
    figures (all embedded) and why any is missing; then the study's record, the space, the files and versions."""
    body = [*_headline(report, run, study), *_lead_figure(report), *_tables_section(report, top),
            *_plots_section(report), *_study_section(report, run, study), _files_section(report)]
    return html_page(f"{report.study_name}: harness report", body)
