"""Local workers: one search command -> N worker processes on one study (optionally pinned to GPUs).

Each worker is the same `harness search` command, run as its own process against the shared
storage (a journal file or PostgreSQL: SQLite takes one process). The storage URL reaches the
workers through the environment ($HARNESS_STORAGE), never their command lines, so a password does
not show in the process list. Their output is forwarded line by line, prefixed with the worker's
number. Ctrl-C or a kill of this process stops every worker; their finished trials are in the storage.

GPUs: `--gpus 0,1` indexes the GPUs this process may use: the entries of an inherited
CUDA_VISIBLE_DEVICES (a scheduler's "2,3", or GPU-/MIG- UUIDs), else the devices torch sees. Each
worker gets its one entry as CUDA_VISIBLE_DEVICES and trains with --device cuda, so a GPU that is
not there is an error, never a silent CPU run. Several workers may share one GPU: each learns how
many share it ($HARNESS_WORKERS_PER_GPU) and takes that share of the default data-memory budget.
They take turns on the GPU unless CUDA MPS runs (docs/performance.md). CPU threads are split:
each worker gets cores / workers threads (OMP_NUM_THREADS, unless it is set already).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence

from harness.data.loader import ENV_WORKERS_PER_GPU
from harness.errors import SettingError
from harness.store.storage import ENV_STORAGE
from harness.train.device import worker_threads

# Options of the starting command that workers must not see (the storage comes by environment).
_PARENT_ONLY = ("--workers", "--gpus", "--storage")


def parse_gpus(text: str | None) -> list[int]:
    """"0,1,1" -> [0, 1, 1]: indexes of the visible GPUs, in the order workers take them (round robin)."""
    if not text:
        return []
    gpus = [g.strip() for g in text.split(",") if g.strip()]
    bad = [g for g in gpus if not g.isdigit()]
    if bad:
        raise SettingError(f"{{gpus}} {text}: GPU numbers separated by commas, like 0,1 (not {', '.join(bad)})", "gpus")
    return [int(g) for g in gpus]


def visible_gpus(environ: dict[str, str] | None = None, count: Callable[[], int] | None = None) -> list[str]:
    """The GPUs this process may give to workers, as CUDA_VISIBLE_DEVICES entries: the inherited
    variable's entries when it is set (indexes, GPU-... or MIG-... UUIDs), else "0".."n-1" for the
    n devices torch sees (`count`, default torch.cuda.device_count)."""
    environ = os.environ if environ is None else environ
    inherited = environ.get("CUDA_VISIBLE_DEVICES")
    if inherited is not None:
        return [g.strip() for g in inherited.split(",") if g.strip()]
    if count is None:
        import torch

        count = torch.cuda.device_count
    return [str(i) for i in range(count())]


def assign_gpus(gpus: Sequence[int], workers: int, visible: Sequence[str]) -> list[str]:
    """Worker i's CUDA_VISIBLE_DEVICES: the visible GPU that --gpus names for it (round robin);
    an index past the visible GPUs is an error that lists them."""
    missing = sorted({g for g in gpus if g >= len(visible)})
    if missing:
        seen = ", ".join(f"{i} = {v}" for i, v in enumerate(visible)) or "none"
        raise SettingError(f"{{gpus}} {','.join(map(str, gpus))}: no GPU {', '.join(map(str, missing))} here; "
                           f"the GPUs this process may use: {seen}", "gpus")
    return [visible[gpus[i % len(gpus)]] for i in range(workers)]


def worker_env(index: int, workers: int, storage_url: str, assigned: Sequence[str],
               environ: dict[str, str] | None = None, cores: int | None = None) -> dict[str, str]:
    """The environment of worker `index` (0-based) of `workers`: the storage, its GPU (when
    assigned), how many workers share that GPU, and its share of the CPU threads."""
    env = dict(os.environ if environ is None else environ)
    env.update({ENV_STORAGE: storage_url, "PYTHONUNBUFFERED": "1"})
    if assigned:
        env["CUDA_VISIBLE_DEVICES"] = assigned[index]
        env[ENV_WORKERS_PER_GPU] = str(sum(g == assigned[index] for g in assigned))
    else:  # all on the default GPU, if they use one
        env[ENV_WORKERS_PER_GPU] = str(workers)
    if "OMP_NUM_THREADS" not in env:
        env["OMP_NUM_THREADS"] = str(worker_threads(cores or os.cpu_count() or 1, workers))
    return env


def with_device(argv: Sequence[str], device: str) -> list[str]:
    """`argv` with --device `device` in place of the one given (or added when none is)."""
    out = worker_argv_without(argv, ("--device",))
    return [*out, "--device", device]


def worker_argv(argv: Sequence[str]) -> list[str]:
    """The search command's arguments without the options only the starting process reads."""
    return worker_argv_without(argv, _PARENT_ONLY)


def worker_argv_without(argv: Sequence[str], options: Sequence[str]) -> list[str]:
    """`argv` without `options` and their values (as "--opt VALUE" or "--opt=VALUE")."""
    out: list[str] = []
    skip = False
    for word in argv:
        if skip:
            skip = False
            continue
        if word in options:
            skip = True
            continue
        if any(word.startswith(option + "=") for option in options):
            continue
        out.append(word)
    return out


def run_workers(argv: Sequence[str], workers: int, storage_url: str, gpus: Sequence[int] = (),
                say: Callable[[str], None] = print) -> int:
    """Run `harness <argv>` (a search command) as `workers` processes on the study in `storage_url`
    (with `gpus`, indexes of the visible GPUs, round robin); return 0 when every worker finished,
    else the first failing worker's exit status (130 if interrupted)."""
    assigned = assign_gpus(gpus, workers, visible_gpus()) if gpus else []
    args = worker_argv(argv)  # argv starts with "search"
    if assigned:
        args = with_device(args, "cuda")  # a worker that sees no GPU must say so, not train on the CPU
    base = [sys.executable, "-m", "harness", *args]
    procs: list[subprocess.Popen[str]] = []
    threads: list[threading.Thread] = []
    lock = threading.Lock()

    def forward(index: int, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with lock:
                say(f"[w{index}] {line.rstrip()}")

    for i in range(workers):
        env = worker_env(i, workers, storage_url, assigned)
        proc = subprocess.Popen([*base, "--worker-index", str(i + 1), "--no-report"], env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        procs.append(proc)
        thread = threading.Thread(target=forward, args=(i + 1, proc), daemon=True)
        thread.start()
        threads.append(thread)
    try:
        codes = [proc.wait() for proc in procs]
    except KeyboardInterrupt:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # each stops after saving what it finished
        for proc in procs:
            proc.wait()
        raise
    finally:
        for thread in threads:
            thread.join(timeout=5)
    failed = [c for c in codes if c != 0]
    return failed[0] if failed else 0
