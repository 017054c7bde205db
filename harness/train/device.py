"""Where and how a run computes: the device, the precision, determinism, and what a CUDA error means.

- `resolve_device("auto" | "cpu" | "cuda[:N]")` -> torch.device (auto: CUDA when there is one).
- `resolve_precision("auto" | "fp32" | "bf16", device)` -> "fp32" or "bf16": auto is bf16 autocast on
  CUDA and on CPUs whose oneDNN runs bf16 natively (AMX or AVX512-BF16: `cpu_has_native_bf16`),
  fp32 elsewhere (on AVX2-only CPUs bf16 is emulated and slower than fp32).
- `set_deterministic()`: cuDNN's deterministic kernels, no autotuning, deterministic cuBLAS.
- `classify_error(err)` -> "oom" | "sticky" | None: out-of-memory in all its CUDA spellings
  (torch.OutOfMemoryError, cuDNN's and cuBLAS's ALLOC_FAILED, which arrive as RuntimeError), and
  the errors after which the CUDA context is unusable (device-side assert, illegal memory access):
  every later trial of the process would fail too, so the worker must stop, not record them.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import torch

from harness.errors import HarnessError

PRECISIONS = ("auto", "fp32", "bf16")

# Substrings of RuntimeError messages (CUDA's, cuDNN's and cuBLAS's own words).
_OOM_MARKS = ("CUDNN_STATUS_ALLOC_FAILED", "CUBLAS_STATUS_ALLOC_FAILED", "CUDA out of memory",
              "cudaErrorMemoryAllocation")
_STICKY_MARKS = ("device-side assert", "illegal memory access", "unspecified launch failure",
                 "misaligned address", "illegal instruction", "cudaErrorLaunchFailure",
                 "uncorrectable ECC error", "CUDA error: unknown error")


def configure_cuda_allocator() -> None:
    """Expandable segments for CUDA's caching allocator, unless the user configured it: a study's
    hundreds of differently shaped trials otherwise fragment its fixed-size blocks until a trial
    that fits in total runs out of memory. Takes effect when CUDA first allocates."""
    os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")


def resolve_device(device: str = "auto") -> torch.device:
    """'auto' -> CUDA when available, else CPU; 'cpu' and 'cuda[:N]' as given (a CUDA device that
    is not there is an error, never a silent fall-back to the CPU)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise HarnessError(f"device {device!r} was asked for, but torch sees no CUDA device here "
                               f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')})")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise HarnessError(f"device {device!r}: torch sees {torch.cuda.device_count()} CUDA device(s)")
    return dev


@lru_cache(maxsize=1)
def cpu_has_native_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU has bf16 arithmetic in hardware (the amx_bf16 or avx512_bf16 flag), where
    oneDNN's bf16 convolutions beat fp32; False where the flags cannot be read."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return False
    return cpu_flags_have_bf16(text)


def cpu_flags_have_bf16(cpuinfo_text: str) -> bool:
    """Whether /proc/cpuinfo text lists amx_bf16 or avx512_bf16 among a CPU's flags."""
    for line in cpuinfo_text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[-1].split())
            return bool(flags & {"amx_bf16", "avx512_bf16"})
    return False


def resolve_precision(precision: str, device: torch.device) -> str:
    """The precision a run trains in: "fp32" or "bf16" (autocast). auto: bf16 on CUDA and on CPUs
    with native bf16, else fp32."""
    if precision not in PRECISIONS:
        raise HarnessError(f"unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16"
    return "bf16" if device.type == "cpu" and cpu_has_native_bf16() else "fp32"


def autocast(device: torch.device, precision: str) -> torch.autocast:
    """The autocast context of a training step: bf16 when `precision` is "bf16", else disabled."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


def set_deterministic() -> None:
    """Deterministic kernels from here on (slower on CUDA): no cuDNN autotuning, cuDNN's and
    cuBLAS's deterministic algorithms; an operation without one raises instead of varying."""
    # cuBLAS reads this when its handle is created: before the first CUDA matmul.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.use_deterministic_algorithms(True, warn_only=True)


def classify_error(err: BaseException) -> str | None:
    """ "oom" for out of memory (any CUDA spelling), "sticky" for an error after which the CUDA
    context of this process is broken, None for anything else."""
    if isinstance(err, torch.OutOfMemoryError):
        return "oom"
    if not isinstance(err, RuntimeError):
        return None
    text = str(err)
    if any(mark in text for mark in _OOM_MARKS):
        return "oom"
    if any(mark in text for mark in _STICKY_MARKS):
        return "sticky"
    return None


class DeviceBrokenError(HarnessError):
    """The device failed in a way that breaks every later run of this process (a sticky CUDA
    error): the worker stops; the trial it was running is not counted and runs again on resume."""


def worker_threads(cores: int, workers: int) -> int:
    """CPU threads for each of `workers` processes on a machine with `cores`: an equal share, at
    least 1 (k workers each using every core would spend their time contending)."""
    return max(1, cores // max(1, workers))
