"""Ctrl-C and kill, sent to this process for real (signal.raise_signal, os.kill): `StopOnSignal`
raises the stop only where it is safe (check(), interruptible blocks, a second signal), a callback
that writes finishes before the stop, and a stop wrapped by a library is still known as one.
A search stopped while it writes its results folder leaves that write whole."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pandas as pd
import pytest

from harness.signals import StopOnSignal, interrupted_by
from tests.support.faults import ended_trials, space_file

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_a_stop_waits_for_the_next_check(sig: signal.Signals) -> None:
    steps = []
    with StopOnSignal() as stop:
        signal.raise_signal(sig)  # the handler runs here, before the next line
        steps.append("went on")  # what was being done is finished
        assert stop.requested
        with pytest.raises(KeyboardInterrupt):
            stop.check()
        with pytest.raises(KeyboardInterrupt):  # and it stays asked for
            stop.check()
    assert steps == ["went on"]


def test_an_interruptible_block_stops_at_once_and_a_second_signal_anywhere() -> None:
    with StopOnSignal() as stop, pytest.raises(KeyboardInterrupt), stop.interruptible():
        signal.raise_signal(signal.SIGTERM)
        pytest.fail("not stopped at once")
    with StopOnSignal() as stop:
        signal.raise_signal(signal.SIGINT)
        with pytest.raises(KeyboardInterrupt):  # the user insists
            signal.raise_signal(signal.SIGINT)
        with pytest.raises(KeyboardInterrupt), stop.interruptible():  # asked for before: raised on entering
            pytest.fail("entered")
    with StopOnSignal(immediate=True), pytest.raises(KeyboardInterrupt):  # a server that only waits
        signal.raise_signal(signal.SIGTERM)
        pytest.fail("not stopped at once")


def test_a_deferred_callback_finishes_and_the_stop_comes_right_after_it() -> None:
    written: list[int] = []
    with StopOnSignal() as stop:

        @stop.deferred
        def write(n: int) -> int:
            signal.raise_signal(signal.SIGTERM)  # in the middle of a write
            written.append(n)
            return n

        with pytest.raises(KeyboardInterrupt), stop.interruptible():
            write(1)  # finishes; back in the interruptible block, the stop is raised
            written.append(2)
    assert written == [1]


def test_a_stop_never_lands_inside_an_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Python wraps a KeyboardInterrupt raised in a class body in a RuntimeError and leaves the
    module half made: the import finishes, and the stop comes at the next check."""
    (tmp_path / "signalled_module.py").write_text(
        "import signal\nsignal.raise_signal(signal.SIGTERM)\nclass Made:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with StopOnSignal() as stop, stop.interruptible():
        try:
            import signalled_module
        except KeyboardInterrupt:
            pytest.fail("the stop landed inside the import")
        assert signalled_module.Made and stop.requested
        with pytest.raises(KeyboardInterrupt):
            stop.check()


def test_the_previous_handlers_are_back_after_the_block() -> None:
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with StopOnSignal():
        assert signal.getsignal(signal.SIGTERM) != before[1]
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_a_stop_after_an_inner_blocks_last_check_reaches_the_enclosing_one() -> None:
    """A budgeted run's stages each stop on signals of their own inside the run's: a kill that lands
    after a stage's last safe point stops the run at its next one, not lost with the stage's handler."""
    with StopOnSignal() as outer:
        with StopOnSignal() as inner:
            inner.check()  # the stage's last safe point
            signal.raise_signal(signal.SIGTERM)  # then the kill, while the stage winds up
        assert outer.requested
        with pytest.raises(KeyboardInterrupt):
            outer.check()
    with StopOnSignal() as outer:  # a stage that ended without a stop leaves the run's alone
        with StopOnSignal():
            pass
        assert not outer.requested


def test_a_stop_that_a_library_wrapped_is_still_a_stop() -> None:
    class Descriptor:
        def __set_name__(self, owner: type, name: str) -> None:
            raise KeyboardInterrupt  # a Ctrl-C that lands in a class body, as in an import

    try:
        type("Wrapped", (), {"attr": Descriptor()})
    except BaseException as err:  # noqa: BLE001 - Python 3.11 wraps it in a RuntimeError
        caught = err
    assert interrupted_by(caught)
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as err:
            raise ValueError("a library's own error") from err
    except ValueError as err:
        assert interrupted_by(err)
    assert not interrupted_by(ValueError("nothing to do with a stop"))


def test_a_search_stopped_while_it_writes_a_trial_leaves_that_trials_files_whole(tmp_path: Path) -> None:
    """SIGTERM arrives as the second trial's line is printed, before its row is written to
    trials.csv: the row is written all the same, then the search stops (KeyboardInterrupt)."""
    from harness import load_space
    from harness.data import DataOptions
    from harness.search.search_config import SearchConfig
    from harness.search.study import run_search

    config = SearchConfig(trials=4, device="cpu", results_dir=str(tmp_path), report=False,
                          data_options=DataOptions(train_images=256))
    said: list[str] = []

    def progress(line: str) -> None:
        said.append(line)
        if " trial " in line and sum(" trial " in x for x in said) == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(KeyboardInterrupt):
        run_search(load_space(str(space_file(tmp_path))), config, progress=progress)
    folder = tmp_path / "tiny"
    frame = pd.read_csv(folder / "trials.csv")
    assert frame["state"].tolist() == ["COMPLETE", "COMPLETE"]  # the second trial's row too
    assert sorted(ended_trials(folder / "study.db", "tiny")) == [0, 1]  # no third trial started
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
