"""The one epoch loop's hooks: `train_model` with EpochHooks (start from a restored state, stop after
an epoch, every epoch validated under a time budget), and final training through them (early
stopping with patience, a finished checkpoint resumed trains nothing and gives the same result)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import harness
from harness.final.train import FinalConfig, train_final
from harness.train.hooks import EpochHooks, TrainState
from harness.train.loop import train_model
from harness.train.results import EpochMetrics
from harness.train.train_config import TrainConfig

SPEC = harness.ArchSpec(stem=harness.StemSpec(width=8), stages=(harness.StageSpec(block="plain", width=8, stride=2),))


@pytest.fixture(scope="module")
def data(tiny_data: harness.ImageData) -> harness.ImageData:
    """The shared tiny draw (tests/conftest.py) under the name these tests use."""
    return tiny_data


def _model(data: harness.ImageData) -> torch.nn.Module:
    torch.manual_seed(0)
    return harness.build_model(SPEC, num_classes=data.num_classes, input_size=data.input_shape[1:])


class Recorder(EpochHooks):
    """Records what the hooks see; starts at `start_epoch` and stops after `stop_after`."""

    def __init__(self, start_epoch: int = 0, stop_after: int | None = None) -> None:
        self.start_epoch, self.stop_after = start_epoch, stop_after
        self.seen: list[tuple[int, bool, int]] = []  # (epoch, finished, len(history))

    def on_start(self, state: TrainState) -> None:
        state.epoch = self.start_epoch

    def on_epoch_end(self, metrics: EpochMetrics, state: TrainState) -> bool:
        assert state.history[-1] is metrics and state.epoch == metrics.epoch
        self.seen.append((metrics.epoch, state.finished, len(state.history)))
        return metrics.epoch == self.stop_after


def test_hooks_see_every_epoch_and_the_last_is_marked_finished(data: harness.ImageData) -> None:
    hooks = Recorder()
    result = train_model(_model(data), data, TrainConfig(epochs=3, batch_size=64), hooks=hooks)
    assert hooks.seen == [(1, False, 1), (2, False, 2), (3, True, 3)]
    assert [m.epoch for m in result.history] == [1, 2, 3]


def test_a_hook_stops_training_after_an_epoch(data: harness.ImageData) -> None:
    hooks = Recorder(stop_after=2)
    result = train_model(_model(data), data, TrainConfig(epochs=5, batch_size=64), hooks=hooks)
    assert [m.epoch for m in result.history] == [1, 2] and hooks.seen[-1] == (2, False, 2)


def test_on_start_sets_the_epoch_training_goes_on_from(data: harness.ImageData) -> None:
    hooks = Recorder(start_epoch=2)
    result = train_model(_model(data), data, TrainConfig(epochs=4, batch_size=64), hooks=hooks)
    assert [m.epoch for m in result.history] == [3, 4] and hooks.seen[-1] == (4, True, 2)


def test_every_epoch_is_validated_under_a_time_budget_when_asked(data: harness.ImageData) -> None:
    hooks = Recorder()
    config = TrainConfig(batch_size=64, seconds=0.5)
    result = train_model(_model(data), data, config, hooks=hooks, evaluate_every_epoch=True)
    epochs = [m.epoch for m in result.history]
    assert epochs == list(range(1, len(epochs) + 1)) and hooks.seen[-1][1]  # none skipped; the last ends it


def test_final_training_stops_early_after_patience_epochs_and_resuming_it_trains_nothing(
        tmp_path: Path, data: harness.ImageData) -> None:
    # A constant learning rate far too high for SGD: validation stops improving within a few epochs.
    config = TrainConfig(epochs=12, batch_size=64, optimizer="sgd", lr=2.0, schedule="constant")
    final = FinalConfig(device="cpu", seed=1, patience=2, live=False)
    lines: list[str] = []
    first = train_final(SPEC, data, config, tmp_path, final, progress=lines.append)
    values = [row["val_accuracy"] for row in first.metrics["history"]]
    assert first.epochs < 12 and lines[-1] == "early stop: no better validation accuracy for 2 epochs"
    assert first.best_epoch == first.epochs - 2 == values.index(max(values)) + 1
    assert all(v <= values[first.best_epoch - 1] for v in values[first.best_epoch:])
    state = torch.load(tmp_path / "checkpoint" / "state.pt", weights_only=True)
    assert state["finished"] and state["epoch"] == first.epochs and state["best_epoch"] == first.best_epoch
    assert sorted(p.name for p in (tmp_path / "checkpoint").iterdir()) == [
        f"best-{first.best_epoch}.safetensors", f"epoch-{first.epochs}.safetensors", "state.pt"]

    lines.clear()
    again = train_final(SPEC, data, config, tmp_path, final, progress=lines.append)
    assert lines == [f"resuming from the checkpoint of epoch {first.epochs} in {tmp_path / 'checkpoint'}"]
    assert again.resumed_from == first.epochs and again.best_epoch == first.best_epoch
    assert again.metrics["history"] == first.metrics["history"] and again.metrics["val"] == first.metrics["val"]
