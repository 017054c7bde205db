"""`harness train`: one architecture (a ranking's winner or candidate, a study's trial, a spec file,
a preset) trained to the end into a model folder; thin over harness.final."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence

from harness.cli.console import interrupted, quiet_optuna, say
from harness.cli.options import data_options


def cmd_train(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """`harness train`: resolve the architecture, load the data, train (or resume), print the metrics."""
    from harness.data.loader import place_dataset
    from harness.final.source import resolve_source
    from harness.final.train import FinalConfig, train_final
    from harness.train.device import resolve_device

    quiet_optuna()
    source = resolve_source(from_folder=args.from_, candidate=args.candidate, trial=args.trial, spec=args.spec,
                            preset=args.preset, study_name=args.study, storage=args.storage)
    dataset = args.dataset or source.dataset or "default"
    changes = {k: v for k, v in (("epochs", args.epochs), ("crop_padding", args.crop_padding), ("flip", args.flip),
                                 ("batch_size", args.batch_size), ("lr", args.lr)) if v is not None}
    if args.seconds is not None:
        changes["seconds"] = args.seconds
    elif args.epochs is not None:
        changes["seconds"] = None  # --epochs replaces a ranking's time budget
    train = dataclasses.replace(source.train, **changes)
    data = data_options(args).load(dataset, progress=True)
    device = resolve_device(args.device)
    data, _ = place_dataset(data, device, args.data_memory)
    folder = args.out or f"results/models/{_folder_name(source.origin)}"
    budget = f"{train.seconds:g} s" if train.seconds is not None else f"{train.epochs} epochs"
    say(f"training {source.spec.label} ({source.origin}) on {dataset}: {len(data.train_y)} train / "
        f"{len(data.val_y)} val images, {budget}, device {device}, into {folder}")
    final = FinalConfig(seed=args.seed, device=str(device), precision=args.precision, metric=args.metric,
                        patience=args.patience, dataset=dataset, origin=source.origin, live=not args.quiet)
    try:
        result = train_final(source.spec, data, train, folder, final, progress=say)
    except KeyboardInterrupt:
        return interrupted("epochs (the same command resumes from the last checkpoint)")
    m = result.metrics
    for split in ("val", "test"):
        if split in m:
            s = m[split]
            top5 = f"  top-5 {s['top5_accuracy']:.2%}" if "top5_accuracy" in s else ""
            say(f"{split:>4}: accuracy {s['accuracy']:.2%}  balanced {s['balanced_accuracy']:.2%}  macro F1 "
                f"{s['macro_f1']:.4f}{top5}  ECE {s['ece']:.4f}  ({s['images']} images)")
    say(f"kept epoch {result.best_epoch} of {result.epochs} (best validation {args.metric}); "
        f"{m['train_seconds']:.0f} s of training")
    say(f"wrote {', '.join(p.name for p in result.files)} in {result.folder}")
    return 0


def _folder_name(origin: str) -> str:
    import re

    # Leading and trailing dots go too: an origin from a storage's study name could be "..".
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", origin.split(" (rank")[0]).strip("-.")[:80] or "model"
