"""The trainer's fast path, on the CPU: the first step timed apart as the warm-up, the overheads
of a trial recorded, torch.compile, and out-of-memory: freed, retried once at half the batch from
the same initial weights, recorded with its reason, and the next trial runs normally.

The out-of-memory step raises the real exception type (torch.OutOfMemoryError, what CUDA's
allocator raises) from a registered block, the way a user's own block would run out. The CUDA-only
parts of the fast path (bf16 autocast, channels_last, fused steps) run in test_cuda.py on a GPU.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch._dynamo.utils import counters

import harness
from harness.search.progress import overhead_line
from harness.search.search_config import SearchConfig
from harness.search.study import run_search
from harness.store.record.failure import describe_failure
from harness.train.evaluate import evaluate_spec
from harness.train.loop import Overheads, TrainConfig, train_model
from harness.zoo.blocks import BLOCKS, PlainBlock

TRAIN = TrainConfig(epochs=2, batch_size=64)  # 256 training images: 4 steps an epoch


class OOMProbeBlock(PlainBlock):
    """A plain block whose training forward runs out of memory, as CUDA's allocator reports it,
    on batches above `limit` images, from its `after`-th call on (counted per block)."""

    limit = 1
    after = 0

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.calls += 1
            if x.shape[0] > self.limit and self.calls > self.after:
                raise torch.OutOfMemoryError(
                    f"CUDA out of memory. Tried to allocate {x.numel() * 4 / 2**20:.2f} MiB (batch {x.shape[0]})")
        return super().forward(x)


@pytest.fixture
def oom_probe() -> Iterator[type[OOMProbeBlock]]:
    BLOCKS.register("oom_probe", OOMProbeBlock)
    yield OOMProbeBlock
    BLOCKS.unregister("oom_probe")
    OOMProbeBlock.limit, OOMProbeBlock.after = 1, 0


def _spec(block: str = "plain") -> harness.ArchSpec:
    return harness.ArchSpec(stem=harness.StemSpec(width=8), stages=(
        harness.StageSpec(block=block, width=8, stride=2), harness.StageSpec(block="plain", width=16, stride=2)))


def test_the_first_step_is_the_warm_up_and_not_training_time(tiny_data: harness.ImageData) -> None:
    overheads = Overheads()
    model = harness.build_model(_spec(), num_classes=10)
    result = train_model(model, tiny_data, TRAIN, overheads=overheads)
    assert result.batch_size == 64
    # 2 epochs of 4 steps; the first step is the warm-up, so 7 steps of 64 count as training.
    assert result.train_images == 7 * 64
    assert result.images_per_second == pytest.approx(7 * 64 / result.train_seconds)
    assert result.warmup_seconds > 0 and result.eval_seconds > 0
    assert (overheads.warmup, overheads.evaluate) == (result.warmup_seconds, result.eval_seconds)
    assert result.history[-1].seconds == pytest.approx(result.train_seconds)


def test_evaluate_spec_times_every_part_outside_training(tiny_data: harness.ImageData) -> None:
    ev = evaluate_spec(_spec(), tiny_data, TRAIN, device="cpu")
    row = ev.row()
    for name in ("build_seconds", "count_seconds", "warmup_seconds", "eval_seconds"):
        assert row[name] > 0, name
    assert row["batch_size"] == 64 and "note" not in row
    assert ev.overheads.warmup == ev.result.warmup_seconds


def test_out_of_memory_is_retried_at_half_the_batch_from_the_same_weights(
        tiny_data: harness.ImageData, oom_probe: type[OOMProbeBlock]) -> None:
    oom_probe.limit = 32
    ev = evaluate_spec(_spec("oom_probe"), tiny_data, TRAIN, device="cpu", seed=5)
    assert ev.result.batch_size == 32 and ev.row()["batch_size"] == 32
    assert ev.note is not None and "out of memory at batch 64" in ev.note and "trained at batch 32" in ev.note
    assert ev.result.train_images == (2 * 8 - 1) * 32  # 8 steps an epoch at 32
    # The retry is the run a batch of 32 would have been: the same initial weights and data order.
    plain = evaluate_spec(_spec("plain"), tiny_data, TrainConfig(epochs=2, batch_size=32), device="cpu", seed=5)
    assert ev.result.val_loss == plain.result.val_loss
    assert ev.result.train_loss == plain.result.train_loss


def test_out_of_memory_again_at_half_the_batch_raises_with_the_reason(
        tiny_data: harness.ImageData, oom_probe: type[OOMProbeBlock]) -> None:
    with pytest.raises(torch.OutOfMemoryError, match=r"retried at batch 32") as caught:
        evaluate_spec(_spec("oom_probe"), tiny_data, TRAIN, device="cpu")
    reason, trace = describe_failure(caught.value)
    assert reason.startswith("out of memory: CUDA out of memory. Tried to allocate") and trace is None


def test_out_of_memory_after_an_epoch_was_reported_is_not_retried(
        tiny_data: harness.ImageData, oom_probe: type[OOMProbeBlock]) -> None:
    oom_probe.after = 5  # the first epoch's 4 steps and its report go through; the 6th step fails
    seen: list[int] = []
    with pytest.raises(torch.OutOfMemoryError) as caught:
        evaluate_spec(_spec("oom_probe"), tiny_data, TRAIN, device="cpu", on_epoch=lambda m: seen.append(m.epoch))
    assert seen == [1]  # a retry would report epoch 1 again, which a pruner has already judged
    assert "retried" not in str(caught.value)


SPACE = {
    "stem": {"width": 8},
    "stages": {"count": 2, "width": {"each": [8, 16]}, "stride": 2, "block": {"choices": ["oom_probe", "plain"]}},
    "train": {"epochs": 1, "batch_size": 64},
}


@pytest.mark.parametrize("limit", [32, 1])
def test_a_search_records_out_of_memory_and_goes_on(
        tmp_path: Path, tiny_data: harness.ImageData, oom_probe: type[OOMProbeBlock], limit: int) -> None:
    oom_probe.limit = limit
    space = harness.space_from_dict(SPACE, default_name="oom")
    lines: list[str] = []
    frame = run_search(space, SearchConfig(trials=2, sampler="grid", results_dir=str(tmp_path), pruner="none"),
                       data=tiny_data, progress=lines.append, argv=["test"])
    probe = frame[frame["block"] == "oom_probe"].iloc[0]
    plain = frame[frame["block"] == "plain"].iloc[0]
    assert plain["state"] == "COMPLETE" and plain["batch_size"] == 64 and pd.isna(plain["note"])
    if limit == 32:  # retried at half the batch: a complete trial, and the table says so
        assert probe["state"] == "COMPLETE" and probe["batch_size"] == 32
        assert "trained at batch 32" in probe["note"]
        assert any("[out of memory at batch 64" in line for line in lines)
    else:  # out of memory at half the batch too: failed with the reason, the study went on
        assert probe["state"] == "FAIL"
        assert probe["failure_reason"].startswith("out of memory: CUDA out of memory")
        assert "retried at batch 32" in probe["failure_reason"]
        assert probe["warmup_seconds"] == 0 and probe["count_seconds"] > 0
    written = pd.read_csv(tmp_path / "oom" / "trials.csv")
    assert list(written["state"]) == list(frame["state"])


def test_overhead_line_sums_the_parts_of_trained_trials() -> None:
    frame = pd.DataFrame({
        "train_seconds": [2.0, 4.0, 9.0], "reused_from": [None, None, 0],
        "build_seconds": [0.1, 0.3, None], "count_seconds": [0.2, 0.2, None],
        "warmup_seconds": [0.5, 0.7, None], "eval_seconds": [0.2, 0.4, None]})
    line = overhead_line(frame, [0.05, 0.15])
    assert line == ("time per trained trial (mean of 2): training 3.00 s, outside training 1.40 s "
                    "(build 0.20, count 0.20, warm-up 0.60, evaluation 0.30, writing 0.10)")
    assert overhead_line(frame.iloc[2:]) is None  # only a reused trial: nothing trained here
    assert overhead_line(frame.drop(columns="warmup_seconds")) is None  # a table from before


def test_compile_trains_the_same_network_through_torch_compile(
        tmp_path: Path, tiny_data: harness.ImageData) -> None:
    space = harness.space_from_dict({**SPACE, "stages": {**SPACE["stages"], "block": "plain"}}, default_name="c")
    counters.clear()
    # Pinned to the CPU: on a GPU machine "auto" would train in bf16 there, another experiment.
    frame = run_search(space, SearchConfig(trials=1, device="cpu", results_dir=str(tmp_path), pruner="none",
                                           compile=True),
                       data=tiny_data, progress=None, argv=["test"])
    # One graph: the training step's. Evaluation runs the same weights eagerly (no recompiles).
    assert counters["stats"]["unique_graphs"] == 1
    row = frame.iloc[0]
    assert row["state"] == "COMPLETE" and row["warmup_seconds"] > 0
    spec, train = space.build({})
    eager = evaluate_spec(spec, tiny_data, train, device="cpu", seed=int(row["seed"]))
    assert row["train_loss"] == pytest.approx(eager.result.train_loss, rel=1e-3)
    assert row["val_loss"] == pytest.approx(eager.result.val_loss, rel=1e-3)
