"""docs/quickstart.ipynb, executed with nbclient, and the Jupyter views of the results objects.

The notebook runs in a temporary folder on a kernel of this interpreter (a kernelspec written into
a temporary JUPYTER_PATH, so a fresh `pip install .[test]` needs no `ipykernel install`): no cell
may fail, the trials table must show every trial of the study it wrote, the plot must be an inline
PNG, the ranking must show as a table, and everything it wrote must lie under results/ there.
The committed file keeps no outputs. `Ranking` and `Evaluation` show as escaped HTML tables.
"""

from __future__ import annotations

import base64
import json
import re
import sys
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import pytest

from harness.rank.candidates import Candidate
from harness.rank.rank_tables import fidelity_table, rank_table, runs_frame
from harness.rank.ranking import Ranking
from harness.train.evaluate import Evaluation
from harness.train.loop import TrainConfig, TrainResult
from harness.zoo.measure import Costs
from harness.zoo.spec import ArchSpec, StageSpec, StemSpec

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "docs" / "quickstart.ipynb"
KERNEL = "harness-test-python"
CELL_TIMEOUT_S = 300  # the longest cell (the search or the ranking) takes 10 to 30 s on 2 cores


@pytest.fixture
def kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The name of a kernelspec that starts this interpreter's ipykernel; Jupyter's and IPython's
    own files (kernelspecs, connection files, history) go under tmp_path, not the home folder."""
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "harness tests", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("MPLBACKEND", "agg")
    return KERNEL


def _cell(nb: Any, cell_id: str) -> Any:
    return next(c for c in nb.cells if c.get("id") == cell_id)


def _data(cell: Any, mime: str) -> str:
    """The `mime` data of the cell's result or display output."""
    found = [o["data"][mime] for o in cell.outputs if o.output_type in ("execute_result", "display_data")
             and mime in o.get("data", {})]
    assert len(found) == 1, (mime, cell.outputs)
    return found[0]


def test_the_committed_notebook_has_no_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)


def test_the_quickstart_notebook_runs_and_shows_its_results(kernel: str, tmp_path: Path) -> None:
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    work = tmp_path / "work"
    work.mkdir()
    NotebookClient(nb, kernel_name=kernel, timeout=CELL_TIMEOUT_S,
                   resources={"metadata": {"path": str(work)}}).execute()  # raises on a failed cell
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    # Everything it wrote is under results/ in its working folder; nothing beside the notebook.
    assert [p.name for p in work.iterdir()] == ["results"] and not (NOTEBOOK.parent / "results").exists()
    folder = work / "results" / "quickstart"
    trials = pd.read_csv(folder / "trials.csv")
    assert len(trials) == 4 and set(trials["state"]) == {"COMPLETE"}
    # The trials table as HTML: one row per trial, with its label and accuracy.
    table = _data(_cell(nb, "table"), "text/html")
    assert "<table" in table and table.count("</tr>") == len(trials) + 1  # the header's row, then the trials'
    cells = re.findall(r"<td>([^<]*)</td>", table)
    shown = [float(c) for c in cells if re.fullmatch(r"-?\d+(\.\d+)?", c)]  # pandas pads: 0.1 shows as 0.100
    for _, row in trials.iterrows():
        assert row["label"] in cells and any(abs(x - row["accuracy"]) < 1e-9 for x in shown), row["number"]
    # The plot inline, as the PNG the search drew.
    png = base64.b64decode(_data(_cell(nb, "plot"), "image/png"))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png == (folder / "acc_vs_flops.png").read_bytes()
    # The profile of the sampled network, and the ranking as a table of its 2 candidates.
    assert "'receptive_field'" in _data(_cell(nb, "sample"), "text/plain")
    ranking = _data(_cell(nb, "rank"), "text/html")
    ranked = pd.read_csv(work / "results" / "quickstart-rank" / "rank.csv")
    assert "Ranking quickstart-rank" in ranking and len(ranked) == 2
    assert all(name in ranking for name in ranked["candidate"])


# ------------------------------------------------------------------------------ _repr_html_
def _spec(width: int) -> ArchSpec:
    return ArchSpec(stem=StemSpec(width=8), stages=(StageSpec(block="plain", width=width, stride=2, kernel_size=3),))


def test_a_ranking_shows_as_an_escaped_table() -> None:
    names = {"<b>a&b</b>": [0.90, 0.92], "plain": [0.80, 0.81]}
    cands = [Candidate(name=n, spec=_spec(4 + i), train=TrainConfig(), origin="test") for i, n in enumerate(names)]
    ended = {c.key: dict(enumerate({"state": "COMPLETE", "accuracy": a, "params": 1234, "flops": 56789,
                                    "epochs": 1, "images_per_second": 10.0, "train_seconds": 1.0}
                                   for a in names[c.name])) for c in cands}
    runs = runs_frame(cands, ended)
    table, pairwise = rank_table(runs, cands, n_boot=500)
    ranking = Ranking(folder=Path("results/r<1>"), candidates=cands, runs=runs, table=table, pairwise=pairwise,
                      fidelity=fidelity_table(table), info={"seeds": 2}, notes=["a note with <script>"])
    html = ranking._repr_html_()
    assert "<b>a&b</b>" not in html and "&lt;b&gt;a&amp;b&lt;/b&gt;" in html
    assert "<script>" not in html and "&lt;script&gt;" in html and "r&lt;1&gt;" in html
    assert html.count("<tr>") == 3 and "91.00% ± 1.41" in html and "1.23k" in html and "56.8k" in html
    assert "2 candidates, 2 seeds each" in html


def test_an_evaluation_shows_as_an_escaped_table() -> None:
    ev = Evaluation(spec=_spec(8), costs=Costs(params=4321, flops=98765, receptive_field=7),
                    result=TrainResult(val_accuracy=0.875, val_loss=0.5, train_loss=0.4, train_seconds=2.0),
                    note="retried at <half> the batch")
    html = ev._repr_html_()
    assert "<table" in html and "87.5%" in html and "4.32k" in html and "98.8k" in html and "7 px" in html
    assert "<half>" not in html and "&lt;half&gt;" in html and _spec(8).label in html
