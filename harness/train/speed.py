"""Measured cost of a network on the trial's device: inference latency at batch 1, throughput at a
large batch, and the peak memory of one training step; `Speed` holds them, `measure_speed` takes them.

FLOPs are a poor proxy for speed (depthwise and grouped convolutions have few FLOPs and run slowly),
so, as timm's benchmark and pycls do, the network is run: in eval mode, under the trial's precision,
after a warm-up, each call synchronised on CUDA, and the median of the repeats kept (robust to a
stray slow call). The memory is one training step (forward, backward, optimizer step) at the
trial's batch on a copy of the network, so the trial's own weights, optimizer and random state
are untouched: on CUDA the peak of torch's allocator (max_memory_allocated) above what was held
before; on the CPU the growth of the process's resident set (RSS, sampled every 0.2 ms from
/proc/self/statm) above a baseline taken after freed memory was handed back to the system
(malloc_trim), so memory a previous trial left cached is not counted as free.

Each part is capped in time (SPEED_BUDGET_S), so measuring costs a fraction of a second a trial.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import os
import statistics
import threading
import time
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from harness.train.device import autocast, resolve_precision

# Seconds each timed part may take at most (latency, then throughput); at least MIN_REPEATS calls.
SPEED_BUDGET_S = 0.08
MIN_REPEATS = 3
MAX_REPEATS = 50
WARMUP_CALLS = 2
# The throughput batch: large enough to fill the device (a CPU's cores saturate near 64 images of
# a small network; a GPU needs hundreds).
THROUGHPUT_BATCH = {"cpu": 64, "cuda": 256}
_SAMPLE_S = 0.0002  # RSS sampling interval on the CPU


@dataclass(frozen=True)
class Speed:
    """What running a network costs on one device: latency (ms, batch 1, median), throughput
    (images/s at `throughput_batch`), peak training memory (bytes, one step at `train_batch`:
    weights, gradients, optimizer state, activations) and how it was measured."""

    latency_ms: float
    throughput: float
    throughput_batch: int
    memory: int  # bytes
    train_batch: int
    memory_kind: str  # "cuda max allocated" or "cpu rss growth"
    seconds: float  # what measuring took


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.inference_mode()
def _median_call_seconds(model: nn.Module, x: torch.Tensor, device: torch.device, precision: str,
                         budget: float) -> float:
    """The median seconds of one forward pass of `x`, after WARMUP_CALLS, repeated for `budget` s."""
    with autocast(device, precision):
        for _ in range(WARMUP_CALLS):
            model(x)
        _sync(device)
        times: list[float] = []
        spent_since = time.perf_counter()
        while len(times) < MIN_REPEATS or (len(times) < MAX_REPEATS and time.perf_counter() - spent_since < budget):
            start = time.perf_counter()
            model(x)
            _sync(device)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def _rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _trim_heap() -> None:
    """Hand freed heap memory back to the system (glibc), so the RSS baseline is what is in use."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class _PeakRSS:
    """A thread sampling the process's RSS until stopped; `peak` is the largest sample."""

    def __init__(self) -> None:
        self.peak = _rss_bytes() or 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_bytes() or 0)
            time.sleep(_SAMPLE_S)

    def __enter__(self) -> _PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes() or 0)


def _training_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                   device: torch.device, precision: str) -> None:
    with autocast(device, precision):
        logits = model(x)
    loss = F.cross_entropy(logits.float(), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    _sync(device)


def training_memory(model: nn.Module, input_shape: tuple[int, int, int], num_classes: int, batch: int,
                    device: torch.device, precision: str, make_optimizer) -> tuple[int, str]:
    """(peak bytes of one training step at `batch` on a copy of `model`, how it was measured)."""
    import gc

    gc.collect()
    x = torch.randn((batch, *input_shape), device=device)
    y = torch.randint(0, num_classes, (batch,), device=device)
    if device.type == "cuda":
        _sync(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        twin = copy.deepcopy(model).train()
        _training_step(twin, make_optimizer(twin), x, y, device, precision)
        peak = torch.cuda.max_memory_allocated(device) - before
        del twin
        return max(0, int(peak)), "cuda max allocated"
    _trim_heap()
    before = _rss_bytes()
    with _PeakRSS() as sampler:
        twin = copy.deepcopy(model).train()
        _training_step(twin, make_optimizer(twin), x, y, device, precision)
        del twin
    if before is None:
        return 0, "unmeasured (no /proc/self/statm)"
    return max(0, sampler.peak - before), "cpu rss growth"


def measure_speed(model: nn.Module, input_shape: tuple[int, int, int], num_classes: int, device: torch.device,
                  *, precision: str = "auto", train_batch: int = 128, make_optimizer=None,
                  throughput_batch: int | None = None, budget: float = SPEED_BUDGET_S) -> Speed:
    """The Speed of `model` (already on `device`) for (C, H, W) inputs: latency at batch 1,
    throughput at `throughput_batch` (THROUGHPUT_BATCH of the device type when None), and the peak
    memory of a training step at `train_batch` with the optimizer `make_optimizer(module)` builds
    (AdamW when None). The model's weights, mode and the global random state are left as they were."""
    start = time.perf_counter()
    precision = resolve_precision(precision, device)
    make_optimizer = make_optimizer or (lambda m: torch.optim.AdamW(m.parameters()))
    big = throughput_batch or THROUGHPUT_BATCH.get(device.type, 64)
    was_training = model.training
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(0)
        model.eval()
        try:
            one = _median_call_seconds(model, torch.randn((1, *input_shape), device=device), device, precision, budget)
            many = _median_call_seconds(model, torch.randn((big, *input_shape), device=device), device, precision,
                                        budget)
            memory, kind = training_memory(model, input_shape, num_classes, train_batch, device, precision,
                                           make_optimizer)
        finally:
            model.train(was_training)
    return Speed(latency_ms=one * 1e3, throughput=big / many, throughput_batch=big, memory=memory,
                 train_batch=train_batch, memory_kind=kind, seconds=time.perf_counter() - start)
