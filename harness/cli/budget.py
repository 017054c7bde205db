"""`harness run SPACE --budget 60m`: one wall-clock budget from a space to a tested, exported model;
thin over harness.budget (its parser here too, so parser.py stays one module per family)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from harness.cli.console import interrupted, quiet_optuna, say


def budget_seconds(text: str) -> float:
    """Seconds from "60m", "1h30m", "90s", "3600" (argparse type)."""
    from harness.budget.plan import parse_budget
    from harness.errors import HarnessError

    try:
        return parse_budget(text)
    except HarnessError as err:
        raise argparse.ArgumentTypeError(str(err).replace("budget ", "", 1)) from None


def add_run_parser(sub: argparse._SubParsersAction) -> None:
    """`harness run`: a space, a dataset, one budget."""
    from harness.cli.parser import add_data_arguments, add_quiet_argument

    run = sub.add_parser(
        "run", help="one budget: search, rank, train the winner, test once, export",
        description="Plan one wall-clock budget (printed first), then search the space by successive halving over "
        "epochs of the whole training split, rank its best over new seeds, train the winner over seeds with the "
        "time left, read the test split once for those runs, and write the model folder (weights, model.onnx) "
        "and run.html. Nothing starts that cannot end in time; Ctrl-C or a kill stops it, and the same command "
        "resumes with the budget that is left.")
    run.add_argument("space", help="search-space YAML file")
    run.add_argument("--budget", type=budget_seconds, required=True, metavar="TIME",
                     help="wall-clock time for everything: 90s, 10m, 1h, 1h30m")
    add_data_arguments(run)
    run.add_argument("--name", default=None, metavar="NAME",
                     help="the run's folder under --results (default: the space file's stem)")
    run.add_argument("--results", default="results", metavar="DIR", help="where the run's folder goes")
    run.add_argument("--seed", type=int, default=0, help="the search's, ranking's and final runs' seeds")
    run.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                     help="where to train (default: auto = CUDA when available)")
    run.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                     help="the training steps' precision (default auto: bf16 on CUDA and CPUs with native bf16)")
    run.add_argument("--no-onnx", dest="onnx", action="store_false", help="do not write model.onnx")
    add_quiet_argument(run, "trial, run or epoch")


def cmd_run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """`harness run`: plan, search, rank, train, test once, export; one line per step."""
    from pathlib import Path

    from harness.budget.result import BudgetConfig
    from harness.budget.run import run_budget
    from harness.cli.parser import data_options
    from harness.search.config import study_name_for
    from harness.search.space import load_space
    from harness.store.faults import in_folder

    space = load_space(args.space)
    config = BudgetConfig(budget=args.budget, dataset=args.dataset, name=args.name, results_dir=args.results,
                          device=args.device, precision=args.precision, seed=args.seed,
                          data_options=data_options(args), live=not args.quiet, onnx=args.onnx)
    quiet_optuna()
    try:
        with in_folder(Path(config.results_dir) / study_name_for(space, config.name)):
            run_budget(space, config, progress=say, argv=["harness", *argv])
    except KeyboardInterrupt:
        return interrupted("trials, runs and epochs")
    return 0
