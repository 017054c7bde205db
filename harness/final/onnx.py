"""A model folder as one ONNX file: pixels in, logits out, checked against torch before it is written.

    export_onnx(folder, path, opset)
      load_model(folder) -> PixelModel     the network behind its training normalisation
      torch.onnx.export                    opset >= 18: the torch.export-based exporter (dynamo);
                                           below: the TorchScript exporter, which targets old opsets itself
      metadata_props                       classes, input size, mean/std, spec_id, harness version
      onnxruntime vs torch                 8 seeded random images; refused beyond the tolerance
      PATH                                 written (beside, then renamed) only once the check passed

The graph's input "image" is float32 (N, C, H, W) in [0, 1], as torchvision's ToTensor gives,
with N free; its output "logits" is (N, classes), in the order of the "classes" metadata. Any
failure (an op the exporter cannot convert at the opset, a runtime that cannot load the graph,
logits that differ) is one HarnessError line naming PATH, and PATH is left as it was.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from harness.errors import HarnessError
from harness.files import write_bytes
from harness.final.model_folder import TrainedModel, load_model

if TYPE_CHECKING:
    import onnx

# Harness's own default rather than torch's (which moves between releases): opset 20 is what torch
# 2.14's exporter targets by default, and what onnxruntime >= 1.17 runs.
DEFAULT_OPSET = 20
# The torch.export-based exporter translates at opset 18 and newer only; asked for less, it converts
# down with onnx's version converter, which fails on ops as common as ReduceMean and then silently
# keeps opset 18. The TorchScript exporter (deprecated, still shipped) writes opsets 7-20 directly.
DYNAMO_MIN_OPSET = 18
INPUT, OUTPUT = "image", "logits"
TRACE_BATCH = 2  # torch.export specialises a dimension of size 1, so trace at 2 for a free batch
CHECK_BATCH = 8
CHECK_SEED = 0
# Largest |onnxruntime - torch| allowed, relative to the logits' scale (at least 1): both compute in
# float32 (eps 1.2e-7), with kernels that sum in different orders, so a correct graph differs by
# about 1e-6 of the scale; a wrong conversion (a missing normalisation, a swapped layout, another
# op's semantics) differs by the scale itself. 1e-4 leaves room for deep networks and catches those.
RTOL = 1e-4
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # the exporter colours its messages
REASON_CHARS = 300


@dataclass(frozen=True)
class OnnxReport:
    """What export_onnx wrote and how closely it matches torch: the largest |difference| of the
    logits on `batch` seeded random images, the tolerance it was held to, and the time taken."""

    path: Path
    opset: int
    max_abs_diff: float
    tolerance: float
    batch: int
    seconds: float
    exporter: str  # "dynamo" (torch.export-based) or "torchscript"


class PixelModel(nn.Module):
    """The network with its training normalisation in front: float pixels in [0, 1] -> logits."""

    def __init__(self, trained: TrainedModel) -> None:
        super().__init__()
        self.network = trained.model
        self.register_buffer("pixel_mean", torch.tensor(trained.info.mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("pixel_std", torch.tensor(trained.info.std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.network((image - self.pixel_mean) / self.pixel_std)


def export_onnx(folder: str | Path, path: str | Path, opset: int | None = None) -> OnnxReport:
    """Export the model in `folder` to the ONNX file `path` at `opset` (default DEFAULT_OPSET),
    check it in onnxruntime against torch, and write it only when the logits agree."""
    start = time.perf_counter()
    path = Path(path)
    opset = DEFAULT_OPSET if opset is None else opset
    if path.is_dir():
        raise HarnessError(f"{path}: is a folder; give the ONNX file's name, e.g. {path / 'model.onnx'}")
    ort = _onnx_runtime()
    trained = load_model(folder)
    net = PixelModel(trained).eval()
    c, (h, w) = trained.info.in_channels, trained.info.input_size
    exporter = "dynamo" if opset >= DYNAMO_MIN_OPSET else "torchscript"
    try:
        proto = _export(net, torch.rand(TRACE_BATCH, c, h, w), opset, exporter)
    except (RuntimeError, ValueError, TypeError, NotImplementedError) as err:
        raise HarnessError(f"{path}: cannot export to ONNX opset {opset}: {_reason(err)}") from None
    written = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    if written != opset:
        raise HarnessError(f"{path}: cannot export to ONNX opset {opset}: the exporter wrote opset {written}")
    _add_metadata(proto, trained)
    data = proto.SerializeToString()

    images = torch.rand(CHECK_BATCH, c, h, w, generator=torch.Generator().manual_seed(CHECK_SEED))
    with torch.inference_mode():
        want = net(images).numpy()
    try:  # onnxruntime's errors derive from Exception alone
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: its warnings would be lines the user did not ask for
        session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        got = session.run([OUTPUT], {INPUT: images.numpy()})[0]
    except Exception as err:
        raise HarnessError(f"{path}: onnxruntime {ort.__version__} cannot run the exported opset {opset} graph: "
                           f"{_reason(err)}") from None
    tolerance = RTOL * max(1.0, float(np.abs(want).max()))
    if got.shape != want.shape:
        raise HarnessError(f"{path}: the exported graph gives logits of shape {got.shape}, torch {want.shape}")
    diff = float(np.abs(got - want).max())
    if not diff <= tolerance:  # also refuses NaN
        raise HarnessError(f"{path}: the exported graph's logits differ from torch's by up to {diff:.3g} "
                           f"(tolerance {tolerance:.3g}, on {CHECK_BATCH} random images); not written")
    _write(path, data)
    return OnnxReport(path, opset, diff, tolerance, CHECK_BATCH, time.perf_counter() - start, exporter)


def _onnx_runtime() -> Any:
    """The onnxruntime module, once onnx, onnxruntime and onnxscript (the dynamo exporter's
    translation library) are known to be there; else one line on what to install (an extra)."""
    try:
        import onnx  # noqa: F401
        import onnxruntime
        import onnxscript  # noqa: F401
    except ImportError as err:
        raise HarnessError(f"ONNX export needs onnx, onnxruntime and onnxscript: pip install 'harness[onnx]' "
                           f"({err})") from None
    return onnxruntime


def _export(net: nn.Module, example: torch.Tensor, opset: int, exporter: str) -> onnx.ModelProto:
    """`net` traced on `example` as an ONNX graph at `opset`, batch dimension free."""
    import onnx

    with _silenced():
        if exporter == "dynamo":
            program = torch.onnx.export(net, (example,), dynamo=True, opset_version=opset, input_names=[INPUT],
                                        output_names=[OUTPUT], dynamic_shapes={INPUT: {0: torch.export.Dim("batch")}},
                                        external_data=False, verbose=False)
            return program.model_proto
        buffer = io.BytesIO()
        torch.onnx.export(net, (example,), buffer, dynamo=False, opset_version=opset, input_names=[INPUT],
                          output_names=[OUTPUT], dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}})
        return onnx.load_from_string(buffer.getvalue())


@contextlib.contextmanager
def _silenced() -> Iterator[None]:
    """Keep the exporters' progress lines, warnings and graph dumps from the terminal: the caller
    reports in one line. Python's streams are swapped, and file descriptors 1 and 2 pointed at
    os.devnull, since the TorchScript exporter dumps the whole graph from C++ when an op fails
    (its logging switch is always on: torch reads the function `_jit_is_onnx_log_enabled`, not its value)."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        saved = [os.dup(1), os.dup(2)]
    except OSError:  # no such descriptors (a detached process): Python's streams are all there is
        saved = []
    null = os.open(os.devnull, os.O_WRONLY)
    for fd in range(1, 1 + len(saved)):
        os.dup2(null, fd)
    chatter = io.StringIO()
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
            warnings.simplefilter("ignore")
            yield
    finally:
        for fd, copy in enumerate(saved, start=1):
            os.dup2(copy, fd)
            os.close(copy)
        os.close(null)


def _reason(err: BaseException) -> str:
    """The first line of the innermost cause, at most REASON_CHARS: the dynamo exporter wraps the
    real reason (no ONNX function for an op, a branch torch.export cannot trace) in a paragraph
    about its steps, and the TorchScript one appends the offending value's whole definition."""
    while err.__cause__ is not None:
        err = err.__cause__
    text = _ANSI.sub("", str(err)).strip()
    line = re.split(r"\s*\[Caused by ", text.splitlines()[0])[0] if text else type(err).__name__
    return line if len(line) <= REASON_CHARS else line[: REASON_CHARS - 3] + "..."


def _add_metadata(proto: onnx.ModelProto, trained: TrainedModel) -> None:
    """What a user of the file needs besides the graph, as metadata_props (strings; lists as JSON)."""
    from importlib import metadata

    info = trained.info
    try:
        version = metadata.version("harness")
    except metadata.PackageNotFoundError:  # a source tree that is not installed
        version = "unknown"
    props = {
        "input": f"{INPUT}: float32 (N, {info.in_channels}, {info.input_size[0]}, {info.input_size[1]}) pixels in "
                 f"[0, 1] ({'grey' if info.in_channels == 1 else 'RGB'}); normalised inside the graph",
        "output": f"{OUTPUT}: float32 (N, {info.num_classes}), in the order of classes",
        "classes": json.dumps(list(info.classes)),
        "in_channels": str(info.in_channels),
        "input_size": json.dumps(list(info.input_size)),
        "mean": json.dumps(list(info.mean)),
        "std": json.dumps(list(info.std)),
        "spec_id": trained.spec.spec_id,
        "dataset": info.dataset,
        "origin": info.origin,
        "epoch": str(info.epoch),
        "harness_version": version,
    }
    kept = [(p.key, p.value) for p in proto.metadata_props if p.key not in props]
    del proto.metadata_props[:]
    for key, value in [*kept, *props.items()]:
        proto.metadata_props.add(key=key, value=value)


def _write(path: Path, data: bytes) -> None:
    """`data` at `path` through a temporary file beside it, renamed over it: never half a file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(path, data)
    except OSError as err:
        raise HarnessError(f"{path}: cannot write ({err.strerror or err})") from None
