"""The options of `harness rank`: `add_rank_options` (seeds, budget, racing, where to write and
the shared groups from cli/options.py) and `add_candidate_arguments` (where its candidates come from).

Defaults come from the API (harness.rank.ranking), imported inside the function: only
`harness rank` pays for them."""

from __future__ import annotations

import argparse

from harness.choices import RANK_METRICS
from harness.cli import options
from harness.cli.args import fraction, positive_float, positive_int, whole_number


def add_rank_options(rank: argparse.ArgumentParser) -> None:
    """`harness rank`: candidates, data, seeds and budget, racing, device, where to write, augmentation."""
    from harness.rank.ranking import DEFAULT_MAX_SEEDS, DEFAULT_SEEDS

    rank.description = (
        "Train each candidate S times with different seeds and rank them: mean, sd and 95% "
        "interval of validation (and test) accuracy, the probability of being the best, and the groups the "
        "data cannot tell apart (Welch tests, Holm-corrected). Candidates: a study's top K or Pareto set "
        "(--from), presets, spec files (harness export). Running the same command again resumes it.")
    add_candidate_arguments(rank)
    options.add_data_arguments(rank, default="the study's, else 'default'")
    rank.add_argument("--seeds", type=positive_int, default=DEFAULT_SEEDS, metavar="S",
                      help=f"runs per candidate, each with its own seed (default {DEFAULT_SEEDS})")
    options.add_budget_arguments(rank, epochs="training epochs per run (default: the study's budget, else 4)",
                                 metavar="T", seconds="training time per run instead of epochs")
    rank.add_argument("--budget-factor", type=positive_float, default=None, metavar="F",
                      help="train F times as long as the candidate's budget (e.g. 5 for 5x the search's epochs)")
    rank.add_argument("--race", action="store_true",
                      help="after the first S seeds, add seeds only to the candidates still tied for the top, "
                      "one per round, until one is left or --max-seeds")
    rank.add_argument("--max-seeds", type=positive_int, default=DEFAULT_MAX_SEEDS, metavar="N",
                      help=f"the most runs per candidate when racing (default {DEFAULT_MAX_SEEDS})")
    rank.add_argument("--alpha", type=fraction, default=0.05, metavar="A",
                      help="family-wise error rate of the pairwise tests (default 0.05)")
    options.add_device_arguments(rank, "run")
    options.add_quiet_argument(rank, "run")
    options.add_robustness_arguments(rank, "run")
    options.add_metric_argument(rank, RANK_METRICS, "what the ranking ranks by: validation accuracy, balanced "
                                "accuracy or macro F1 (for imbalanced classes), or the mean accuracy on the shifted "
                                "copies (with --robustness) (default: accuracy)")
    rank.add_argument("--seed", type=whole_number, default=0, help="base of the runs' seeds (default 0)")
    rank.add_argument("--results", default=None, metavar="DIR",
                      help="parent folder (default: the one holding the study's folder, else results)")
    rank.add_argument("--name", default=None, metavar="NAME",
                      help="the ranking's folder under DIR (default: <study>-rank with --from, else rank)")
    options.add_augment_arguments(rank, "augmentation (default: the study's, else what suits the dataset)",
                                  crop="random-crop padding (px)", flip="random flips",
                                  memory="the most device memory the dataset may take before it is streamed")
    options.add_storage_argument(rank)
    options.add_mlflow_argument(rank, "ranking", "run")


def add_candidate_arguments(parser: argparse.ArgumentParser) -> None:
    """Where `harness rank` takes its candidates: --from (with --top or --pareto, --study), --presets, --spec."""
    source = parser.add_argument_group("candidates (at least one source)")
    source.add_argument("--from", dest="from_", default=None, metavar="FOLDER",
                        help="a study's results folder: rank its best trials (and compare with its brief ranking)")
    pick = source.add_mutually_exclusive_group()
    pick.add_argument("--top", type=positive_int, default=None, metavar="K",
                      help="the study's K best trials by validation accuracy (default 5)")
    pick.add_argument("--pareto", action="store_true", help="the study's accuracy-vs-FLOPs Pareto set")
    source.add_argument("--study", default=None, metavar="NAME", help="study name, when study.db holds several")
    source.add_argument("--presets", default=None, metavar="NAME,...",
                        help="presets to rank alongside, comma-separated (`harness presets` lists them)")
    source.add_argument("--spec", action="append", default=[], metavar="FILE",
                        help="a spec file to rank (repeatable), e.g. from `harness export`")
