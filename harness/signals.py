"""Stopping cleanly: `StopOnSignal` turns Ctrl-C and kill into a KeyboardInterrupt that stays
requested, so a run stops between epochs or trials and leaves its folder whole."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any


class StopOnSignal:
    """While active, Ctrl-C (SIGINT) and kill (SIGTERM) raise KeyboardInterrupt and stay requested.

    Python swallows an exception raised while a finalizer runs (and prints it as "Exception
    ignored in ..."), so a Ctrl-C that lands during garbage collection would be lost; `check()`,
    called between epochs and trials, raises it again, and the swallowed one is not printed.
    """

    def __init__(self) -> None:
        self.requested = False
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
        raise KeyboardInterrupt

    def check(self) -> None:
        """Raise KeyboardInterrupt if a stop was asked for."""
        if self.requested:
            raise KeyboardInterrupt

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        if self._previous:
            sys.unraisablehook = self._unraisable_hook
