"""Reports: the tables, plots and one self-contained HTML page of a study, drawn again at any time.

`build_report(folder)` reads the study (harness.store.results_folder: folder/study.db or, when only that is
at hand, trials.csv) and writes into the folder, module by module:

- `trials.csv` (every trial; left as it is when it is the source), `leaderboard.md`, `pareto.csv`
  (harness.report.study_tables), `importance.csv` when importance can be computed (harness.report.importance_scores);
- `plots/*.png` (harness.report.figures choosing, harness.report.plots drawing, one function per figure);
- `report.html` (harness.report.study_page, from the pieces in harness.report.html): one page, the answer
  first (the best trial, the accuracy-vs-FLOPs plot), then the tables and every other plot, each
  embedded as a data URI, and the study's record (run.json, space.yaml) at the end, so the page is a
  single file that reads offline and needs no JavaScript.

Nothing is trained; a study that is still running gets a report of what has ended so far.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from harness.files import atomic_write
from harness.report.contents import PLOTS_DIR, REPORT_HTML, Report
from harness.report.importance_scores import param_importance
from harness.report.study_page import render_html
from harness.report.study_tables import DEFAULT_TOP, leaderboard_markdown, pareto_table
from harness.store.results_folder import read_folder, read_run_info
from harness.store.trials import complete_columns, trials_frame

if TYPE_CHECKING:
    import optuna

def _read(folder: Path, study: optuna.Study | None, frame: pd.DataFrame | None, storage: str | None,
          study_name: str | None) -> tuple[optuna.Study | None, pd.DataFrame, bool, str, str, dict[str, Any]]:
    """(study, frame, whether trials.csv is the source, name, source in words, run.json) from what
    was given, else from the folder."""
    if study is None and frame is None:
        read = read_folder(folder, storage, study_name)
        return read.study, read.frame, read.from_csv, read.name, read.source, read.run
    run = read_run_info(folder)
    name = study.study_name if study is not None else (run.get("latest") or {}).get("study") or folder.name
    source = f"the storage {folder / 'study.db'}" if study is not None else "a trials table"
    if study is not None:
        frame = trials_frame(study)
    assert frame is not None
    return study, frame, False, str(name), source, run


def build_report(folder: str | Path, *, study: optuna.Study | None = None, frame: pd.DataFrame | None = None,
                 storage: str | None = None, study_name: str | None = None, top: int = DEFAULT_TOP) -> Report:
    """Write every table, plot and report.html into `folder`; return what was written.

    The trials come from `study` when given, else from `frame`, else from `storage` (a URL; the
    folder is then created if needed), else from folder/study.db, else from folder/trials.csv.
    Raises HarnessError when there is nothing to read.
    """
    from harness.report.figures import draw_plots  # matplotlib only when a report is drawn

    folder = Path(folder)
    study, frame, csv_is_source, name, source, run = _read(folder, study, frame, storage, study_name)
    folder.mkdir(parents=True, exist_ok=True)
    frame = complete_columns(frame)
    report = Report(folder=folder, study_name=str(name), source=source, frame=frame, html=folder / REPORT_HTML)

    def write(path: Path, writer: Callable[[Path], None] | None) -> None:
        """Write one file (None: leave it as it is) and list it."""
        if writer is not None:
            atomic_write(path, writer)
        report.files.append(path)

    write(folder / "trials.csv", None if csv_is_source else lambda p: frame.to_csv(p, index=False))
    text = leaderboard_markdown(frame, top, title=str(name))
    write(folder / "leaderboard.md", lambda p: p.write_text(text))
    front = pareto_table(frame)
    write(folder / "pareto.csv", lambda p: front.to_csv(p, index=False))
    report.importance, report.importance_note = param_importance(frame, study)
    importance, importance_csv = report.importance, folder / "importance.csv"
    if importance is not None:
        write(importance_csv, lambda p: importance.to_csv(p, index=False))
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
    write(report.html, lambda p: p.write_text(page, encoding="utf-8"))
    return report
