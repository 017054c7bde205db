"""Local workers: one search command -> N worker processes on one study (optionally pinned to GPUs).

Each worker is the same `harness search` command, run as its own process against the shared
storage (a journal file or PostgreSQL: SQLite takes one process). The storage URL reaches the
workers through the environment ($HARNESS_STORAGE), never their command lines, so a password does
not show in the process list. A worker's GPU is pinned with CUDA_VISIBLE_DEVICES; several workers
may share one GPU. Their output is forwarded line by line, prefixed with the worker's number.
Ctrl-C or a kill of this process stops every worker; their finished trials are in the storage.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence

from harness.errors import HarnessError
from harness.store.storage import ENV_STORAGE

# Options of the starting command that workers must not see (the storage comes by environment).
_PARENT_ONLY = ("--workers", "--gpus", "--storage")


def parse_gpus(text: str | None) -> list[str]:
    """"0,1,1" -> ["0", "1", "1"]: the devices, in the order workers take them (round robin)."""
    if not text:
        return []
    gpus = [g.strip() for g in text.split(",") if g.strip()]
    bad = [g for g in gpus if not g.isdigit()]
    if bad:
        raise HarnessError(f"--gpus {text}: GPU numbers separated by commas, like 0,1 (not {', '.join(bad)})")
    return gpus


def worker_argv(argv: Sequence[str]) -> list[str]:
    """The search command's arguments without the options only the starting process reads."""
    out: list[str] = []
    skip = False
    for word in argv:
        if skip:
            skip = False
            continue
        if word in _PARENT_ONLY:
            skip = True
            continue
        if any(word.startswith(option + "=") for option in _PARENT_ONLY):
            continue
        out.append(word)
    return out


def run_workers(argv: Sequence[str], workers: int, storage_url: str, gpus: Sequence[str] = (),
                say: Callable[[str], None] = print) -> int:
    """Run `harness <argv>` (a search command) as `workers` processes on the study in `storage_url`; return 0
    when every worker finished, else the first failing worker's exit status (130 if interrupted)."""
    base = [sys.executable, "-m", "harness", *worker_argv(argv)]  # argv starts with "search"
    procs: list[subprocess.Popen[str]] = []
    threads: list[threading.Thread] = []
    lock = threading.Lock()

    def forward(index: int, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with lock:
                say(f"[w{index}] {line.rstrip()}")

    for i in range(workers):
        env = {**os.environ, ENV_STORAGE: storage_url, "PYTHONUNBUFFERED": "1"}
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = gpus[i % len(gpus)]
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
