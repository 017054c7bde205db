"""Progress while a network trains (harness.train.live): on a terminal one line redrawn in place
and cleared at the end; elsewhere a plain line at most every PLAIN_EVERY_S; nothing with --quiet.
The search's line is checked on a real pseudo-terminal."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import torch
import yaml

from harness.train.live import LiveProgress, _clock

BATCHES = [(torch.zeros(25, 1), torch.zeros(25, dtype=torch.long)) for _ in range(4)]


def test_a_terminal_gets_one_line_redrawn_in_place_and_cleared() -> None:
    out = io.StringIO()
    live = LiveProgress("trial 3", epochs=2, stream=out, terminal=True)
    with live:
        assert list(live.batches(BATCHES, 1)) == BATCHES  # the batches pass through unchanged
        live.epoch_done(0.5)
        list(live.batches(BATCHES, 2))
    text = out.getvalue()
    assert "\n" not in text  # never a new line: redrawn with a carriage return
    frames = [f for f in text.split("\r") if f]
    assert frames[-1] == "\x1b[K"  # cleared at the end
    first, last = frames[0], frames[-2]
    assert first.startswith("trial 3  epoch 1/2  batch ") and "acc -" in first and "img/s" in first
    assert last.startswith("trial 3  epoch 2/2  batch 4/4") and "acc 50.0%" in last and "ETA 0s" in last
    # Redrawn at most every 0.1 s (and at each epoch's last batch): 8 quick batches, few frames.
    assert len(frames) <= 5


def test_elsewhere_plain_lines_at_most_every_interval() -> None:
    out = io.StringIO()
    live = LiveProgress("resnet18 seed 2", seconds=60.0, stream=out, terminal=False, plain_every=0.0)
    with live:
        list(live.batches(BATCHES, 1))
    lines = out.getvalue().splitlines()
    assert len(lines) == 4 and "\r" not in out.getvalue()
    assert lines[0].startswith("resnet18 seed 2  epoch 1  batch 1/4") and "ETA 1m0" in lines[0]
    quiet_log = io.StringIO()
    with LiveProgress("trial 0", epochs=1, stream=quiet_log, terminal=False) as live:  # every 30 s: a short run
        list(live.batches(BATCHES, 1))
    assert quiet_log.getvalue() == ""


def test_off_shows_nothing_and_clock_words() -> None:
    out = io.StringIO()
    live = LiveProgress("x", epochs=1, stream=out, terminal=True, enabled=False)
    assert list(live.batches(BATCHES, 1)) == BATCHES and out.getvalue() == ""
    assert LiveProgress.off().enabled is False
    assert [_clock(s) for s in (4.2, 65, 3725)] == ["4s", "1m05s", "1h02m"]


def test_a_resumed_run_counts_the_time_left_from_its_first_epoch() -> None:
    live = LiveProgress("training", epochs=10, first_epoch=9, stream=io.StringIO(), terminal=False)
    live.started -= 10.0  # 10 s into this run, half of epoch 9 done: a quarter of epochs 9-10
    assert abs(live._left(9, 2, 4, 10.0) - 30.0) < 1e-9


def _on_a_terminal(args: list[str], cwd: Path) -> str:
    """What `harness ARGS` writes to a pseudo-terminal (stdout and stderr both), as bytes decoded."""
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "200", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "harness", *args], stdout=slave, stderr=slave, cwd=cwd, env=env)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        elif proc.poll() is not None:
            break
    proc.wait(timeout=300)
    os.close(master)
    assert proc.returncode == 0, b"".join(chunks).decode(errors="replace")[-2000:]
    return b"".join(chunks).decode(errors="replace")


def test_a_search_on_a_terminal_shows_each_trial_moving_and_quiet_does_not(tmp_path: Path) -> None:
    space = tmp_path / "tiny.yaml"
    space.write_text(yaml.safe_dump({"stem": {"width": 8}, "stages": {"count": 1, "width": 8, "kernel_size": [3, 5]},
                                     "train": {"epochs": 3, "batch_size": 50}}))
    common = ["search", str(space), "--trials", "2", "--device", "cpu", "--train-images", "500", "--no-report"]
    shown = _on_a_terminal([*common, "--results", str(tmp_path / "a")], tmp_path)
    frames = [f for line in shown.splitlines() for f in line.split("\r")]
    assert any(f.startswith("trial 0  epoch 1/3  batch ") for f in frames), shown[-1500:]
    assert any(f.startswith("trial 1  epoch 3/3  batch 10/10") and "acc " in f and "ETA" in f for f in frames)
    assert "\x1b[K" in shown and "[  2/2] trial" in shown  # cleared, then the trial's own line
    quiet = _on_a_terminal([*common, "--results", str(tmp_path / "b"), "--quiet"], tmp_path)
    assert "epoch 1/3" not in quiet and "[  2/2] trial" in quiet
