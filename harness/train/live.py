"""Progress while a network trains: `LiveProgress` wraps each epoch's batches and shows where the
run is: epoch k/E, batch b/B, images per second, the last validation accuracy and the time left.

On a terminal it is one line, redrawn in place at most 10 times a second and cleared when the run
ends (the caller's own line per trial then takes its place). Elsewhere (CI, a log file, a
notebook's stderr) it is a plain line at most every PLAIN_EVERY_S, so a log shows a long trial
moving and a short one adds nothing. `LiveProgress.off()` shows nothing (--quiet).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

T = TypeVar("T")

REDRAW_S = 0.1  # a terminal line is redrawn at most this often (s)
PLAIN_EVERY_S = 30.0  # elsewhere, a plain line at most this often (s)


def is_terminal(stream: TextIO) -> bool:
    """Whether `stream` is a terminal that can redraw a line (not a pipe, file or dumb terminal)."""
    try:
        return stream.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):  # a closed or foreign stream
        return False


class LiveProgress:
    """The progress of one training run, labelled `label` ("trial 7"), of `epochs` epochs or
    `seconds` of training time (whichever the budget is; None for the other), from epoch
    `first_epoch` on (a resumed run: the time left is of the epochs this run trains)."""

    def __init__(self, label: str, epochs: int | None = None, seconds: float | None = None, *,
                 stream: TextIO | None = None, enabled: bool = True, terminal: bool | None = None,
                 plain_every: float = PLAIN_EVERY_S, first_epoch: int = 1) -> None:
        self.label, self.epochs, self.seconds, self.first_epoch = label, epochs, seconds, first_epoch
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.terminal = is_terminal(self.stream) if terminal is None else terminal
        self.plain_every = plain_every
        self.accuracy: float | None = None  # the last validation accuracy
        self.images = 0  # images trained on so far in this run
        self.started = time.monotonic()
        self.drawn_at = -1e9  # when the line was last written (time.monotonic())
        self.plain_at = self.started  # the first plain line comes after plain_every
        self.shown = False  # a terminal line is on screen

    @classmethod
    def off(cls) -> LiveProgress:
        """A progress that shows nothing."""
        return cls("", enabled=False)

    def batches(self, batches: Iterable[T], epoch: int) -> Iterator[T]:
        """`batches` (one epoch's), updating the line as each is taken."""
        if not self.enabled:
            yield from batches
            return
        try:
            total = len(batches)  # type: ignore[arg-type]
        except TypeError:
            total = None
        for i, batch in enumerate(batches, 1):
            yield batch
            size = getattr(batch[1], "shape", (0,))[0] if isinstance(batch, tuple | list) and len(batch) > 1 else 0
            self.images += int(size)
            self._show(epoch, i, total)

    def epoch_done(self, accuracy: float) -> None:
        """Record epoch's validation accuracy (shown from now on)."""
        self.accuracy = accuracy

    def close(self) -> None:
        """Clear the terminal line (nothing elsewhere)."""
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False

    def __enter__(self) -> LiveProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def line(self, epoch: int, batch: int, total: int | None) -> str:
        """The progress as words: `label  epoch 2/10  batch 40/156  1,234 img/s  acc 81.2%  ETA 1m05s`."""
        elapsed = time.monotonic() - self.started
        of_epochs = f"/{self.epochs}" if self.epochs else ""
        of_batches = f"/{total}" if total else ""
        parts = [self.label, f"epoch {epoch}{of_epochs}", f"batch {batch}{of_batches}"]
        if elapsed > 0:
            parts.append(f"{self.images / elapsed:,.0f} img/s")
        parts.append(f"acc {self.accuracy:.1%}" if self.accuracy is not None else "acc -")
        left = self._left(epoch, batch, total, elapsed)
        if left is not None:
            parts.append(f"ETA {_clock(left)}")
        return "  ".join(p for p in parts if p)

    def _left(self, epoch: int, batch: int, total: int | None, elapsed: float) -> float | None:
        """Seconds left at the pace so far (its evaluations included), or None when unknown yet."""
        if self.seconds is not None:
            return max(0.0, self.seconds - elapsed)
        if not self.epochs or not total:
            return None
        done = (epoch - self.first_epoch + batch / total) / max(1, self.epochs - self.first_epoch + 1)
        return elapsed * (1 - done) / done if done > 0 else None

    def _show(self, epoch: int, batch: int, total: int | None) -> None:
        now = time.monotonic()
        if self.terminal:
            if now - self.drawn_at < REDRAW_S and batch != total:
                return
            width = shutil.get_terminal_size((100, 24)).columns
            self.stream.write("\r" + self.line(epoch, batch, total)[: max(10, width - 1)] + "\x1b[K")
            self.stream.flush()
            self.drawn_at, self.shown = now, True
        elif now - self.plain_at >= self.plain_every:
            self.stream.write(self.line(epoch, batch, total) + "\n")
            self.stream.flush()
            self.plain_at = now


def _clock(seconds: float) -> str:
    """12s, 3m05s, 1h02m."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"
