"""The commands on a trained model folder: `harness export FOLDER --onnx FILE` (dispatched from
study.cmd_export, which also serves --trial) and `harness predict FOLDER IMAGE...`; each one thin
over harness.final, importing it (and torch) when it runs."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from harness.errors import HarnessError


def cmd_export_onnx(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """`harness export FOLDER --onnx FILE [--opset N]`: write and check the ONNX file, say how close it is."""
    from harness.final.onnx import export_onnx

    if args.study is not None or args.storage is not None:
        raise HarnessError("--study and --storage pick a study's trial; --onnx reads a model folder")
    report = export_onnx(args.folder, args.onnx, args.opset)
    if args.json:
        print(json.dumps({"path": str(report.path), "opset": report.opset, "exporter": report.exporter,
                          "max_abs_diff": report.max_abs_diff, "tolerance": report.tolerance, "batch": report.batch,
                          "seconds": round(report.seconds, 2)}))
        return 0
    print(f"wrote {report.path} (ONNX opset {report.opset}): logits within {report.max_abs_diff:.2g} of torch's "
          f"(tolerance {report.tolerance:.2g}) on a batch of {report.batch} random images ({report.seconds:.1f} s)")
    return 0


def cmd_predict(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """`harness predict FOLDER IMAGE... [--top K]`: one tab-separated line per image, path then
    (class, probability) pairs, best first."""
    from harness.final.predict import predict
    from harness.names import printable

    # printable: a name with a tab or newline (or bytes that are not UTF-8) keeps one line per image.
    for p in predict(args.folder, args.images, top=args.top):
        print("\t".join([printable(str(p.path)), *(f"{printable(label)}\t{prob:.3f}" for label, prob in p.top)]))
    return 0
