"""Stopping cleanly: `StopOnSignal` turns Ctrl-C and kill into a KeyboardInterrupt raised where it
is safe, so a run stops between batches, epochs or trials and leaves its folder and storage whole;
`interrupted_by` finds a KeyboardInterrupt that some library wrapped in another exception."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from harness.errors import chain

T = TypeVar("T")


class StopOnSignal:
    """While active, Ctrl-C (SIGINT) and kill (SIGTERM) ask the run to stop: `requested` is set and
    stays set, and the KeyboardInterrupt is raised at the next safe point, `check()`.

    Raised at once, a KeyboardInterrupt lands wherever the main thread happens to be: halfway
    through writing a storage record, or inside an import, where Python may wrap it in a
    RuntimeError ("Error calling __set_name__": a traceback) or leave the process to die of
    SIGINT after the command returned 130 (both seen when a kill met the first plot's import of
    matplotlib, in 3 of 62 kills at a random moment). So it waits, except:
    inside `interruptible()` (training and evaluating a model: computation that leaves nothing
    half-written; its callbacks that write go through `deferred`), with `immediate=True` (a
    server that only waits), and at a second signal (the user insists); never inside an import.

    Python swallows an exception raised while a finalizer runs (and prints it as "Exception
    ignored in ..."), so a stop raised during garbage collection would be lost; `check()` raises
    it again, and the swallowed one is not printed.
    """

    def __init__(self, immediate: bool = False) -> None:
        self.requested = False
        self.signals = 0  # received while active
        self._immediate = immediate
        self._previous: dict[int, Any] = {}
        self._unraisable_hook = sys.unraisablehook

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():  # signals only work there
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
            sys.unraisablehook = self._unraisable
        return self

    def _unraisable(self, unraisable: Any) -> None:
        if self.requested and issubclass(unraisable.exc_type, KeyboardInterrupt):
            return  # swallowed by a finalizer; check() raises it again
        self._unraisable_hook(unraisable)

    def _handle(self, signum: int, frame: object) -> None:
        self.requested = True
        self.signals += 1
        if (self._immediate or self.signals > 1) and not _importing(frame):
            raise KeyboardInterrupt

    def check(self) -> None:
        """Raise KeyboardInterrupt if a stop was asked for."""
        if self.requested:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def interruptible(self, immediate: bool = True) -> Iterator[None]:
        """A block where a stop is raised the moment it is asked for (a stop asked for before it
        is raised on entry); with `immediate=False`, one where it waits again (see `deferred`)."""
        previous, self._immediate = self._immediate, immediate
        try:
            if immediate:
                self.check()
            yield
        finally:
            self._immediate = previous
        if previous:  # back where a stop is raised at once: one that waited for this block, now
            self.check()

    def deferred(self, function: Callable[..., T]) -> Callable[..., T]:
        """`function`, run with a stop waiting until it returns: a callback that writes (a storage
        record, a file), called from inside an interruptible block."""

        def run(*args: Any, **kwargs: Any) -> T:
            with self.interruptible(immediate=False):
                return function(*args, **kwargs)

        return run

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        if self._previous:
            sys.unraisablehook = self._unraisable_hook
        # A stop asked for after this block's last safe point is not lost when an enclosing one
        # (a budgeted run's stages around a search) takes the signals back: it is passed on there.
        outer = {getattr(handler, "__self__", None) for handler in self._previous.values()}
        for enclosing in outer:
            if isinstance(enclosing, StopOnSignal) and self.requested and not enclosing.requested:
                enclosing.requested = True
                enclosing.signals += 1


def _importing(frame: Any) -> bool:
    """Whether `frame`, where a signal found the main thread, runs inside an import (a frame of
    importlib's bootstrap below it)."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def interrupted_by(err: BaseException) -> bool:
    """Whether `err` is a KeyboardInterrupt or was raised because of one (its cause or context,
    at any depth): a library that catches everything may wrap a stop in its own exception."""
    return any(isinstance(e, KeyboardInterrupt) for e in chain(err))
