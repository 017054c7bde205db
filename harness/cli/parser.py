"""The argument parser: `build_parser` adds one subparser per command (search, show, datasets,
profile, presets, export, predict, report, rank, train, dashboard); the option groups several
commands share (data, device, storage, budget, augmentation) each have one `add_*_arguments`
function, and `data_options` turns the parsed data options into a DataOptions.

Defaults and choices come from the API, imported inside the functions, so importing this module
is cheap."""

from __future__ import annotations

import argparse
from collections.abc import Collection
from typing import TYPE_CHECKING

from harness.cli.args import (
    count,
    duration,
    fraction,
    gib,
    input_size,
    memory_size,
    positive_float,
    positive_int,
    whole_number,
)

if TYPE_CHECKING:
    from harness.data import DataOptions


# Command name -> its one-line help (what `harness --help` lists). Only the command being run gets
# its whole parser (`PARSERS`): the others' options import the API (choices, defaults), which a
# `harness --help` must not pay for.
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


def build_parser(commands: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser: every subcommand with its options, or (`commands` given) those with
    their options and the others by name and help only, which is all `harness --help` shows."""
    parser = argparse.ArgumentParser(
        prog="harness", description="Architecture search and benchmarking for CNNs."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, add in PARSERS.items():
        if commands is None or name in commands:
            add(sub)
        else:
            sub.add_parser(name, help=HELP[name], add_help=False)
    return parser


def command_of(argv: list[str]) -> str | None:
    """The subcommand a command line names (its first word that is one), else None."""
    return next((a for a in argv if a in PARSERS), None)


def add_presets_parser(sub: argparse._SubParsersAction) -> None:
    """`harness presets`: no options."""
    sub.add_parser("presets", help=HELP["presets"])


# ------------------------------------------------------------------ harness search
def add_search_parser(sub: argparse._SubParsersAction) -> None:
    """`harness search`: space, data, budget, device, study, sampler and pruner, then the groups below."""
    from harness.search.samplers import PRUNERS, SAMPLERS
    from harness.search.space import OBJECTIVES

    search = sub.add_parser("search", help=HELP["search"],
                            description="Run a study over SPACE until it has N ended trials; "
                            "running the same command again resumes it.")
    search.add_argument("space", metavar="SPACE.yaml", help="search-space file")
    add_data_arguments(search)
    search.add_argument("--trials", type=positive_int, default=None, metavar="N",
                        help="ended trials the study should have (default: the space's "
                        "search.trials, else 12)")
    add_budget_arguments(search, epochs="training epochs per trial (default: the space's train.epochs)",
                         metavar="S", seconds="training time per trial instead of epochs: every architecture "
                         "trains for the same S seconds (the schedule follows the time spent)")
    search.add_argument("--timeout", type=positive_float, default=None, metavar="S",
                        help="start no new trial after S seconds of this run (a resumed run gets its own)")
    add_device_arguments(search, "trial")
    add_quiet_argument(search, "trial")
    add_robustness_arguments(search, "trial")
    search.add_argument("--seed", type=whole_number, default=0, help="seed for sampling and training (default 0)")
    search.add_argument("--study", default=None, metavar="NAME",
                        help="study name (default: the space file's stem)")
    search.add_argument("--results", default="results", metavar="DIR",
                        help="folder that holds one sub-folder per study (default: results)")
    search.add_argument("--objectives", default=None, choices=list(OBJECTIVES),
                        help="maximise accuracy, or also minimise FLOPs, params, latency (ms at batch 1) or "
                        "training memory (both measured on the device before training), or also maximise the "
                        "robust accuracy (with --robustness) (default: accuracy)")
    search.add_argument("--metric", default="accuracy", choices=["accuracy", "balanced_accuracy", "macro_f1"],
                        help="the validation figure the search maximises (the first objective): accuracy, "
                        "balanced accuracy (mean recall over classes) or macro F1, which suit imbalanced "
                        "classes (default: accuracy)")
    search.add_argument("--sampler", default="tpe", choices=list(SAMPLERS),
                        help="how trials pick architectures (default tpe; grid enumerates a discrete "
                        "space, each point once)")
    search.add_argument("--pruner", default=None, choices=list(PRUNERS),
                        help="stop unpromising trials early: median, hyperband or sha for one objective, "
                        "pareto for two (the defaults: median, pareto)")
    add_pareto_arguments(search)
    add_limit_arguments(search)
    add_augment_arguments(search, "augmentation (default: what suits the dataset, see `harness datasets`)",
                          crop="random crop after P pixels of zero padding; 0 turns it off",
                          flip="random horizontal flips (--no-flip turns them off)",
                          memory="the most device memory the dataset may take before it is streamed from "
                          "host memory instead (default: half the device's free memory)")
    add_worker_arguments(search)
    add_mlflow_argument(search, "study", "trial")


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
    limits.add_argument("--max-flops", type=count, default=None, metavar="N",
                        help="refuse networks over N multiply-adds per image (5e6, 5M); they are "
                        "recorded, never trained, and the sampler learns to avoid them")
    limits.add_argument("--max-params", type=count, default=None, metavar="N",
                        help="refuse networks over N parameters (300k, 1.5M)")
    limits.add_argument("--max-latency", type=duration, default=None, metavar="T",
                        help="refuse networks slower than T at batch 1 on the trial's device (2ms, 500us), "
                        "measured before training")
    limits.add_argument("--max-memory", type=memory_size, default=None, metavar="SIZE",
                        help="refuse networks whose training step at the trial's batch peaks over SIZE "
                        "(4G, 512M), measured before training")
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
    add_storage_argument(scale)
    scale.add_argument("--workers", type=positive_int, default=1, metavar="N",
                       help="run N worker processes on the study (needs --storage journal or postgresql://...)")
    scale.add_argument("--gpus", default=None, metavar="0,1,...",
                       help="pin workers to these GPUs, round robin (repeat a GPU to put several workers on it)")
    scale.add_argument("--heartbeat", type=positive_int, default=None, metavar="S",
                       help="a running trial records a heartbeat every S seconds; one silent for 3 S is "
                       "marked failed and run again (default 10)")
    scale.add_argument("--worker-index", type=whole_number, default=0, help=argparse.SUPPRESS)
    scale.add_argument("--no-report", action="store_true", help=argparse.SUPPRESS)


# ------------------------------------------------------------------ show, datasets, profile, export, report
def add_show_parser(sub: argparse._SubParsersAction) -> None:
    """`harness show`: a space file, a seed and the data options."""
    show = sub.add_parser("show", help=HELP["show"])
    show.add_argument("space", metavar="SPACE.yaml", help="search-space file")
    show.add_argument("--seed", type=whole_number, default=0, help="which sample to show (default 0)")
    add_data_arguments(show, what="dataset whose input size and classes to build for")


def add_datasets_parser(sub: argparse._SubParsersAction) -> None:
    """`harness datasets [NAME[:PATH]]` with the data options."""
    datasets = sub.add_parser("datasets", help=HELP["datasets"],
                              description="Without an argument, list the datasets and what each needs; "
                              "with NAME[:PATH], read it and print its splits, image size and classes.")
    datasets.add_argument("dataset", nargs="?", metavar="NAME[:PATH]", help="a dataset to read and describe")
    add_data_arguments(datasets, positional=True)


def add_profile_parser(sub: argparse._SubParsersAction) -> None:
    """`harness profile NAME_OR_SPEC_FILE` with the input's shape and the classes."""
    profile = sub.add_parser("profile", help=HELP["profile"],
                             description="Build a preset (see `harness presets`) or a spec file (YAML "
                             "or JSON, as `ArchSpec.to_dict` writes it) and measure it before training.")
    profile.add_argument("spec", metavar="NAME_OR_SPEC_FILE", help="preset name or spec file")
    profile.add_argument("--input-size", type=input_size, default=(224, 224), metavar="S|HxW",
                         help="input height and width in pixels (default 224)")
    profile.add_argument("--in-channels", type=positive_int, default=3, metavar="C",
                         help="input channels (default 3)")
    profile.add_argument("--num-classes", type=positive_int, default=1000, metavar="N",
                         help="classes of the classifier (default 1000)")
    profile.add_argument("--json", action="store_true", help="print one JSON object instead of text")


def add_export_parser(sub: argparse._SubParsersAction) -> None:
    """`harness export FOLDER --trial N` (a study's trial as a spec) or `--onnx FILE` (a model folder as ONNX)."""
    export = sub.add_parser("export", help=HELP["export"],
                            description="Print the spec of one trial of a study (YAML, defaults left out; "
                            "or --json, complete): `harness export results/kernel_size --trial 9 > spec.yaml`, "
                            "then `harness profile spec.yaml`. Or, with --onnx, write a trained model folder as "
                            "one ONNX file (input `image`: float (N, C, H, W) pixels in [0, 1], normalised inside; "
                            "output `logits`), checked against torch in onnxruntime before it is written.")
    export.add_argument("folder", metavar="FOLDER", help="the study's results folder (--trial), or a model "
                        "folder (--onnx)")
    export.add_argument("--trial", type=whole_number, default=None, metavar="N", help="trial number")
    export.add_argument("--study", default=None, metavar="NAME", help="study name, when study.db holds several")
    export.add_argument("--json", action="store_true", help="JSON, every field, instead of YAML (with --onnx: "
                        "the export's report as one JSON object)")
    add_storage_argument(export)
    onnx = export.add_argument_group("ONNX (a model folder)")
    onnx.add_argument("--onnx", default=None, metavar="FILE", help="write the model folder FOLDER as this ONNX file")
    onnx.add_argument("--opset", type=positive_int, default=None, metavar="N",
                      help="ONNX opset (default 20; 18 and up use torch's torch.export-based exporter, lower ones "
                      "its TorchScript exporter, for older runtimes)")


def add_predict_parser(sub: argparse._SubParsersAction) -> None:
    """`harness predict MODEL_FOLDER IMAGE...` with --top K."""
    predict = sub.add_parser("predict", help=HELP["predict"],
                             description="Print one line per image: path, class and probability (tab-separated). "
                             "Images are read as the folder datasets read them (EXIF orientation, transparency "
                             "onto white, shorter side scaled to the model's size and the centre cropped).")
    predict.add_argument("folder", metavar="MODEL_FOLDER", help="a model folder (model.safetensors, spec.yaml, "
                         "model.json)")
    predict.add_argument("images", nargs="+", metavar="IMAGE", help="image files, or folders of them (walked "
                         "recursively)")
    predict.add_argument("--top", type=positive_int, default=1, metavar="K",
                         help="print the K most probable classes per image, best first (default 1)")


def add_report_parser(sub: argparse._SubParsersAction) -> None:
    """`harness report FOLDER` with where the study is and the leaderboard's length."""
    report = sub.add_parser("report", help=HELP["report"],
                            description="Write into FOLDER: trials.csv, leaderboard.md, pareto.csv, "
                            "importance.csv, plots/*.png and report.html (one self-contained page). "
                            "Reads the study from FOLDER/study.db (or --storage), else FOLDER/trials.csv; "
                            "works while a search still runs.")
    report.add_argument("folder", metavar="FOLDER", help="the study's results folder (results/<study>); "
                        "with --storage, where to write the report")
    report.add_argument("--storage", default=None, metavar="URL",
                        help="Optuna storage URL to read the study from (default: FOLDER/study.db)")
    report.add_argument("--study", default=None, metavar="NAME",
                        help="study name in the storage (default: FOLDER's name, or the storage's only study)")
    report.add_argument("--top", type=positive_int, default=10, metavar="K",
                        help="trials in the leaderboard (default 10)")


def add_dashboard_parser(sub: argparse._SubParsersAction) -> None:
    """`harness dashboard FOLDER` with where the study is and where to serve it."""
    from harness.store.dashboard import DEFAULT_HOST, DEFAULT_PORT

    dashboard = sub.add_parser("dashboard", help=HELP["dashboard"],
                               description="Serve optuna-dashboard (pip install 'harness[dashboard]') on the "
                               "storage of FOLDER (study.db or study.journal there, or --storage) and print its "
                               "URL; it shows every study there, its trials, parameters, values and user "
                               "attributes (accuracy, params, flops, ...), also while a search runs. Ctrl-C stops it.")
    dashboard.add_argument("folder", metavar="FOLDER", help="the study's results folder (results/<study>)")
    add_storage_argument(dashboard)
    dashboard.add_argument("--host", default=DEFAULT_HOST, metavar="HOST",
                           help=f"address to listen on (default {DEFAULT_HOST}: this machine only; "
                           "0.0.0.0 shows it to the network, which may then edit the study)")
    dashboard.add_argument("--port", type=whole_number, default=DEFAULT_PORT, metavar="PORT",
                           help=f"port to listen on (default {DEFAULT_PORT}; 0: any free port)")


# ------------------------------------------------------------------ harness rank
def add_rank_parser(sub: argparse._SubParsersAction) -> None:
    """`harness rank`: candidates, data, seeds and budget, racing, device, where to write, augmentation."""
    from harness.rank.ranking import DEFAULT_MAX_SEEDS, DEFAULT_SEEDS

    rank = sub.add_parser(
        "rank", help=HELP["rank"],
        description="Train each candidate S times with different seeds and rank them: mean, sd and 95% "
        "interval of validation (and test) accuracy, the probability of being the best, and the groups the "
        "data cannot tell apart (Welch tests, Holm-corrected). Candidates: a study's top K or Pareto set "
        "(--from), presets, spec files (harness export). Running the same command again resumes it.")
    add_candidate_arguments(rank)
    add_data_arguments(rank, default="the study's, else 'default'")
    rank.add_argument("--seeds", type=positive_int, default=DEFAULT_SEEDS, metavar="S",
                      help=f"runs per candidate, each with its own seed (default {DEFAULT_SEEDS})")
    add_budget_arguments(rank, epochs="training epochs per run (default: the study's budget, else 4)",
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
    add_device_arguments(rank, "run")
    add_quiet_argument(rank, "run")
    add_robustness_arguments(rank, "run")
    rank.add_argument("--metric", default="accuracy",
                      choices=["accuracy", "balanced_accuracy", "macro_f1", "robust_accuracy"],
                      help="what the ranking ranks by: validation accuracy, balanced accuracy or macro F1 (for "
                      "imbalanced classes), or the mean accuracy on the shifted copies (with --robustness) "
                      "(default: accuracy)")
    rank.add_argument("--seed", type=whole_number, default=0, help="base of the runs' seeds (default 0)")
    rank.add_argument("--results", default=None, metavar="DIR",
                      help="parent folder (default: the one holding the study's folder, else results)")
    rank.add_argument("--name", default=None, metavar="NAME",
                      help="the ranking's folder under DIR (default: <study>-rank with --from, else rank)")
    add_augment_arguments(rank, "augmentation (default: the study's, else what suits the dataset)",
                          crop="random-crop padding (px)", flip="random flips",
                          memory="the most device memory the dataset may take before it is streamed")
    add_storage_argument(rank)
    add_mlflow_argument(rank, "ranking", "run")


# ------------------------------------------------------------------ harness train
def add_train_parser(sub: argparse._SubParsersAction) -> None:
    """`harness train`: what to train (--from with --candidate or --trial, --spec, --preset), budget, where."""
    train = sub.add_parser(
        "train", help=HELP["train"],
        description="Train a ranking's winner (or --candidate), a study's best trial (or --trial), a spec file "
        "or a preset on the whole training split, validating every epoch (the best epoch's weights are kept), "
        "then evaluate the test split once. Writes model.safetensors, spec.yaml, model.json, metrics.json, "
        "confusion.png, curves.png and model.html; a checkpoint every epoch, so the same command resumes.")
    what = train.add_argument_group("what to train (one of --from, --spec, --preset)")
    what.add_argument("--from", dest="from_", default=None, metavar="FOLDER",
                      help="a ranking's folder (its winner) or a study's results folder (its best trial)")
    what.add_argument("--candidate", default=None, metavar="NAME", help="the ranking's candidate to train")
    what.add_argument("--trial", type=whole_number, default=None, metavar="N", help="the study's trial to train")
    what.add_argument("--study", default=None, metavar="NAME", help="study name, when study.db holds several")
    what.add_argument("--spec", default=None, metavar="FILE", help="a spec file (harness export)")
    what.add_argument("--preset", default=None, metavar="NAME", help="a preset (`harness presets`)")
    add_data_arguments(train, default="the ranking's or study's, else 'default'")
    add_budget_arguments(train, epochs="training epochs (default: the architecture's training config)",
                         metavar="T", seconds="training time instead of epochs")
    add_quiet_argument(train, "epoch")
    train.add_argument("--patience", type=positive_int, default=None, metavar="N",
                       help="stop when the validation metric has not improved for N epochs (default: never)")
    train.add_argument("--metric", default="accuracy", choices=["accuracy", "balanced_accuracy", "macro_f1"],
                       help="the validation figure that chooses the epoch kept (default: accuracy)")
    train.add_argument("--batch-size", type=positive_int, default=None, metavar="B", help="training batch")
    train.add_argument("--lr", type=positive_float, default=None, metavar="LR", help="peak learning rate")
    train.add_argument("--seed", type=whole_number, default=0, help="weights, shuffles and augmentation (default 0)")
    train.add_argument("--out", default=None, metavar="DIR",
                       help="the model folder (default results/models/<origin>)")
    train.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                       help="where to train (default: auto = CUDA when available)")
    train.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                       help="the training steps' precision (default auto: bf16 on CUDA and CPUs with native bf16)")
    add_augment_arguments(train, "augmentation (default: the architecture's training config)",
                          crop="random-crop padding (px)", flip="random flips",
                          memory="the most device memory the dataset may take before it is streamed")
    add_storage_argument(train)


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


# ------------------------------------------------------------------ groups several commands share
def add_budget_arguments(parser: argparse.ArgumentParser, epochs: str, metavar: str, seconds: str) -> None:
    """--epochs E or --seconds (`metavar`), one of them, on the commands that train (helps as given)."""
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=positive_int, default=None, metavar="E", help=epochs)
    budget.add_argument("--seconds", type=positive_float, default=None, metavar=metavar, help=seconds)


def add_augment_arguments(parser: argparse.ArgumentParser, title: str, crop: str, flip: str, memory: str) -> None:
    """--crop-padding and --flip (group `title`), then --data-memory, on the commands that train."""
    augment = parser.add_argument_group(title)
    augment.add_argument("--crop-padding", type=whole_number, default=None, metavar="P", help=crop)
    augment.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None, help=flip)
    parser.add_argument("--data-memory", type=gib, default=None, metavar="GiB", help=memory)


def add_robustness_arguments(parser: argparse.ArgumentParser, per: str) -> None:
    """--robustness [SHIFT,...] and --severity N, on the commands that train."""
    from harness.data.shifts import SEVERITIES, SHIFTS

    group = parser.add_argument_group("robustness: accuracy on shifted copies of the validation split")
    group.add_argument("--robustness", nargs="?", const="all", default=None, metavar="SHIFT,...",
                       help=f"evaluate each {per} also on shifted copies of the validation images (made once, "
                       f"from --seed): {', '.join(SHIFTS.names())}, or all (the default when no list is given); "
                       "recorded as robust_accuracy (their mean) and robust.<shift>")
    group.add_argument("--severity", type=int, default=3, choices=list(SEVERITIES), metavar="1-5",
                       help="how strong the shifts are, 1 (mild) to 5, as CIFAR-10-C names them (default 3)")


def add_device_arguments(parser: argparse.ArgumentParser, per: str) -> None:
    """--device, --precision, --deterministic and --compile, on the commands that train (`per`:
    what one training is called)."""
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                        help="where to train (default: auto = CUDA when available)")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                        help="the training steps' precision: bf16 autocast or fp32; auto = bf16 on CUDA and "
                        "on CPUs with native bf16 (AMX, AVX512-BF16), else fp32. Evaluation is always fp32; "
                        "the precision is part of the experiment (a study or ranking does not mix them)")
    parser.add_argument("--deterministic", action="store_true",
                        help="deterministic kernels (no cuDNN autotuning): CUDA runs then repeat exactly, "
                        "more slowly; CPU runs repeat anyway")
    parser.add_argument("--compile", action="store_true",
                        help=f"train through torch.compile: faster steps after a start-up of seconds to a "
                        f"minute per {per} (reported as the warm-up); pays off for longer ones")


def add_quiet_argument(parser: argparse.ArgumentParser, per: str) -> None:
    """--quiet, on the commands that train (`per`: what one training is called)."""
    parser.add_argument("--quiet", action="store_true",
                        help=f"no progress while a {per} trains (default: one updating line on a terminal: "
                        "epoch, batch, images/s, accuracy, time left; elsewhere a plain line every 30 s)")


def add_storage_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """--storage, on every command that reads or writes a study."""
    parser.add_argument("--storage", default=None, metavar="URL",
                        help="where the study lives: sqlite:///PATH (default: study.db in its folder), "
                        "journal (a journal file there; several processes on one machine), journal:PATH, "
                        "or postgresql://USER:PASSWORD@HOST/DB (several machines); default $HARNESS_STORAGE")


def add_mlflow_argument(parser: argparse.ArgumentParser, whole: str, part: str) -> None:
    """--mlflow [URI], on search and rank: `whole` (study, ranking) is a parent run, each `part` (trial,
    run) a child run; without a URI, the store in the results folder (harness.store.tracking.IN_FOLDER)."""
    parser.add_argument("--mlflow", nargs="?", const="folder", default=None, metavar="URI",
                        help=f"log the {whole} to MLflow (pip install 'harness[mlflow]'): a parent run, and a child "
                        f"run per {part} as it ends; URI: a tracking server (http://HOST:PORT) or database "
                        "(sqlite:///PATH); without one, sqlite:///<its results folder>/mlflow.db")


def add_data_arguments(parser: argparse.ArgumentParser, what: str = "dataset to train and validate on",
                       positional: bool = False, default: str = "the space's `dataset:`, else 'default'") -> None:
    """The options that say which dataset and how to read it (search, show, datasets, rank)."""
    from harness.data import DEFAULT_VAL_FRACTION

    group = parser.add_argument_group("data")
    if not positional:
        group.add_argument("--dataset", default=None, metavar="NAME[:PATH]",
                           help=f"{what} (default: {default}); "
                           "`harness datasets` lists them; folder:PATH reads your own images")
    group.add_argument("--data-dir", default=None, metavar="DIR",
                       help="where standard datasets are (default: $HARNESS_DATA, else ~/.cache/harness/data)")
    group.add_argument("--download", action="store_true",
                       help="let torchvision download a standard dataset into the data folder")
    group.add_argument("--image-size", type=positive_int, default=None, metavar="S",
                       help="resize images to SxS pixels (default: the dataset's size; for folders, "
                       "the median shorter side, at most 64)")
    group.add_argument("--val-fraction", type=fraction, default=DEFAULT_VAL_FRACTION, metavar="F",
                       help="share of the training images held out for validation where the dataset "
                       "has no validation split (default 0.1; stratified, fixed seed)")
    group.add_argument("--strict", action="store_true",
                       help="refuse an image folder with unreadable files instead of skipping them")
    group.add_argument("--train-images", type=positive_int, default=None, metavar="N",
                       help="train on a stratified, seeded subset of N training images (the same for "
                       "every trial; validation stays whole): a cheap fidelity for a search")
    group.add_argument("--verify", action="store_true",
                       help="check a standard dataset's original files against their published MD5s first")


def data_options(args: argparse.Namespace) -> DataOptions:
    """DataOptions from the parsed data arguments (see add_data_arguments)."""
    from harness.data import DataOptions

    return DataOptions(data_dir=args.data_dir, download=args.download, image_size=args.image_size,
                       val_fraction=args.val_fraction, strict=args.strict, verify=args.verify,
                       train_images=args.train_images)


# ------------------------------------------------------------------ harness run
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


# Command name -> the function that adds its subparser, in `harness --help` order.
PARSERS = {
    "search": add_search_parser,
    "show": add_show_parser,
    "datasets": add_datasets_parser,
    "profile": add_profile_parser,
    "presets": add_presets_parser,
    "export": add_export_parser,
    "predict": add_predict_parser,
    "report": add_report_parser,
    "rank": add_rank_parser,
    "train": add_train_parser,
    "dashboard": add_dashboard_parser,
    "run": add_run_parser,
}
