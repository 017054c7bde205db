"""Command line: a thin layer over the public API (`harness search`, `rank`, `report`, `show`, `profile`, ...).

A user's mistake (a bad file, key, value or name) prints one line and exits with status 2;
Ctrl-C stops after saving what finished and exits with 130.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from harness.data import DEFAULT_VAL_FRACTION, DataOptions
from harness.errors import HarnessError
from harness.search.pruning import ParetoPruner
from harness.search.samplers import PRUNERS, SAMPLERS

if TYPE_CHECKING:
    from harness.search.config import SearchConfig
    from harness.search.space import SearchSpace

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    from harness.search.space import OBJECTIVES

    parser = argparse.ArgumentParser(
        prog="harness", description="Architecture search and benchmarking for CNNs."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    search = sub.add_parser("search", help="run (or resume) a search over a space file",
                            description="Run a study over SPACE until it has N ended trials; "
                            "running the same command again resumes it.")
    search.add_argument("space", metavar="SPACE.yaml", help="search-space file")
    add_data_arguments(search)
    search.add_argument("--trials", type=_positive_int, default=None, metavar="N",
                        help="ended trials the study should have (default: the space's "
                        "search.trials, else 12)")
    budget = search.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=_positive_int, default=None, metavar="E",
                        help="training epochs per trial (default: the space's train.epochs)")
    budget.add_argument("--seconds", type=_positive_float, default=None, metavar="S",
                        help="training time per trial instead of epochs: every architecture trains "
                        "for the same S seconds (the schedule follows the time spent)")
    search.add_argument("--timeout", type=_positive_float, default=None, metavar="S",
                        help="start no new trial after S seconds of this run (a resumed run gets its own)")
    add_device_arguments(search, "trial")
    search.add_argument("--seed", type=_int, default=0, help="seed for sampling and training (default 0)")
    search.add_argument("--study", default=None, metavar="NAME",
                        help="study name (default: the space file's stem)")
    search.add_argument("--results", default="results", metavar="DIR",
                        help="folder that holds one sub-folder per study (default: results)")
    search.add_argument("--objectives", default=None, choices=list(OBJECTIVES),
                        help="maximise accuracy, or also minimise FLOPs or params (default: accuracy)")
    search.add_argument("--sampler", default="tpe", choices=list(SAMPLERS),
                        help="how trials pick architectures (default tpe; grid enumerates a discrete "
                        "space, each point once)")
    search.add_argument("--pruner", default=None, choices=list(PRUNERS),
                        help="stop unpromising trials early: median, hyperband or sha for one objective, "
                        "pareto for two (the defaults: median, pareto)")
    pareto = search.add_argument_group("two-objective pruning (--pruner pareto)")
    pareto.add_argument("--prune-margin", type=float, default=ParetoPruner.margin, metavar="A",
                        help="stop a trial when finished trials with no more cost were better by A "
                        f"(accuracy fraction) at the same epoch (default {ParetoPruner.margin})")
    pareto.add_argument("--prune-warmup", type=_int, default=ParetoPruner.warmup, metavar="E",
                        help=f"no decision at epochs <= E (default {ParetoPruner.warmup})")
    pareto.add_argument("--prune-min-trials", type=_positive_int, default=ParetoPruner.min_trials, metavar="N",
                        help=f"finished trials needed before any decision (default {ParetoPruner.min_trials})")
    limits = search.add_argument_group("hard constraints, checked on the built model before training")
    limits.add_argument("--max-flops", type=_count, default=None, metavar="N",
                        help="refuse networks over N multiply-adds per image (5e6, 5M); they are "
                        "recorded, never trained, and the sampler learns to avoid them")
    limits.add_argument("--max-params", type=_count, default=None, metavar="N",
                        help="refuse networks over N parameters (300k, 1.5M)")
    search.add_argument("--repeat", action="store_true",
                        help="train an architecture again even when the study already trained it at "
                        "this budget (default: reuse that result, marked as reused)")
    augment = search.add_argument_group("augmentation (default: what suits the dataset, see `harness datasets`)")
    augment.add_argument("--crop-padding", type=_int, default=None, metavar="P",
                         help="random crop after P pixels of zero padding; 0 turns it off")
    augment.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None,
                         help="random horizontal flips (--no-flip turns them off)")
    search.add_argument("--data-memory", type=_gib, default=None, metavar="GiB",
                        help="the most device memory the dataset may take before it is streamed from "
                        "host memory instead (default: half the device's free memory)")
    scale = search.add_argument_group("storage and workers")
    add_storage_argument(scale)
    scale.add_argument("--workers", type=_positive_int, default=1, metavar="N",
                       help="run N worker processes on the study (needs --storage journal or postgresql://...)")
    scale.add_argument("--gpus", default=None, metavar="0,1,...",
                       help="pin workers to these GPUs, round robin (repeat a GPU to put several workers on it)")
    scale.add_argument("--heartbeat", type=_positive_int, default=None, metavar="S",
                       help="a running trial records a heartbeat every S seconds; one silent for 3 S is "
                       "marked failed and run again (default 10)")
    scale.add_argument("--worker-index", type=_int, default=0, help=argparse.SUPPRESS)
    scale.add_argument("--no-report", action="store_true", help=argparse.SUPPRESS)

    show = sub.add_parser("show", help="print a space's parameters, its size, and one sampled network")
    show.add_argument("space", metavar="SPACE.yaml", help="search-space file")
    show.add_argument("--seed", type=_int, default=0, help="which sample to show (default 0)")
    add_data_arguments(show, what="dataset whose input size and classes to build for")

    datasets = sub.add_parser("datasets", help="list the datasets, or describe one",
                              description="Without an argument, list the datasets and what each needs; "
                              "with NAME[:PATH], read it and print its splits, image size and classes.")
    datasets.add_argument("dataset", nargs="?", metavar="NAME[:PATH]", help="a dataset to read and describe")
    add_data_arguments(datasets, positional=True)

    profile = sub.add_parser("profile", help="params, FLOPs and receptive field of a preset or spec file",
                             description="Build a preset (see `harness presets`) or a spec file (YAML "
                             "or JSON, as `ArchSpec.to_dict` writes it) and measure it before training.")
    profile.add_argument("spec", metavar="NAME_OR_SPEC_FILE", help="preset name or spec file")
    profile.add_argument("--input-size", type=_input_size, default=(224, 224), metavar="S|HxW",
                         help="input height and width in pixels (default 224)")
    profile.add_argument("--in-channels", type=_positive_int, default=3, metavar="C",
                         help="input channels (default 3)")
    profile.add_argument("--num-classes", type=_positive_int, default=1000, metavar="N",
                         help="classes of the classifier (default 1000)")
    profile.add_argument("--json", action="store_true", help="print one JSON object instead of text")

    sub.add_parser("presets", help="list the preset networks (torchvision's classic models)")

    export = sub.add_parser("export", help="print a trial's architecture as a spec file",
                            description="Print the spec of one trial of a study (YAML, defaults left out; "
                            "or --json, complete): `harness export results/kernel_size --trial 9 > spec.yaml`, "
                            "then `harness profile spec.yaml`.")
    export.add_argument("folder", metavar="FOLDER", help="the study's results folder")
    export.add_argument("--trial", type=_int, required=True, metavar="N", help="trial number")
    export.add_argument("--study", default=None, metavar="NAME", help="study name, when study.db holds several")
    export.add_argument("--json", action="store_true", help="JSON, every field, instead of YAML")
    add_storage_argument(export)

    report = sub.add_parser("report", help="tables, plots and one HTML page of a study (no training)",
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
    report.add_argument("--top", type=_positive_int, default=10, metavar="K",
                        help="trials in the leaderboard (default 10)")
    add_rank_parser(sub)
    return parser


def add_rank_parser(sub: argparse._SubParsersAction) -> None:
    """`harness rank`: candidates, budget, seeds, racing."""
    from harness.rank.ranking import DEFAULT_MAX_SEEDS, DEFAULT_SEEDS

    rank = sub.add_parser(
        "rank", help="re-train the best architectures with several seeds and rank them with error bars",
        description="Train each candidate S times with different seeds and rank them: mean, sd and 95% "
        "interval of validation (and test) accuracy, the probability of being the best, and the groups the "
        "data cannot tell apart (Welch tests, Holm-corrected). Candidates: a study's top K or Pareto set "
        "(--from), presets, spec files (harness export). Running the same command again resumes it.")
    source = rank.add_argument_group("candidates (at least one source)")
    source.add_argument("--from", dest="from_", default=None, metavar="FOLDER",
                        help="a study's results folder: rank its best trials (and compare with its brief ranking)")
    pick = source.add_mutually_exclusive_group()
    pick.add_argument("--top", type=_positive_int, default=None, metavar="K",
                      help="the study's K best trials by validation accuracy (default 5)")
    pick.add_argument("--pareto", action="store_true", help="the study's accuracy-vs-FLOPs Pareto set")
    source.add_argument("--study", default=None, metavar="NAME", help="study name, when study.db holds several")
    source.add_argument("--presets", default=None, metavar="NAME,...",
                        help="presets to rank alongside, comma-separated (`harness presets` lists them)")
    source.add_argument("--spec", action="append", default=[], metavar="FILE",
                        help="a spec file to rank (repeatable), e.g. from `harness export`")
    add_data_arguments(rank, default="the study's, else 'default'")
    rank.add_argument("--seeds", type=_positive_int, default=DEFAULT_SEEDS, metavar="S",
                      help=f"runs per candidate, each with its own seed (default {DEFAULT_SEEDS})")
    budget = rank.add_mutually_exclusive_group()
    budget.add_argument("--epochs", type=_positive_int, default=None, metavar="E",
                        help="training epochs per run (default: the study's budget, else 4)")
    budget.add_argument("--seconds", type=_positive_float, default=None, metavar="T",
                        help="training time per run instead of epochs")
    rank.add_argument("--budget-factor", type=_positive_float, default=None, metavar="F",
                      help="train F times as long as the candidate's budget (e.g. 5 for 5x the search's epochs)")
    rank.add_argument("--race", action="store_true",
                      help="after the first S seeds, add seeds only to the candidates still tied for the top, "
                      "one per round, until one is left or --max-seeds")
    rank.add_argument("--max-seeds", type=_positive_int, default=DEFAULT_MAX_SEEDS, metavar="N",
                      help=f"the most runs per candidate when racing (default {DEFAULT_MAX_SEEDS})")
    rank.add_argument("--alpha", type=_fraction, default=0.05, metavar="A",
                      help="family-wise error rate of the pairwise tests (default 0.05)")
    add_device_arguments(rank, "run")
    rank.add_argument("--seed", type=_int, default=0, help="base of the runs' seeds (default 0)")
    rank.add_argument("--results", default=None, metavar="DIR",
                      help="parent folder (default: the one holding the study's folder, else results)")
    rank.add_argument("--name", default=None, metavar="NAME",
                      help="the ranking's folder under DIR (default: <study>-rank with --from, else rank)")
    augment = rank.add_argument_group("augmentation (default: the study's, else what suits the dataset)")
    augment.add_argument("--crop-padding", type=_int, default=None, metavar="P", help="random-crop padding (px)")
    augment.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None, help="random flips")
    rank.add_argument("--data-memory", type=_gib, default=None, metavar="GiB",
                      help="the most device memory the dataset may take before it is streamed")
    add_storage_argument(rank)


def add_device_arguments(parser: argparse.ArgumentParser, per: str) -> None:
    """--device and --compile, on the commands that train (`per`: what one training is called)."""
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                        help="where to train (default: auto = CUDA when available)")
    parser.add_argument("--compile", action="store_true",
                        help=f"train through torch.compile: faster steps after a start-up of seconds to a "
                        f"minute per {per} (reported as the warm-up); pays off for longer ones")


def add_storage_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """--storage, on every command that reads or writes a study."""
    parser.add_argument("--storage", default=None, metavar="URL",
                        help="where the study lives: sqlite:///PATH (default: study.db in its folder), "
                        "journal (a journal file there; several processes on one machine), journal:PATH, "
                        "or postgresql://USER:PASSWORD@HOST/DB (several machines); default $HARNESS_STORAGE")


def add_data_arguments(parser: argparse.ArgumentParser, what: str = "dataset to train and validate on",
                       positional: bool = False, default: str = "the space's `dataset:`, else 'default'") -> None:
    """The options that say which dataset and how to read it (search, show, datasets)."""
    group = parser.add_argument_group("data")
    if not positional:
        group.add_argument("--dataset", default=None, metavar="NAME[:PATH]",
                           help=f"{what} (default: {default}); "
                           "`harness datasets` lists them; folder:PATH reads your own images")
    group.add_argument("--data-dir", default=None, metavar="DIR",
                       help="where standard datasets are (default: $HARNESS_DATA, else ~/.cache/harness/data)")
    group.add_argument("--download", action="store_true",
                       help="let torchvision download a standard dataset into the data folder")
    group.add_argument("--image-size", type=_positive_int, default=None, metavar="S",
                       help="resize images to SxS pixels (default: the dataset's size; for folders, "
                       "the median shorter side, at most 64)")
    group.add_argument("--val-fraction", type=_fraction, default=DEFAULT_VAL_FRACTION, metavar="F",
                       help="share of the training images held out for validation where the dataset "
                       "has no validation split (default 0.1; stratified, fixed seed)")
    group.add_argument("--strict", action="store_true",
                       help="refuse an image folder with unreadable files instead of skipping them")
    group.add_argument("--train-images", type=_positive_int, default=None, metavar="N",
                       help="train on a stratified, seeded subset of N training images (the same for "
                       "every trial; validation stays whole): a cheap fidelity for a search")
    group.add_argument("--verify", action="store_true",
                       help="check a standard dataset's original files against their published MD5s first")


def data_options(args: argparse.Namespace) -> DataOptions:
    """DataOptions from the parsed data arguments."""
    return DataOptions(data_dir=args.data_dir, download=args.download, image_size=args.image_size,
                       val_fraction=args.val_fraction, strict=args.strict, verify=args.verify,
                       train_images=args.train_images)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, not {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def _count(text: str) -> float:
    from harness.errors import InvalidValueError
    from harness.search.constraints import parse_count

    try:
        return parse_count(text)
    except InvalidValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number between 0 and 1, not {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), not {value}")
    return value


def _gib(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of GiB, not {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, not {value}")
    return value * 2**30


def _input_size(text: str) -> tuple[int, int]:
    parts = text.lower().replace(",", "x").split("x")
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be S or HxW in pixels, not {text!r}") from None
    if len(sizes) not in (1, 2) or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"must be S or HxW with positive sizes, not {text!r}")
    return (sizes[0], sizes[-1])


def cmd_search(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """`harness search`: run the study, print a line per trial and a leaderboard."""
    import dataclasses

    import optuna

    from harness.data import DEFAULT_DATASET
    from harness.search.config import DEFAULT_TRIALS, SearchConfig
    from harness.search.constraints import Constraints
    from harness.search.samplers import grid_trials
    from harness.search.space import load_space
    from harness.search.study import run_search
    from harness.store.storage import HEARTBEAT_INTERVAL_S

    space = load_space(args.space)
    options = data_options(args)
    if options.train_images is None and space.train_images is not None:  # the command line wins
        options = dataclasses.replace(options, train_images=space.train_images)
    config = SearchConfig(
        dataset=args.dataset or space.dataset or DEFAULT_DATASET,  # run_search loads it before writing
        # A grid runs to its end unless told otherwise.
        trials=args.trials or space.trials or (grid_trials(space) if args.sampler == "grid" else DEFAULT_TRIALS),
        epochs=args.epochs,
        device=args.device,
        seed=args.seed,
        study_name=args.study,
        results_dir=args.results,
        objectives=args.objectives or space.objectives or "accuracy",
        pruner=args.pruner,
        sampler=args.sampler,
        seconds=args.seconds,
        timeout=args.timeout,
        pareto=ParetoPruner(margin=args.prune_margin, warmup=args.prune_warmup, min_trials=args.prune_min_trials),
        constraints=Constraints(max_flops=args.max_flops, max_params=args.max_params),
        repeat=args.repeat,
        data_options=options,
        data_memory=args.data_memory,
        crop_padding=args.crop_padding,
        flip=args.flip,
        storage=args.storage,
        heartbeat=args.heartbeat or HEARTBEAT_INTERVAL_S,
        worker=args.worker_index,
        report=not args.no_report,
        compile=args.compile,
    )
    if args.workers > 1 or args.gpus:
        return _run_workers(args, argv, space, config)
    # Our own line per trial replaces Optuna's log lines (and its warning per failed trial,
    # whose reason is in our line and in trials.csv).
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        run_search(space, config, progress=lambda line: print(line, flush=True), argv=["harness", *argv])
    except KeyboardInterrupt:
        print("\ninterrupted: finished trials are saved; run the same command again to resume.",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def _run_workers(args: argparse.Namespace, argv: Sequence[str], space: SearchSpace, config: SearchConfig) -> int:
    """`harness search --workers N [--gpus ...]`: N worker processes on one study, then its report."""
    from pathlib import Path

    import optuna

    from harness.report.build import build_report
    from harness.search.config import study_name_for
    from harness.search.progress import print_leaderboard
    from harness.search.workers import parse_gpus, run_workers
    from harness.store.storage import resolve_storage

    gpus = parse_gpus(args.gpus)
    folder = Path(config.results_dir) / study_name_for(space, config.study_name)
    ref = resolve_storage(args.storage, folder)
    if not ref.multi_process and args.workers > 1:
        raise HarnessError(f"--workers {args.workers} needs a storage that several processes can share: "
                           f"{ref.display} is SQLite (one process). Use --storage journal (a journal file in "
                           "the study's folder, one machine) or --storage postgresql://... (several machines)")
    print(f"starting {args.workers} worker(s) on {ref.display}"
          + (f", GPUs {','.join(gpus)}" if gpus else ""), flush=True)
    try:
        code = run_workers(argv, args.workers, ref.url, gpus, say=lambda line: print(line, flush=True))
    except KeyboardInterrupt:
        print("\ninterrupted: finished trials are saved; run the same command again to resume.", file=sys.stderr)
        return EXIT_INTERRUPTED
    if code != 0:
        print(f"harness: error: a worker exited with status {code} (its lines above say why)", file=sys.stderr)
        return code
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    folder.mkdir(parents=True, exist_ok=True)
    report = build_report(folder, storage=ref.url)
    print_leaderboard(report.frame, print)
    print(f"results: {folder / 'trials.csv'}; report: {report.html}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """`harness show`: parameters, number of architectures, one sample with params and FLOPs."""
    from harness.data import DEFAULT_DATASET, dataset_shape
    from harness.errors import SpecError
    from harness.numbers import human
    from harness.search.space import load_space
    from harness.zoo.measure import measure_model
    from harness.zoo.model import build_model

    space = load_space(args.space)
    dataset = args.dataset or space.dataset or DEFAULT_DATASET
    options = data_options(args)
    (c, h, w), classes = dataset_shape(dataset, image_size=options.image_size, data_dir=options.data_dir,
                                       download=options.download, val_fraction=options.val_fraction,
                                       strict=options.strict)
    count = space.architecture_count()
    print(f"space {space.name!r} ({space.path})")
    if space.description:
        print(f"  {space.description}")
    print(f"searched parameters ({len(space.searched)}):")
    print(space.describe())
    print(f"distinct architectures: {count if count is not None else 'infinitely many (continuous ranges)'}")
    spec, train_config, params = space.sample(seed=args.seed)
    print(f"\none sample (seed {args.seed}) for {dataset} ({c}x{h}x{w}, {classes} classes):")
    print("  " + ", ".join(f"{k}={v}" for k, v in params.items()))
    print(f"  {spec.label}   id {spec.spec_id}")
    try:
        model = build_model(spec, in_channels=c, num_classes=classes, input_size=(h, w))
    except SpecError as err:
        print(f"  this sample cannot be built: {err}")
        return 0
    costs = measure_model(model, spec, (c, h, w))
    print(f"  params {costs.params:,} ({human(costs.params)}), FLOPs {costs.flops:,} "
          f"({human(costs.flops)} multiply-adds per image), receptive field {costs.receptive_field} px")
    if costs.uncounted_ops:
        print(f"  not counted by fvcore: {costs.uncounted}")
    print(f"  feature maps: {' -> '.join(f'{a}x{b}' for a, b in spec.feature_sizes((h, w)))}")
    print(f"  training: {train_config.epochs} epochs, {train_config.optimizer} lr {train_config.lr}, "
          f"batch {train_config.batch_size}, {train_config.schedule} schedule")
    return 0


def cmd_profile(args: argparse.Namespace) -> int:
    """`harness profile`: measure one preset or spec file before training."""
    import json

    from harness.numbers import human
    from harness.zoo.measure import profile_spec
    from harness.zoo.presets import load_spec

    spec = load_spec(args.spec)
    h, w = args.input_size
    info = profile_spec(spec, (args.in_channels, h, w), args.num_classes)
    if args.json:
        print(json.dumps({"name": args.spec, **info}))
        return 0
    print(f"{args.spec}: {info['label']}   id {info['spec_id']}")
    print(f"  input {args.in_channels}x{h}x{w}, {args.num_classes} classes")
    print(f"  params           {info['params']:,} ({human(info['params'])})")
    print(f"  FLOPs            {info['flops']:,} ({human(info['flops'])} multiply-adds per image, fvcore)")
    uncounted = ", ".join(f"{k}({v})" for k, v in sorted(info["uncounted_ops"].items())) or "none"
    print(f"  not counted      {uncounted}")
    print(f"  receptive field  {info['receptive_field']} px")
    sizes = " -> ".join(f"{a}x{b}" for a, b in info["feature_sizes"])
    print(f"  feature maps     {sizes} (after the stem, then each stage)")
    print(f"  stage widths     {'-'.join(map(str, info['stage_widths']))}")
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    """`harness datasets`: the registry with what each needs; or one dataset read and described."""
    from harness.data import DATASETS, default_data_dir

    if args.dataset is None:
        width = max(len(n) for n in DATASETS.names())
        for name in DATASETS.names():
            source = DATASETS.get(name)
            path = {"required": ":PATH", "optional": "[:PATH]", "none": ""}[source.path]
            print(f"{name + path:<{width + 7}}  {source.description}")
            print(f"{'':<{width + 7}}  needs: {source.needs}")
        print()
        print(f"standard datasets are looked for in {args.data_dir or default_data_dir()} "
              "(--data-dir, $HARNESS_DATA); `harness datasets NAME` reads one and describes it")
        return 0
    options = data_options(args)
    if args.verify:
        from dataclasses import replace

        from harness.data.sources.standard import verify_dataset

        for line in verify_dataset(args.dataset, args.data_dir):
            print(line)
        options = replace(options, verify=False)  # just checked
    data = options.load(args.dataset, progress=True)
    print(data.describe())
    print(f"  source: {data.source}")
    print(f"  split id: {data.split_id}")
    aug = data.augment
    print(f"  default augmentation: crop padding {aug.crop_padding} px, flips {'on' if aug.flip else 'off'}")
    counts = data.class_counts("train")
    shown = ", ".join(f"{name} {n}" for name, n in zip(data.classes, counts, strict=True))
    print(f"  training images per class: {shown if len(counts) <= 20 else f'{min(counts)} to {max(counts)}'}")
    return 0


def cmd_presets() -> int:
    """`harness presets`: one line per preset with its description."""
    from harness.zoo.presets import DESCRIPTIONS, PRESETS

    width = max(len(n) for n in PRESETS.names())
    for name in PRESETS.names():
        print(f"{name:<{width}}  {DESCRIPTIONS[name]}")
    print("\nmeasure one: harness profile NAME [--input-size 224] [--num-classes 1000] [--json]")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """`harness report`: write the tables, plots and report.html of a study; say what was written."""
    import optuna

    from harness.report.build import build_report

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    report = build_report(args.folder, storage=args.storage, study_name=args.study, top=args.top)
    print(f"report of study {report.study_name!r} from {report.source} "
          f"({len(report.frame)} trial{'s' if len(report.frame) != 1 else ''})")
    for path in report.files:
        if path.suffix != ".png":
            print(f"  wrote {path}")
    print(f"  wrote {len(report.drawn)} plot{'s' if len(report.drawn) != 1 else ''} under "
          f"{report.folder / 'plots'}")
    print(f"  importance: {report.importance_note}")
    for plot in report.not_drawn:
        print(f"  not drawn: {plot.title}: {plot.reason}")
    print(f"open {report.html} in a browser (one self-contained file)")
    return 0


def cmd_rank(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """`harness rank`: gather the candidates, run (or resume) the ranking, print the table."""
    import dataclasses

    import optuna

    from harness.data import DEFAULT_VAL_FRACTION
    from harness.rank.candidates import from_presets, from_spec_files, from_study
    from harness.rank.ranking import RankConfig
    from harness.rank.report import summary_line, table_rows
    from harness.rank.run import run_rank
    from harness.train.loop import TrainConfig

    if not (args.from_ or args.presets or args.spec):
        raise HarnessError("nothing to rank: give --from FOLDER (a study), --presets NAME,... or --spec FILE")
    if (args.top or args.pareto) and not args.from_:
        raise HarnessError("--top and --pareto choose among a study's trials; give --from FOLDER too")
    groups = []
    study = None
    base = TrainConfig()
    options = data_options(args)
    if args.from_:
        trials, study, base = from_study(args.from_, top=args.top, pareto=args.pareto, study_name=args.study,
                                         storage=args.storage)
        groups.append(trials)
        recorded = study.data_options or {}
        # The study's way of reading its data, where this command does not say otherwise.
        if args.image_size is None and recorded.get("image_size"):
            options = dataclasses.replace(options, image_size=int(recorded["image_size"]))
        if args.val_fraction == DEFAULT_VAL_FRACTION and recorded.get("val_fraction") is not None:
            options = dataclasses.replace(options, val_fraction=float(recorded["val_fraction"]))
    if args.presets:
        groups.append(from_presets([n.strip() for n in args.presets.split(",") if n.strip()], base))
    if args.spec:
        groups.append(from_spec_files(args.spec, base))
    config = RankConfig(
        dataset=args.dataset, seeds=args.seeds, epochs=args.epochs, seconds=args.seconds,
        budget_factor=args.budget_factor, device=args.device, seed=args.seed, name=args.name,
        results_dir=args.results, race=args.race, max_seeds=args.max_seeds, alpha=args.alpha,
        data_options=options, data_memory=args.data_memory, crop_padding=args.crop_padding, flip=args.flip,
        storage=args.storage, compile=args.compile,
    )
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        ranking = run_rank([c for g in groups for c in g], config, study=study,
                           progress=lambda line: print(line, flush=True), argv=["harness", *argv])
    except KeyboardInterrupt:
        print("\ninterrupted: finished runs are saved; run the same command again to resume.", file=sys.stderr)
        return EXIT_INTERRUPTED
    header, rows = table_rows(ranking.table)
    keep = [i for i, h in enumerate(header) if h not in ("architecture", "train img/s")]
    widths = [max(len(header[i]), *(len(r[i]) for r in rows)) for i in keep]
    print("  ".join(header[i].ljust(w) for i, w in zip(keep, widths, strict=True)))
    for r in rows:
        print("  ".join(r[i].ljust(w) for i, w in zip(keep, widths, strict=True)))
    print(summary_line(ranking))
    for _, f in ranking.fidelity.iterrows():
        if f["tau"] == f["tau"]:  # not NaN
            print(f"fidelity: Kendall's tau {f['tau']:+.2f} (p {f['p']:.3f}, n {f['n']}) for {f['predictor']}")
    print(f"results: {ranking.folder / 'rank.md'}, {ranking.folder / 'rank.csv'}, {ranking.folder / 'rank.html'}")
    return 0


def _show_dataset_warnings_as_lines() -> None:
    """Print a DatasetWarning as one "harness: warning: ..." line (not Python's file:line form)."""
    import warnings

    from harness.errors import DatasetWarning

    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
        if issubclass(category, DatasetWarning):
            print(f"harness: warning: {message}", file=sys.stderr)
        else:
            shown(message, category, filename, lineno, file, line)

    warnings.showwarning = show


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `harness` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    _show_dataset_warnings_as_lines()
    try:
        if args.command == "search":
            return cmd_search(args, argv)
        if args.command == "show":
            return cmd_show(args)
        if args.command == "profile":
            return cmd_profile(args)
        if args.command == "export":
            from harness.search.export import spec_text, trial_spec

            spec = trial_spec(args.folder, args.trial, args.study, args.storage)
            sys.stdout.write(spec_text(spec, "json" if args.json else "yaml"))
            return 0
        if args.command == "presets":
            return cmd_presets()
        if args.command == "datasets":
            return cmd_datasets(args)
        if args.command == "report":
            return cmd_report(args)
        if args.command == "rank":
            return cmd_rank(args, argv)
    except HarnessError as err:
        print(f"harness: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
