"""The options of the two commands that end in a trained model folder: `add_train_options` (`harness
train`: one architecture trained to the end) and `add_run_options` (`harness run`: one budget, from
the search to the test split), with the shared groups from cli/options.py."""

from __future__ import annotations

import argparse

from harness.choices import METRICS
from harness.cli import options
from harness.cli.args import budget_seconds, positive_float, positive_int, whole_number


def add_train_options(train: argparse.ArgumentParser) -> None:
    """`harness train`: what to train (--from with --candidate or --trial, --spec, --preset), budget, where."""
    train.description = (
        "Train a ranking's winner (or --candidate), a study's best trial (or --trial), a spec file "
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
    options.add_data_arguments(train, default="the ranking's or study's, else 'default'")
    options.add_budget_arguments(train, epochs="training epochs (default: the architecture's training config)",
                                 metavar="T", seconds="training time instead of epochs")
    options.add_quiet_argument(train, "epoch")
    train.add_argument("--patience", type=positive_int, default=None, metavar="N",
                       help="stop when the validation metric has not improved for N epochs (default: never)")
    options.add_metric_argument(train, METRICS, "the validation figure that chooses the epoch kept (default: accuracy)")
    train.add_argument("--batch-size", type=positive_int, default=None, metavar="B", help="training batch")
    train.add_argument("--lr", type=positive_float, default=None, metavar="LR", help="peak learning rate")
    train.add_argument("--seed", type=whole_number, default=0, help="weights, shuffles and augmentation (default 0)")
    train.add_argument("--out", default=None, metavar="DIR",
                       help="the model folder (default results/models/<origin>)")
    options.add_device_arguments(train)
    options.add_augment_arguments(train, "augmentation (default: the architecture's training config)",
                                  crop="random-crop padding (px)", flip="random flips",
                                  memory="the most device memory the dataset may take before it is streamed")
    options.add_storage_argument(train)


def add_run_options(run: argparse.ArgumentParser) -> None:
    """`harness run`: a space, a dataset, one budget."""
    run.description = (
        "Plan one wall-clock budget (printed first), then search the space by successive halving over "
        "epochs of the whole training split, rank its best over new seeds, train the winner over seeds with the "
        "time left, read the test split once for those runs, and write the model folder (weights, model.onnx) "
        "and run.html. Nothing starts that cannot end in time; Ctrl-C or a kill stops it, and the same command "
        "resumes with the budget that is left.")
    run.add_argument("space", help="search-space YAML file")
    run.add_argument("--budget", type=budget_seconds, required=True, metavar="TIME",
                     help="wall-clock time for everything: 90s, 10m, 1h, 1h30m")
    options.add_data_arguments(run)
    run.add_argument("--name", default=None, metavar="NAME",
                     help="the run's folder under --results (default: the space file's stem)")
    run.add_argument("--results", default="results", metavar="DIR", help="where the run's folder goes")
    run.add_argument("--seed", type=int, default=0, help="the search's, ranking's and final runs' seeds")
    options.add_device_arguments(run)
    run.add_argument("--no-onnx", dest="onnx", action="store_false", help="do not write model.onnx")
    options.add_quiet_argument(run, "trial, run or epoch")
