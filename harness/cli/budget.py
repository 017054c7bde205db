"""`harness run SPACE --budget 60m`: one wall-clock budget from a space to a tested, exported model;
thin over harness.budget."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from harness.cli.console import run_in_folder, say


def cmd_run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """`harness run`: plan, search, rank, train, test once, export; one line per step."""
    from pathlib import Path

    from harness.budget.pipeline import run_budget
    from harness.budget.settings import BudgetConfig
    from harness.cli.options import data_options
    from harness.search.search_config import study_name_for
    from harness.search.space import load_space

    space = load_space(args.space)
    config = BudgetConfig(budget=args.budget, dataset=args.dataset, name=args.name, results_dir=args.results,
                          device=args.device, precision=args.precision, seed=args.seed,
                          data_options=data_options(args), live=not args.quiet, onnx=args.onnx)
    folder = Path(config.results_dir) / study_name_for(space, config.name)
    return run_in_folder(folder, lambda: run_budget(space, config, progress=say, argv=["harness", *argv]),
                         "trials, runs and epochs")
