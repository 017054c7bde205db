"""The CUDA path, where a GPU is present (skipped elsewhere; CI has none): every block family
trains a step under bf16 autocast and channels_last, a short training run learns, the loader gives
the same batches resident and streamed (one persistent loader, eval splits on the device), a search
with a tiny memory budget streams its data, a search defaults to bf16 and counts FLOPs on the CPU,
a real out-of-memory is freed, and a device-side assert ends a search with one line.
bench/gpu_check.sh runs this file first on a GPU machine."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from harness import ArchSpec, StageSpec, StemSpec, build_model
from harness.data import Augment, load_dataset
from harness.data.loader import TrainBatches, place_dataset
from harness.train.evaluate import evaluate_spec
from harness.train.loop import TrainConfig
from harness.zoo.blocks import BLOCKS

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CUDA = torch.device("cuda")


@pytest.mark.parametrize("block", BLOCKS.names())
def test_every_family_trains_a_step_in_bf16_channels_last(block: str) -> None:
    spec = ArchSpec(stem=StemSpec(width=16), stages=(
        StageSpec(block=block, depth=2, width=16, stride=2, downsample="maxpool"),
        StageSpec(block=block, depth=1, width=32, stride=2, downsample="maxpool",
                  se=0 if BLOCKS.get(block).tokens else 4)),
        norm="batch", activation="gelu")
    model = build_model(spec, num_classes=10, input_size=(32, 32)).to(CUDA).to(memory_format=torch.channels_last)
    x = torch.randn(8, 3, 32, 32, device=CUDA).contiguous(memory_format=torch.channels_last)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        logits = model(x)
    assert logits.shape == (8, 10) and torch.isfinite(logits.float()).all()
    F.cross_entropy(logits.float(), torch.arange(8, device=CUDA) % 10).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_a_short_run_on_cuda_learns_the_default_dataset() -> None:
    data = load_dataset("default")
    spec = ArchSpec(stem=StemSpec(width=32), stages=(
        StageSpec(block="residual", width=32, stride=2, downsample="maxpool"),
        StageSpec(block="residual", width=64, stride=2, downsample="maxpool")))
    ev = evaluate_spec(spec, data.to(CUDA), TrainConfig(epochs=3), device=CUDA, seed=0, precision="bf16")
    assert ev.result.val_accuracy > 0.5  # chance is 0.1
    assert len(ev.result.history) == 3


def test_resident_and_streamed_batches_are_identical_on_cuda() -> None:
    data = dataclasses.replace(load_dataset("default"), augment=Augment(4, True))
    resident = TrainBatches(data.to(CUDA), CUDA, 256, data.augment, seed=7)
    streamed = TrainBatches(data.to("cpu"), CUDA, 256, data.augment, seed=7, workers=2)
    assert resident.resident and not streamed.resident
    for (xa, ya), (xb, yb) in zip(resident, streamed, strict=True):
        assert xb.device.type == "cuda"
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_placement_streams_when_the_budget_is_too_small() -> None:
    data = load_dataset("default")
    placed, placement = place_dataset(data, CUDA)
    assert placement.resident and placed.train_x.is_cuda
    kept, tight = place_dataset(data, CUDA, memory_budget=1024)
    assert not tight.resident and not kept.train_x.is_cuda and "streamed" in tight.describe()


def test_search_with_streamed_data_on_cuda(tmp_path: Path) -> None:
    import pandas as pd

    from harness.search.search_config import SearchConfig
    from harness.search.space import load_space
    from harness.search.study import run_search

    space = load_space(Path(__file__).resolve().parents[1] / "search_spaces" / "kernel_size.yaml")
    config = SearchConfig(trials=2, epochs=1, device="cuda", results_dir=str(tmp_path), data_memory=1024.0)
    frame = run_search(space, config, progress=None)
    assert len(frame) == 2 and set(frame["state"]) == {"COMPLETE"}
    assert pd.read_csv(tmp_path / "kernel_size" / "trials.csv")["accuracy"].notna().all()


def test_compile_on_cuda_trains_like_eager() -> None:
    data = load_dataset("default").to(CUDA)
    spec = ArchSpec(stem=StemSpec(width=16), stages=(
        StageSpec(block="residual", width=32, stride=2, downsample="maxpool"),))
    eager = evaluate_spec(spec, data, TrainConfig(epochs=1), device=CUDA, seed=0, precision="bf16")
    compiled = evaluate_spec(spec, data, TrainConfig(epochs=1), device=CUDA, seed=0, compile=True, precision="bf16")
    assert compiled.result.train_loss == pytest.approx(eager.result.train_loss, rel=0.05)  # bf16 differs a little
    assert compiled.result.train_images == eager.result.train_images


def test_a_real_out_of_memory_is_freed_and_the_next_run_trains() -> None:
    data = load_dataset("default").to(CUDA)
    wide = ArchSpec(stem=StemSpec(width=256), stages=(StageSpec(block="plain", depth=4, width=256, stride=1),))
    index = torch.cuda.current_device()  # set_per_process_memory_fraction needs the index, not "cuda"
    total = torch.cuda.get_device_properties(index).total_memory
    # cuBLAS keeps a workspace from its first call on, never freed: clear it before both readings,
    # so the check does not depend on which test ran a matmul first.
    torch._C._cuda_clearCublasWorkspaces()
    torch.cuda.empty_cache()
    before = torch.cuda.memory_allocated(index)
    torch.cuda.set_per_process_memory_fraction(min(1.0, 512 * 2**20 / total), index)  # 512 MiB
    try:
        # 4096 images x 256 channels x 32 x 32 in bf16 are 2 GiB a layer: out of memory, at 2048 too.
        with pytest.raises(torch.OutOfMemoryError, match="retried at batch 2048"):
            evaluate_spec(wide, data, TrainConfig(epochs=1, batch_size=4096), device=CUDA, precision="bf16")
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0, index)
    torch._C._cuda_clearCublasWorkspaces()
    torch.cuda.empty_cache()
    assert torch.cuda.memory_allocated(index) <= before + 2**20  # what the trial held was freed
    small = ArchSpec(stem=StemSpec(width=16), stages=(StageSpec(block="plain", width=16, stride=2),))
    assert evaluate_spec(small, data, TrainConfig(epochs=1), device=CUDA).result.train_images > 0


def test_a_search_on_cuda_defaults_to_bf16_and_counts_flops_on_the_cpu(tmp_path: Path) -> None:
    from harness.search.search_config import SearchConfig
    from harness.search.space import load_space
    from harness.search.study import run_search

    space = load_space(Path(__file__).resolve().parents[1] / "search_spaces" / "kernel_size.yaml")
    torch.backends.cudnn.benchmark = False
    frame = run_search(space, SearchConfig(trials=2, epochs=1, device="cuda", results_dir=str(tmp_path)),
                       progress=None)
    assert set(frame["precision"]) == {"bf16"} and set(frame["state"]) == {"COMPLETE"}
    assert frame["device"].str.startswith("cuda").all()
    # Counting at batch 1 on the CPU: the first trial's count is not CUDA's start-up (seconds).
    assert frame["count_seconds"].max() < 2.0


def test_streamed_data_keeps_its_eval_splits_on_the_device_and_one_loader() -> None:
    data = load_dataset("default")
    placed, placement = place_dataset(data, CUDA, memory_budget=data.val_x.numel() * 2)
    assert not placement.resident and not placed.train_x.is_cuda and placed.val_x.is_cuda
    batches = TrainBatches(placed, CUDA, 256, placed.augment, seed=0, stream=True, workers=2)
    for _ in range(2):
        assert sum(1 for _ in batches) == len(batches)
    assert batches._loader is not None and batches._loader.persistent_workers


def test_a_device_side_assert_ends_the_search_with_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    # A label past the classes makes cross_entropy assert on the device: the CUDA context is
    # then broken, and the command must say so in one line and exit, not record failed trials.
    code = (
        "import sys; from harness.cli.main import main; from harness.train import steps;"
        "real = steps.F.cross_entropy;"
        "steps.F.cross_entropy = lambda l, y, **k: real(l, y + 1000, **k) if l.requires_grad else real(l, y, **k);"
        "sys.exit(main(sys.argv[1:]))"
    )
    space = Path(__file__).resolve().parents[1] / "search_spaces" / "kernel_size.yaml"
    out = subprocess.run([sys.executable, "-c", code, "search", str(space), "--trials", "2", "--epochs", "1",
                          "--device", "cuda", "--results", str(tmp_path)], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode != 0 and "cannot run anything more in this process" in out.stderr, out.stderr[-2000:]
    assert "Traceback" not in out.stderr
