"""The option groups several commands share, one `add_*` function each: data (and `data_options`,
which turns them into a DataOptions), budget, augmentation, robustness, device, metric, quiet,
storage and MLflow. A command's own options are in its family's module (search_options,
inspect_options, rank_options, train_options).

Defaults and choices come from the API: plain names from harness.choices, the rest imported inside
the functions, so importing this module is cheap."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING

from harness.choices import DEVICES, PRECISIONS
from harness.cli.args import fraction, gib, positive_float, positive_int, whole_number

if TYPE_CHECKING:
    from harness.data import DataOptions


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


def add_device_arguments(parser: argparse.ArgumentParser, per: str | None = None) -> None:
    """--device and --precision, on every command that trains; with `per` (what one training of a
    study or a ranking is called: trial, run) also --deterministic and --compile."""
    parser.add_argument("--device", default="auto", choices=list(DEVICES),
                        help="where to train (default: auto = CUDA when available)")
    experiment = "; the precision is part of the experiment (a study or ranking does not mix them)" if per else ""
    parser.add_argument("--precision", default="auto", choices=list(PRECISIONS),
                        help="the training steps' precision: bf16 autocast or fp32; auto = bf16 on CUDA and "
                        "on CPUs with native bf16 (AMX, AVX512-BF16), else fp32. Evaluation is always fp32"
                        + experiment)
    if per is None:
        return
    parser.add_argument("--deterministic", action="store_true",
                        help="deterministic kernels (no cuDNN autotuning): CUDA runs then repeat exactly, "
                        "more slowly; CPU runs repeat anyway")
    parser.add_argument("--compile", action="store_true",
                        help=f"train through torch.compile: faster steps after a start-up of seconds to a "
                        f"minute per {per} (reported as the warm-up); pays off for longer ones")


def add_metric_argument(parser: argparse.ArgumentParser, choices: Sequence[str], text: str) -> None:
    """--metric, one of `choices` (harness.choices.METRICS or RANK_METRICS), default accuracy: the
    validation figure a search maximises, a ranking ranks by or a final training keeps its epoch by
    (`text`: its help)."""
    parser.add_argument("--metric", default="accuracy", choices=list(choices), help=text)


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
