"""The options of `harness search`: `add_search_options` adds them to the command's parser, the
shared groups from cli/options.py and the search's own (two-objective pruning, hard constraints
and warm start, storage and workers) from the functions below.

Choices and defaults come from the API (samplers, pruners, objectives, ParetoPruner), imported
inside the functions: only `harness search` pays for them."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from harness.choices import METRICS
from harness.cli import options
from harness.cli.args import count, duration, memory_size, positive_float, positive_int, whole_number

# The hard constraints (harness.search.constraints.Constraints), one row each: flag, argparse type,
# metavar, help. None of them is set by default.
LIMITS: tuple[tuple[str, Callable[[str], float], str, str], ...] = (
    ("--max-flops", count, "N", "refuse networks over N multiply-adds per image (5e6, 5M); they are "
     "recorded, never trained, and the sampler learns to avoid them"),
    ("--max-params", count, "N", "refuse networks over N parameters (300k, 1.5M)"),
    ("--max-latency", duration, "T", "refuse networks slower than T at batch 1 on the trial's device (2ms, 500us), "
     "measured before training"),
    ("--max-memory", memory_size, "SIZE", "refuse networks whose training step at the trial's batch peaks over "
     "SIZE (4G, 512M), measured before training"),
)


def add_search_options(search: argparse.ArgumentParser) -> None:
    """`harness search`: space, data, budget, device, study, sampler and pruner, then the groups below."""
    from harness.search.samplers import PRUNERS, SAMPLERS
    from harness.search.space import OBJECTIVES

    search.description = ("Run a study over SPACE until it has N ended trials; "
                          "running the same command again resumes it.")
    search.add_argument("space", metavar="SPACE.yaml", help="search-space file")
    options.add_data_arguments(search)
    search.add_argument("--trials", type=positive_int, default=None, metavar="N",
                        help="ended trials the study should have (default: the space's "
                        "search.trials, else 12)")
    options.add_budget_arguments(search, epochs="training epochs per trial (default: the space's train.epochs)",
                                 metavar="S", seconds="training time per trial instead of epochs: every architecture "
                                 "trains for the same S seconds (the schedule follows the time spent)")
    search.add_argument("--timeout", type=positive_float, default=None, metavar="S",
                        help="start no new trial after S seconds of this run (a resumed run gets its own)")
    options.add_device_arguments(search, "trial")
    options.add_quiet_argument(search, "trial")
    options.add_robustness_arguments(search, "trial")
    search.add_argument("--seed", type=whole_number, default=0, help="seed for sampling and training (default 0)")
    search.add_argument("--study", default=None, metavar="NAME",
                        help="study name (default: the space file's stem)")
    search.add_argument("--results", default="results", metavar="DIR",
                        help="folder that holds one sub-folder per study (default: results)")
    search.add_argument("--objectives", default=None, choices=list(OBJECTIVES),
                        help="maximise accuracy, or also minimise FLOPs, params, latency (ms at batch 1) or "
                        "training memory (both measured on the device before training), or also maximise the "
                        "robust accuracy (with --robustness) (default: accuracy)")
    options.add_metric_argument(search, METRICS, "the validation figure the search maximises (the first objective): "
                                "accuracy, balanced accuracy (mean recall over classes) or macro F1, which suit "
                                "imbalanced classes (default: accuracy)")
    search.add_argument("--sampler", default="tpe", choices=list(SAMPLERS),
                        help="how trials pick architectures (default tpe; grid enumerates a discrete "
                        "space, each point once)")
    search.add_argument("--pruner", default=None, choices=list(PRUNERS),
                        help="stop unpromising trials early: median, hyperband or sha for one objective, "
                        "pareto for two (the defaults: median, pareto)")
    add_pareto_arguments(search)
    add_limit_arguments(search)
    options.add_augment_arguments(search, "augmentation (default: what suits the dataset, see `harness datasets`)",
                                  crop="random crop after P pixels of zero padding; 0 turns it off",
                                  flip="random horizontal flips (--no-flip turns them off)",
                                  memory="the most device memory the dataset may take before it is streamed from "
                                  "host memory instead (default: half the device's free memory)")
    add_worker_arguments(search)
    options.add_mlflow_argument(search, "study", "trial")


def add_pareto_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the two-objective pruning policy, defaults from ParetoPruner."""
    from harness.search.pruning import ParetoPruner

    pareto = parser.add_argument_group("two-objective pruning (--pruner pareto)")
    pareto.add_argument("--prune-margin", type=float, default=ParetoPruner.margin, metavar="A",
                        help="stop a trial when finished trials with no more cost were better by A "
                        f"(accuracy fraction) at the same epoch (default {ParetoPruner.margin})")
    pareto.add_argument("--prune-warmup", type=whole_number, default=ParetoPruner.warmup, metavar="E",
                        help=f"no decision at epochs <= E (default {ParetoPruner.warmup})")
    pareto.add_argument("--prune-min-trials", type=positive_int, default=ParetoPruner.min_trials, metavar="N",
                        help=f"finished trials needed before any decision (default {ParetoPruner.min_trials})")


def add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    """--max-flops and --max-params (the hard constraints), then --repeat, --warm-start and --warm-top."""
    limits = parser.add_argument_group("hard constraints, checked on the built model before training")
    for flag, kind, metavar, text in LIMITS:
        limits.add_argument(flag, type=kind, default=None, metavar=metavar, help=text)
    parser.add_argument("--repeat", action="store_true",
                        help="train an architecture again even when the study already trained it at "
                        "this budget (default: reuse that result, marked as reused)")
    warm = parser.add_argument_group("warm start")
    warm.add_argument("--warm-start", default=None, metavar="FOLDER",
                      help="begin with the best trials of an earlier study's results folder: copied as "
                      "finished when they ran on the same data and budget (not trained again), else "
                      "queued to run first; only the parameters this space has are kept")
    warm.add_argument("--warm-top", type=positive_int, default=None, metavar="K",
                      help="how many of its best trials (default 5)")


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    """--storage, --workers, --gpus, --heartbeat and the hidden options a worker process gets."""
    scale = parser.add_argument_group("storage and workers")
    options.add_storage_argument(scale)
    scale.add_argument("--workers", type=positive_int, default=1, metavar="N",
                       help="run N worker processes on the study (needs --storage journal or postgresql://...)")
    scale.add_argument("--gpus", default=None, metavar="0,1,...",
                       help="pin workers to these GPUs, round robin (repeat a GPU to put several workers on it)")
    scale.add_argument("--heartbeat", type=positive_int, default=None, metavar="S",
                       help="a running trial records a heartbeat every S seconds; one silent for 3 S is "
                       "marked failed and run again (default 10)")
    scale.add_argument("--worker-index", type=whole_number, default=0, help=argparse.SUPPRESS)
    scale.add_argument("--no-report", action="store_true", help=argparse.SUPPRESS)
