"""What a report is made of: `Plot` (one figure, drawn or why not) and `Report` (what
`build_report` wrote), shared by the figures, the page and the builder."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

REPORT_HTML = "report.html"
PLOTS_DIR = "plots"


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
        """The figures drawn, in page order."""
        return [p for p in self.plots if p.path is not None]

    @property
    def not_drawn(self) -> list[Plot]:
        """The figures not drawn, each with its reason."""
        return [p for p in self.plots if p.path is None]
