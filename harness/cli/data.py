"""`harness datasets`: without a name, the registry with what each dataset needs; with one, the
dataset read (its files checked first with --verify) and described."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from harness.cli.options import data_options


def cmd_datasets(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """`harness datasets [NAME[:PATH]]`: list the datasets, or describe one."""
    if args.dataset is None:
        list_datasets(args.data_dir)
    else:
        describe_dataset(args)
    return 0


def list_datasets(data_dir: str | None) -> None:
    """Two lines per registered dataset (what it is, what it needs), then where they are looked for."""
    from harness.data import DATASETS, default_data_dir

    width = max(len(n) for n in DATASETS.names())
    for name in DATASETS.names():
        source = DATASETS.get(name)
        path = {"required": ":PATH", "optional": "[:PATH]", "none": ""}[source.path]
        print(f"{name + path:<{width + 7}}  {source.description}")
        print(f"{'':<{width + 7}}  needs: {source.needs}")
    print()
    print(f"standard datasets are looked for in {data_dir or default_data_dir()} "
          "(--data-dir, $HARNESS_DATA); `harness datasets NAME` reads one and describes it")


def describe_dataset(args: argparse.Namespace) -> None:
    """Read `args.dataset` and print its splits, source, split id, augmentation and class counts.

    --verify prints a line per original file checked (verify_dataset) before reading it; loading
    with verify=True would check the same files again without saying so, hence verify=False then."""
    from dataclasses import replace

    from harness.names import printable

    options = data_options(args)
    if options.verify:
        from harness.data.sources.standard import verify_dataset

        for line in verify_dataset(args.dataset, args.data_dir):
            print(line)
        options = replace(options, verify=False)  # just checked
    data = options.load(args.dataset, progress=True)
    print(data.describe())
    print(f"  source: {printable(data.source)}")
    print(f"  split id: {data.split_id}")
    aug = data.augment
    print(f"  default augmentation: crop padding {aug.crop_padding} px, flips {'on' if aug.flip else 'off'}")
    counts = data.class_counts("train")
    shown = ", ".join(f"{printable(name)} {n}" for name, n in zip(data.classes, counts, strict=True))  # one line
    print(f"  training images per class: {shown if len(counts) <= 20 else f'{min(counts)} to {max(counts)}'}")
