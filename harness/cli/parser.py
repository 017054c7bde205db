"""The argument parser, put together: `HELP` (command -> its one-line help), `PARSERS` (command ->
the function that adds its options, in `harness --help` order), `build_parser` and `command_of`.

A command's options are in its family's module: search_options (search), inspect_options (show,
datasets, profile, presets, export, predict, report, dashboard), rank_options (rank), train_options
(train, run); the groups several commands share in options. Only the command being run gets its
options, and its module is imported then: the others' options import the API (choices, defaults),
which a `harness --help` must not pay for."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Collection

# Command name -> its one-line help (what `harness --help` lists).
HELP = {
    "search": "run (or resume) a search over a space file",
    "show": "print a space's parameters, its size, and one sampled network",
    "datasets": "list the datasets, or describe one",
    "profile": "params, FLOPs and receptive field of a preset or spec file",
    "presets": "list the preset networks (torchvision's classic models)",
    "export": "print a trial's architecture as a spec file, or write a model as ONNX",
    "predict": "classify image files with a trained model folder",
    "report": "tables, plots and one HTML page of a study (no training)",
    "rank": "re-train the best architectures with several seeds and rank them with error bars",
    "train": "train one architecture to the end: weights, metrics, plots, a page",
    "dashboard": "serve optuna-dashboard on a study's storage (harness[dashboard])",
    "run": "one budget: search, rank, train the winner, test once, export",
}

# Command name -> "module:function" that adds its options to its parser, in `harness --help` order.
PARSERS: dict[str, str] = {
    "search": "harness.cli.search_options:add_search_options",
    "show": "harness.cli.inspect_options:add_show_options",
    "datasets": "harness.cli.inspect_options:add_datasets_options",
    "profile": "harness.cli.inspect_options:add_profile_options",
    "presets": "harness.cli.inspect_options:add_presets_options",
    "export": "harness.cli.inspect_options:add_export_options",
    "predict": "harness.cli.inspect_options:add_predict_options",
    "report": "harness.cli.inspect_options:add_report_options",
    "rank": "harness.cli.rank_options:add_rank_options",
    "train": "harness.cli.train_options:add_train_options",
    "dashboard": "harness.cli.inspect_options:add_dashboard_options",
    "run": "harness.cli.train_options:add_run_options",
}


def options_of(name: str) -> Callable[[argparse.ArgumentParser], None]:
    """The function that adds the options of the command `name` to its parser."""
    module, function = PARSERS[name].split(":")
    return getattr(importlib.import_module(module), function)


def build_parser(commands: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser: every subcommand with its options, or (`commands` given) those with
    their options and the others by name and help only, which is all `harness --help` shows."""
    parser = argparse.ArgumentParser(
        prog="harness", description="Architecture search and benchmarking for CNNs."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in PARSERS:
        if commands is None or name in commands:
            options_of(name)(sub.add_parser(name, help=HELP[name]))
        else:
            sub.add_parser(name, help=HELP[name], add_help=False)
    return parser


def command_of(argv: list[str]) -> str | None:
    """The subcommand a command line names (its first word that is one), else None."""
    return next((a for a in argv if a in PARSERS), None)
