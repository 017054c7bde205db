"""The commands on networks without a study: `harness profile` (one preset or spec file measured)
and `harness presets` (the list)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def cmd_profile(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """`harness profile`: measure one preset or spec file before training."""
    import json

    from harness.numbers import human
    from harness.zoo.measure import profile_spec
    from harness.zoo.specfile import load_spec

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


def cmd_presets(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """`harness presets`: one line per preset with its description."""
    from harness.zoo.presets import DESCRIPTIONS, PRESETS

    width = max(len(n) for n in PRESETS.names())
    for name in PRESETS.names():
        print(f"{name:<{width}}  {DESCRIPTIONS[name]}")
    print("\nmeasure one: harness profile NAME [--input-size 224] [--num-classes 1000] [--json]")
    return 0
