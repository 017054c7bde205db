"""The commands on a space or a study: `harness search` (in this process or through workers),
`show`, `export` and `report`; each one thin over the API, importing what it uses when it runs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from harness.cli.console import interrupted, quiet_optuna, run_in_folder, say
from harness.cli.options import data_options
from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.data.shifts import Robustness
    from harness.search.search_config import SearchConfig
    from harness.search.space import SearchSpace
    from harness.zoo.spec import ArchSpec


def cmd_search(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """`harness search`: run the study, print a line per trial and a leaderboard."""
    from pathlib import Path

    from harness.search.search_config import study_name_for
    from harness.search.space import load_space
    from harness.search.study import run_search

    space = load_space(args.space)
    config = config_from_args(space, args)
    if args.workers > 1 or args.gpus:
        return search_with_workers(args, argv, space, config)
    folder = Path(config.results_dir) / study_name_for(space, config.study_name)
    return run_in_folder(folder, lambda: run_search(space, config, progress=say, argv=["harness", *argv]), "trials")


def config_from_args(space: SearchSpace, args: argparse.Namespace) -> SearchConfig:
    """The SearchConfig of `harness search`: the options given, else the space's defaults (see
    harness.search.search_config.search_config)."""
    from harness.search.constraints import Constraints
    from harness.search.pruning import ParetoPruner
    from harness.search.search_config import search_config

    return search_config(
        space, dataset=args.dataset, trials=args.trials, epochs=args.epochs, seconds=args.seconds,
        timeout=args.timeout, device=args.device, seed=args.seed, study_name=args.study, results_dir=args.results,
        objectives=args.objectives, metric=args.metric, sampler=args.sampler, pruner=args.pruner,
        pareto=ParetoPruner(margin=args.prune_margin, warmup=args.prune_warmup, min_trials=args.prune_min_trials),
        constraints=Constraints(max_flops=args.max_flops, max_params=args.max_params, max_latency=args.max_latency,
                                max_memory=args.max_memory), repeat=args.repeat,
        warm_start=args.warm_start, warm_top=args.warm_top,
        data_options=data_options(args), data_memory=args.data_memory, crop_padding=args.crop_padding,
        flip=args.flip, storage=args.storage, mlflow=args.mlflow, heartbeat=args.heartbeat, worker=args.worker_index,
        report=not args.no_report, compile=args.compile, precision=args.precision,
        deterministic=args.deterministic, robustness=robustness_from(args), live=not args.quiet,
    )


def robustness_from(args: argparse.Namespace) -> Robustness | None:
    """The Robustness that --robustness and --severity ask for (None without --robustness); the
    shifts' copies are seeded by --seed."""
    from harness.data.shifts import Robustness, parse_shifts

    if args.robustness is None:
        return None
    return Robustness(shifts=parse_shifts(args.robustness), severity=args.severity, seed=args.seed)


def search_with_workers(args: argparse.Namespace, argv: Sequence[str], space: SearchSpace,
                        config: SearchConfig) -> int:
    """`harness search --workers N [--gpus ...]`: N worker processes on one study, then its report."""
    from pathlib import Path

    from harness.report.build import build_report
    from harness.search.mlflow_study import finish_workers, open_tracker
    from harness.search.progress import print_leaderboard
    from harness.search.search_config import epochs_for, study_name_for
    from harness.search.workers import parse_gpus, run_workers
    from harness.store.storage import resolve_storage

    gpus = parse_gpus(args.gpus)
    if gpus and args.device == "cpu":
        raise HarnessError(f"--gpus {args.gpus} pins the workers to GPUs; it cannot go with --device cpu")
    folder = Path(config.results_dir) / study_name_for(space, config.study_name)
    ref = resolve_storage(args.storage, folder)
    if not ref.multi_process and args.workers > 1:
        raise HarnessError(f"--workers {args.workers} needs a storage that several processes can share: "
                           f"{ref.display} is SQLite (one process). Use --storage journal (a journal file in "
                           "the study's folder, one machine) or --storage postgresql://... (several machines)")
    # The parent run is made here, before the workers start, so that they all find the same one.
    tracker = open_tracker(space, config, folder, ref.display, epochs_for(space, config.epochs))
    say(f"starting {args.workers} worker(s) on {ref.display}" + (f", GPUs {args.gpus}" if gpus else ""))
    try:
        code = run_workers(argv, args.workers, ref.url, gpus, say=say)
    except KeyboardInterrupt:
        finish_workers(tracker, ref, folder.name, folder, "KILLED")
        return interrupted("trials")
    finish_workers(tracker, ref, folder.name, folder, "FINISHED" if code == 0 else "FAILED")
    if code != 0:
        print(f"harness: error: a worker exited with status {code} (its lines above say why)", file=sys.stderr)
        return code
    quiet_optuna()
    folder.mkdir(parents=True, exist_ok=True)
    report = build_report(folder, storage=ref.url)
    print_leaderboard(report.frame, print)
    print(f"results: {folder / 'trials.csv'}; report: {report.html}")
    return 0


def cmd_show(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """`harness show`: parameters, number of architectures, one sample with params and FLOPs."""
    from harness.search.search_config import dataset_for
    from harness.search.space import load_space

    space = load_space(args.space)
    dataset = dataset_for(space, args.dataset)
    (c, h, w), classes = data_options(args).shape(dataset)
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
    show_costs(spec, (c, h, w), classes)
    print(f"  training: {train_config.epochs} epochs, {train_config.optimizer} lr {train_config.lr}, "
          f"batch {train_config.batch_size}, {train_config.schedule} schedule")
    return 0


def show_costs(spec: ArchSpec, shape: tuple[int, int, int], classes: int) -> None:
    """The lines of `harness show` on the sampled network built for `shape`: params, FLOPs, receptive
    field and feature maps; or why it cannot be built."""
    from harness.errors import SpecError
    from harness.numbers import human
    from harness.zoo.measure import measure_model
    from harness.zoo.model import build_model

    c, h, w = shape
    try:
        model = build_model(spec, in_channels=c, num_classes=classes, input_size=(h, w))
    except SpecError as err:
        print(f"  this sample cannot be built: {err}")
        return
    costs = measure_model(model, spec, shape)
    print(f"  params {costs.params:,} ({human(costs.params)}), FLOPs {costs.flops:,} "
          f"({human(costs.flops)} multiply-adds per image), receptive field {costs.receptive_field} px")
    if costs.uncounted_ops:
        print(f"  not counted by fvcore: {costs.uncounted}")
    print(f"  feature maps: {' -> '.join(f'{a}x{b}' for a, b in spec.feature_sizes((h, w)))}")


def cmd_export(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """`harness export`: print one trial's spec, YAML or JSON; with --onnx, write a model folder as ONNX."""
    if (args.trial is None) == (args.onnx is None):
        raise HarnessError("export takes one of --trial N (a study's trial, printed as a spec) or --onnx FILE "
                           "(a model folder, written as ONNX)")
    if args.onnx is not None:
        from harness.cli.model_commands import cmd_export_onnx

        return cmd_export_onnx(args, argv)
    if args.opset is not None:
        raise HarnessError("--opset goes with --onnx FILE (a model folder written as ONNX)")
    from harness.search.export import trial_spec
    from harness.zoo.specfile import spec_text

    spec = trial_spec(args.folder, args.trial, args.study, args.storage)
    sys.stdout.write(spec_text(spec, "json" if args.json else "yaml"))
    return 0


def cmd_report(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """`harness report`: write the tables, plots and report.html of a study; say what was written."""
    from harness.report.build import build_report
    from harness.store.faults import in_folder

    quiet_optuna()
    with in_folder(args.folder):
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
