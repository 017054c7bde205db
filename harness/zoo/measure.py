"""Measurements of a model before training: parameter count, FLOPs (fvcore), receptive field.

Each is one function that returns plain numbers. FLOPs follow fvcore's convention, the one
torchvision publishes: one multiply-add counts as ONE FLOP, per image (batch of 1) in eval mode.
Operators fvcore has no formula for (element-wise activations, additions, ...) are not counted;
`count_flops` returns their names and call counts so a table can say what was left out. Attention
is counted by its matrix products (fvcore has no formula for it): Q K^T and the weighted sum of V,
B x heads x L_q x L_k x d multiply-adds each; its softmax is listed as uncounted
("aten::softmax", one call per attention).
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

with warnings.catch_warnings():
    # fvcore's import touches torch.jit.script, which newer torch marks deprecated; harmless.
    warnings.simplefilter("ignore", FutureWarning)
    from fvcore.nn import FlopCountAnalysis

from harness.zoo.model import block_map_sizes, block_settings, plan_blocks
from harness.zoo.parts import downsample_path, head_path, stem_path
from harness.zoo.spec import ArchSpec


@dataclass(frozen=True)
class Costs:
    """What a model costs, known before any training step: counted (params, FLOPs, receptive
    field) and, once run on the device, measured (latency, throughput, training memory)."""

    params: int
    flops: int  # multiply-adds per image, fvcore convention
    receptive_field: int  # pixels, theoretical, along one side
    uncounted_ops: dict[str, int] = field(default_factory=dict)  # operator -> calls
    # Measured on the trial's device (harness.train.speed), after counting; None until then.
    latency_ms: float | None = None  # batch 1, eval mode, median (ms)
    throughput: float | None = None  # images/s at a large batch
    memory: int | None = None  # peak bytes of one training step at the trial's batch

    @property
    def uncounted(self) -> str:
        """Uncounted operators as 'name(calls), ...' for a table cell."""
        return ", ".join(f"{k}({v})" for k, v in sorted(self.uncounted_ops.items()))


def count_params(model: nn.Module) -> int:
    """Number of parameters (trainable or not): sum of p.numel()."""
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, input_shape: tuple[int, int, int]) -> tuple[int, dict[str, int]]:
    """(FLOPs per image, {uncounted operator: calls}) for one (C, H, W) input, traced in eval mode."""
    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    was_training = model.training
    model.eval()
    try:
        x = torch.zeros((1, *input_shape), device=device)
        attentions: list[int] = []
        fast_path = torch.backends.mha.get_fastpath_enabled()
        # Without its fused fast path, nn.MultiheadAttention traces as linears (counted) and one
        # scaled_dot_product_attention (counted below); the numbers are the same either way.
        torch.backends.mha.set_fastpath_enabled(False)
        with torch.no_grad(), warnings.catch_warnings():
            # fvcore traces with torch.jit, which newer torch marks deprecated; harmless here.
            warnings.simplefilter("ignore")
            analysis = FlopCountAnalysis(model, x)
            analysis.set_op_handle("aten::scaled_dot_product_attention",
                                   lambda inputs, outputs: _attention_flops(inputs, attentions))
            analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            analysis.tracer_warnings("none")
            total = int(analysis.total())
            unsupported: Counter[str] = analysis.unsupported_ops()
    finally:
        torch.backends.mha.set_fastpath_enabled(fast_path)
        model.train(was_training)
    if attentions:
        unsupported["aten::softmax"] += len(attentions)
    return total, dict(unsupported)


def _attention_flops(inputs: list[Any], calls: list[int]) -> int:
    """Multiply-adds of scaled_dot_product_attention(q, k, v): (..., L_q, d) x (..., L_k, d)^T, then
    (..., L_q, L_k) x (..., L_k, d_v); `calls` gets one entry per call (for the softmax count)."""
    from fvcore.nn.jit_handles import get_shape

    q, k, v = (get_shape(value) for value in inputs[:3])
    batch = 1
    for n in q[:-2]:
        batch *= n
    flops = batch * q[-2] * k[-2] * (q[-1] + v[-1])
    calls.append(flops)
    return flops


def receptive_field(spec: ArchSpec, input_size: tuple[int, int] | None = None) -> int:
    """Theoretical receptive field (pixels, one side) of one output position of the last stage
    (through the head's pre-pool, when it has one). A token block (attention, mlp) sees its whole
    map, which only the input size (height, width) tells; without it such a spec raises SpecError.

    Walks the longest path: each layer of kernel k, stride s, dilation d grows the field by
    d * (k - 1) * jump and multiplies the jump (the input distance between adjacent positions)
    by s.
    """
    layers = list(stem_path(spec.stem))
    started: set[int] = set()
    maps = block_map_sizes(spec, input_size)
    for block in plan_blocks(spec):
        stage = spec.stages[block.stage - 1]
        if block.stage not in started:  # the downsampling layer sits in front of the first block
            started.add(block.stage)
            layers.extend(downsample_path(stage))
        settings = block_settings(stage, None, None, map_size=maps[block.stage - 1])
        layers.extend(block.family.receptive_path(settings, block.stride))
    layers.extend(head_path(spec.head))
    field_px, jump = 1, 1
    for k, s, d in layers:
        field_px += d * (k - 1) * jump
        jump *= s
    return field_px


def measure_model(model: nn.Module, spec: ArchSpec, input_shape: tuple[int, int, int]) -> Costs:
    """All pre-training costs of `model` (built from `spec`) for (C, H, W) inputs."""
    flops, uncounted = count_flops(model, input_shape)
    return Costs(
        params=count_params(model),
        flops=flops,
        receptive_field=receptive_field(spec, input_shape[1:]),
        uncounted_ops=uncounted,
    )


def profile_spec(spec: ArchSpec, input_shape: tuple[int, int, int] = (3, 224, 224),
                 num_classes: int = 1000) -> dict[str, Any]:
    """Everything known about `spec` before training, at (C, H, W) inputs, as a JSON-ready dict:
    params, flops (multiply-adds per image, fvcore), the operators fvcore could not count,
    receptive field (px), the feature-map size after stem and each stage, each stage's width,
    and the spec's label and id. Raises SpecError when the spec cannot work at that size."""
    from harness.zoo.model import build_model, stage_widths

    c, h, w = input_shape
    model = build_model(spec, in_channels=c, num_classes=num_classes, input_size=(h, w))
    costs = measure_model(model, spec, input_shape)
    return {
        "label": spec.label,
        "spec_id": spec.spec_id,
        "input_shape": list(input_shape),
        "num_classes": num_classes,
        "params": costs.params,
        "flops": costs.flops,
        "uncounted_ops": costs.uncounted_ops,
        "receptive_field": costs.receptive_field,
        "feature_sizes": [list(s) for s in spec.feature_sizes((h, w))],
        "stage_widths": stage_widths(spec, c),
    }
