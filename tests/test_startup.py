"""What each command imports: `harness --help`, `presets` and the dataset list start without the
heavy libraries (torch, torchvision, fvcore, seaborn, matplotlib, pandas, optuna, scikit-learn,
scipy); a report from a trials table loads no torch; a command's own --help loads what its options
need and nothing of the others'. Checked in a fresh interpreter (sys.modules), not by timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "torchvision", "fvcore", "seaborn", "matplotlib", "pandas", "optuna", "sklearn", "scipy",
         "mlflow", "optuna_dashboard", "onnx", "onnxruntime")

PROBE = """
import contextlib, io, json, sys
from harness.cli.main import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        status = main(sys.argv[1:])
    except SystemExit as exit:  # argparse's --help
        status = exit.code
print(json.dumps({"status": status, "printed": out.getvalue(),
                  "loaded": sorted({m.split('.')[0] for m in sys.modules})}))
"""


def _loaded(*args: str, cwd: Path | None = None) -> tuple[int, str, set[str]]:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.splitlines()[-1])
    return got["status"], got["printed"], set(got["loaded"]) & set(HEAVY)


@pytest.mark.parametrize("args", [["--help"], ["presets"], ["datasets"]])
def test_help_presets_and_the_dataset_list_load_no_heavy_library(args: list[str]) -> None:
    status, printed, heavy = _loaded(*args)
    assert status == 0 and printed.strip()
    assert heavy == set(), f"harness {' '.join(args)} imported {sorted(heavy)}"


def test_help_still_lists_every_command() -> None:
    from harness.cli.main import COMMANDS
    from harness.cli.parser import HELP, PARSERS

    _, printed, _ = _loaded("--help")
    assert set(COMMANDS) == set(HELP) == set(PARSERS)
    for name, words in HELP.items():
        assert name in printed and words.split()[0] in printed


def test_a_report_from_a_trials_table_loads_no_torch(tmp_path: Path) -> None:
    folder = tmp_path / "study"
    folder.mkdir()
    rows = ["number,state,accuracy,flops,params,label,s1.kernel_size",
            *(f"{i},COMPLETE,{0.5 + i / 100},{(i + 1) * 1000},{(i + 1) * 10},k{3 + 2 * (i % 3)},{3 + 2 * (i % 3)}"
              for i in range(6))]
    (folder / "trials.csv").write_text("\n".join(rows) + "\n")
    status, _, heavy = _loaded("report", str(folder))
    assert status == 0 and (folder / "report.html").is_file()
    assert "torch" not in heavy and "fvcore" not in heavy and "torchvision" not in heavy


def test_a_commands_help_loads_only_what_its_options_need() -> None:
    status, printed, heavy = _loaded("report", "--help")
    assert status == 0 and "--storage" in printed
    assert not heavy & {"torch", "torchvision", "fvcore", "seaborn", "matplotlib"}, sorted(heavy)


def test_the_parsers_choices_are_the_apis() -> None:
    """--metric, --device and --precision offer the names in harness.choices (light: no torch), which
    are the names the API checks against."""
    import argparse

    from harness import choices
    from harness.cli.parser import build_parser
    from harness.rank.ranking import RANK_METRICS
    from harness.train.device import PRECISIONS
    from harness.train.metrics import METRICS

    assert (choices.METRICS, choices.RANK_METRICS, choices.PRECISIONS) == (METRICS, RANK_METRICS, PRECISIONS)
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    offered = {(name, a.dest): a.choices for name, parser in sub.choices.items() for a in parser._actions
               if a.dest in ("metric", "device", "precision")}
    assert offered == {
        **{(name, "metric"): list(METRICS) for name in ("search", "train")}, ("rank", "metric"): list(RANK_METRICS),
        **{(name, "device"): list(choices.DEVICES) for name in ("search", "rank", "train", "run")},
        **{(name, "precision"): list(PRECISIONS) for name in ("search", "rank", "train", "run")},
    }
