"""Feature-map geometry the spec's validation needs: ceil-mode pools, stages without padding, and
the limits of reflect and circular padding (plain functions of sizes and integers, no spec types)."""

from __future__ import annotations

from harness.errors import SpecError


def valid_stage_size(i: int, kernel_size: int, dilation: int, depth: int, first_stride: int,
                     size: tuple[int, int], where: str) -> tuple[int, int]:
    """Map size after plain stage `i` without padding ("valid"): each of its `depth` kxk convs takes
    dilation x (k - 1) off each side's length, the first at `first_stride` (the stage's stride
    when it downsamples by conv, else 1); SpecError when a block would get nothing."""
    h, w = size
    lost = dilation * (kernel_size - 1)
    for j in range(depth):
        s = first_stride if j == 0 else 1
        if h <= lost or w <= lost:
            raise SpecError(f"stage {i}: without padding ('valid') its {kernel_size}x{kernel_size} convs "
                            f"(dilation {dilation}) take {lost} px off each side's length, and block {j + 1} "
                            f"gets a {h}x{w} map {where}; pad the stage, or use smaller kernels or fewer blocks")
        h, w = (h - lost - 1) // s + 1, (w - lost - 1) // s + 1
    return h, w


def check_wrap_padding(i: int, mode: str, pad: int, size: tuple[int, int], where: str) -> None:
    """Reflect padding of `pad` px needs a map longer than `pad` on each side, circular one at least
    as long (torch's limits); SpecError naming stage `i` when the map of `size` is not."""
    h, w = size
    too_small = min(h, w) <= pad if mode == "reflect" else min(h, w) < pad
    if pad and too_small:
        need = f"longer than {pad} px" if mode == "reflect" else f"at least {pad} px"
        raise SpecError(f"stage {i}: {mode} padding of {pad} px needs a feature map {need} on each side, and "
                        f"this stage's is {h}x{w} {where}; use replicate or zeros padding, a smaller kernel or "
                        "dilation, or fewer downsampling stages")


def ceil_pool_size(size: tuple[int, int], kernel: int, stride: int) -> tuple[int, int]:
    """Map size after an unpadded ceil-mode pool: ceil((n - k) / s) + 1, less one when the last
    window would start past the input (PyTorch's rule); 0 when nothing is left."""

    def one(n: int) -> int:
        if n < 1:
            return 0
        out = -(-(n - kernel) // stride) + 1
        if (out - 1) * stride >= n:
            out -= 1
        return max(out, 0)

    return one(size[0]), one(size[1])
