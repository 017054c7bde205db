"""Measurements: parameter count, fvcore FLOPs (one multiply-add = one FLOP, per image) and the
analytic receptive field, each checked against an independent computation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from harness import (
    ArchSpec,
    StageSpec,
    StemSpec,
    build_model,
    count_flops,
    count_params,
    measure_model,
    receptive_field,
)
from harness.zoo.blocks import BLOCKS, AttentionBlock
from harness.zoo.layers import NORMS

SIZE = (16, 16)


def small(block: str = "plain", norm: str = "batch", activation: str = "relu") -> ArchSpec:
    return ArchSpec(
        stem=StemSpec(width=4, kernel_size=3),
        stages=(
            # Max-pool downsampling: every family accepts it (inception, dense and convnext cannot stride).
            # The token families read no kernel or dilation: theirs stay at the defaults.
            StageSpec(block=block, depth=2, width=4, stride=2, downsample="maxpool",
                      **({} if BLOCKS.get(block).tokens else {"kernel_size": 5, "dilation": 2})),
            StageSpec(block=block, depth=1, width=8, kernel_size=3, stride=2, downsample="maxpool"),
        ),
        norm=norm,
        activation=activation,
    )


# ------------------------------------------------------------------ parameters
@pytest.mark.parametrize("norm", NORMS.names())
@pytest.mark.parametrize("block", BLOCKS.names())
def test_count_params_is_sum_of_numel(block: str, norm: str) -> None:
    model = build_model(small(block, norm), num_classes=7, input_size=SIZE)
    assert count_params(model) == sum(p.numel() for p in model.parameters())


def _expected_params(spec: ArchSpec, in_channels: int, num_classes: int) -> int:
    """By hand, for plain and residual blocks with an affine norm (weight + bias per channel)."""

    def conv_norm(cin: int, cout: int, k: int) -> int:
        return k * k * cin * cout + 2 * cout

    total = conv_norm(in_channels, spec.stem.width, spec.stem.kernel_size)
    width = spec.stem.width
    for stage in spec.stages:
        for i in range(stage.depth):
            k, stride = stage.kernel_size, (stage.stride if i == 0 and stage.downsample == "conv" else 1)
            if stage.block == "plain":
                total += conv_norm(width, stage.width, k)
            else:
                total += conv_norm(width, stage.width, k) + conv_norm(stage.width, stage.width, k)
                if width != stage.width or stride != 1:
                    total += conv_norm(width, stage.width, 1)
            width = stage.width
    return total + width * num_classes + num_classes


@pytest.mark.parametrize("norm", ["batch", "group", "layer"])
@pytest.mark.parametrize("block", ["plain", "residual"])
def test_count_params_matches_hand_count(block: str, norm: str) -> None:
    spec = small(block, norm)
    model = build_model(spec, in_channels=3, num_classes=7)
    assert count_params(model) == _expected_params(spec, 3, 7)
    assert measure_model(model, spec, (3, *SIZE)).params == count_params(model)


# ------------------------------------------------------------------ FLOPs
@pytest.mark.parametrize(
    ("k", "stride", "dilation", "cin", "cout", "h", "w"),
    [
        (1, 1, 1, 3, 5, 8, 8),
        (3, 1, 1, 3, 5, 9, 11),
        (3, 2, 1, 4, 2, 9, 11),
        (5, 2, 2, 2, 6, 12, 7),
        (7, 3, 1, 3, 3, 16, 15),
        (5, 1, 3, 1, 4, 10, 10),
    ],
)
def test_conv_flops_are_multiply_adds(k: int, stride: int, dilation: int, cin: int, cout: int, h: int,
                                      w: int) -> None:
    pad = dilation * (k - 1) // 2
    conv = nn.Conv2d(cin, cout, k, stride=stride, padding=pad, dilation=dilation, bias=False)
    h_out = (h + 2 * pad - dilation * (k - 1) - 1) // stride + 1
    w_out = (w + 2 * pad - dilation * (k - 1) - 1) // stride + 1
    assert tuple(conv(torch.zeros(1, cin, h, w)).shape[-2:]) == (h_out, w_out)
    flops, uncounted = count_flops(conv, (cin, h, w))
    assert flops == k * k * cin * cout * h_out * w_out
    assert uncounted == {}


def _conv_linear_macs(model: nn.Module, input_shape: tuple[int, int, int]) -> tuple[int, int]:
    """(multiply-adds of every conv, linear and attention layer, elements output by every other leaf
    module) for one image, from the shapes seen in a forward pass."""
    macs, other = 0, 0

    def hook(module: nn.Module, args: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal macs, other
        if isinstance(module, AttentionBlock):  # q, k, v projections and attention run as functions
            tokens, width = args[0].shape[-2:]
            macs += 3 * tokens * width * width + 2 * tokens * tokens * width  # q, k, v; Q K^T, A V
        elif isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            macs += kh * kw * module.in_channels // module.groups * out.numel()
        elif isinstance(module, nn.Linear):
            macs += module.in_features * out.numel()
        else:
            other += args[0].numel()

    leaves = [m for m in model.modules() if not list(m.children()) or isinstance(m, AttentionBlock)]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *input_shape))
    finally:
        for handle in handles:
            handle.remove()
    return macs, other


@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("block", BLOCKS.names())
def test_measure_reports_flops_per_image_and_uncounted_ops(block: str, activation: str) -> None:
    spec = small(block, "batch", activation)
    model = build_model(spec, num_classes=7, input_size=SIZE).train()
    costs = measure_model(model, spec, (3, *SIZE))
    assert model.training and all(m.training for m in model.modules())  # mode restored

    macs, other = _conv_linear_macs(model, (3, *SIZE))
    # Convolutions and the classifier are counted exactly; norms and pooling cost at most a few
    # operations per element; and it is per image, not per batch.
    assert 0 < macs <= costs.flops <= macs + 2 * other
    assert costs.params == count_params(model)
    assert costs.receptive_field == receptive_field(spec, SIZE)

    assert isinstance(costs.uncounted_ops, dict)
    assert all(isinstance(k, str) and isinstance(v, int) and v > 0 for k, v in costs.uncounted_ops.items())
    gelus = sum(isinstance(m, nn.GELU) for m in model.modules())
    gelu_calls = sum(v for k, v in costs.uncounted_ops.items() if "gelu" in k)
    assert gelu_calls == gelus  # fvcore has no formula for GELU: every call is listed
    for name, calls in costs.uncounted_ops.items():
        assert name in costs.uncounted and str(calls) in costs.uncounted


def test_count_flops_keeps_eval_mode_and_does_not_depend_on_training_mode() -> None:
    spec = small("residual")
    model = build_model(spec)
    train_flops = count_flops(model.train(), (3, *SIZE))
    assert model.training
    eval_flops = count_flops(model.eval(), (3, *SIZE))
    assert not model.training
    assert train_flops == eval_flops


def test_flops_grow_with_kernel_size() -> None:
    def flops(k: int) -> int:
        spec = ArchSpec(stem=StemSpec(width=4), stages=(StageSpec(width=4, kernel_size=k),))
        return count_flops(build_model(spec), (3, *SIZE))[0]

    # Only the stage conv changes: its cost is k*k*C*C*H*W.
    assert flops(5) - flops(3) == (5 * 5 - 3 * 3) * 4 * 4 * SIZE[0] * SIZE[1]


# ------------------------------------------------------------------ receptive field
RF_SPECS = {
    "plain-one-stage": ArchSpec(stem=StemSpec(width=2), stages=(StageSpec(width=2),)),
    "plain-mixed-kernels-strides": ArchSpec(
        stem=StemSpec(width=2, kernel_size=3),
        stages=(StageSpec(width=2, kernel_size=3, stride=2), StageSpec(width=3, kernel_size=5, stride=2),
                StageSpec(width=3, kernel_size=7)),
    ),
    "plain-dilation-2-depth-2": ArchSpec(
        stem=StemSpec(width=2, kernel_size=5),
        stages=(StageSpec(width=2, depth=2, kernel_size=3, dilation=2),
                StageSpec(width=3, kernel_size=5, stride=2, dilation=2)),
    ),
    "residual-depth-2-strided": ArchSpec(
        stem=StemSpec(width=2),
        stages=(StageSpec(block="residual", width=2, depth=2, kernel_size=3, stride=2),
                StageSpec(block="residual", width=3, kernel_size=5, stride=1, dilation=2)),
    ),
    "stem-stride-2": ArchSpec(
        stem=StemSpec(width=2, kernel_size=7, stride=2),
        stages=(StageSpec(width=2, kernel_size=3, stride=2), StageSpec(width=2, kernel_size=3)),
    ),
    "maxpool-plain": ArchSpec(
        stem=StemSpec(width=2),
        stages=(StageSpec(width=2, kernel_size=3, stride=2, downsample="maxpool"),
                StageSpec(width=3, kernel_size=5, stride=2, downsample="maxpool")),
    ),
    "maxpool-residual-mixed": ArchSpec(
        stem=StemSpec(width=2, kernel_size=5),
        stages=(StageSpec(block="residual", width=2, depth=2, kernel_size=3, stride=2, dilation=2,
                          downsample="maxpool"),
                StageSpec(block="plain", width=3, kernel_size=3, stride=3, downsample="maxpool")),
    ),
}


def _positive_model(spec: ArchSpec) -> nn.Module:
    """The network with positive conv weights and zero biases, in float64 and eval mode, with
    batch norm (default running statistics: a positive scale) as the only norm. Every path from
    an input pixel to an output is then a product of positive factors: nothing cancels."""
    spec = ArchSpec(stem=spec.stem, stages=spec.stages, head=spec.head, norm="batch", activation="relu")
    torch.manual_seed(0)
    model = build_model(spec, in_channels=1).double().eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.uniform_(0.5, 1.5).div_(m.weight[0].numel())
                if m.bias is not None:
                    m.bias.zero_()
    return model


def _input_size(spec: ArchSpec) -> int:
    # Room for the field on both sides of the centre output pixel, odd so there is a centre.
    return 2 * receptive_field(spec) + 7


def _extent(mask: torch.Tensor, size: int) -> int:
    """max - min + 1 of the indices where mask is true; the field must not touch the border."""
    idx = mask.nonzero().flatten()
    assert len(idx) > 0
    lo, hi = int(idx.min()), int(idx.max())
    assert lo > 0 and hi < size - 1, f"field {lo}..{hi} touches the border of a {size}-pixel input"
    return hi - lo + 1


def _centre(feature_map: torch.Tensor) -> tuple[int, int]:
    return feature_map.shape[-2] // 2, feature_map.shape[-1] // 2


@pytest.mark.parametrize("name", [n for n, s in RF_SPECS.items()
                                  if all(st.downsample == "conv" or st.stride == 1 for st in s.stages)])
def test_receptive_field_equals_gradient_extent(name: str) -> None:
    # (Max-pooling passes the gradient to one element per window, so those specs use the impulse test.)
    spec = RF_SPECS[name]
    model, size = _positive_model(spec), _input_size(spec)
    x = torch.ones(1, 1, size, size, dtype=torch.float64, requires_grad=True)
    out = model.features(x)
    i, j = _centre(out)
    out[0, :, i, j].sum().backward()
    touched = x.grad[0, 0] != 0
    rf = receptive_field(spec)
    assert _extent(touched.any(1), size) == rf
    assert _extent(touched.any(0), size) == rf


@pytest.mark.parametrize("name", list(RF_SPECS))
def test_receptive_field_equals_impulse_extent(name: str) -> None:
    """Light one input row (or column) at a time on a black image: the centre output pixel is
    non-zero exactly when that row (column) is in its field, max-pooling included."""
    spec = RF_SPECS[name]
    model, size = _positive_model(spec), _input_size(spec)
    lines = torch.arange(size)
    rows = torch.zeros(size, 1, size, size, dtype=torch.float64)
    rows[lines, 0, lines, :] = 1
    cols = rows.transpose(2, 3)
    with torch.no_grad():
        out = model.features(torch.cat([rows, cols]))
    i, j = _centre(out)
    lit = out[:, :, i, j].sum(1) > 0
    rf = receptive_field(spec)
    assert _extent(lit[:size], size) == rf
    assert _extent(lit[size:], size) == rf
    assert costs_rf(spec) == rf


def costs_rf(spec: ArchSpec) -> int:
    model = build_model(spec)
    return measure_model(model, spec, (3, 16, 16)).receptive_field


def test_receptive_field_grows_with_kernel_and_dilation() -> None:
    def rf(k: int, d: int) -> int:
        return receptive_field(ArchSpec(stem=StemSpec(kernel_size=3),
                                        stages=(StageSpec(kernel_size=k, dilation=d),)))

    assert rf(3, 1) < rf(5, 1) < rf(7, 1)
    assert rf(3, 2) == rf(5, 1)  # a dilated 3x3 spans what a 5x5 does
    assert rf(9, 1) - rf(3, 1) == 9 - 3
