"""What a first GPU run would hit, checked on the CPU: the precision setting and where it is
recorded, fp32 evaluation, the experiment keys (device and precision), CUDA's errors classified
(cuDNN/cuBLAS ALLOC_FAILED are out of memory; a device-side assert stops the worker, uncounted),
statistics computed on the host, one persistent streaming loader, evaluation per tenth of a time
budget, and the workers' GPU mapping, device, thread split and memory share."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
import torch

import harness
from harness.data.loader import ENV_WORKERS_PER_GPU, TrainBatches, workers_per_gpu
from harness.errors import HarnessError
from harness.search.search_config import SearchConfig, counted
from harness.search.study import run_search
from harness.search.workers import assign_gpus, visible_gpus, with_device, worker_env
from harness.train.device import (
    DeviceBrokenError,
    classify_error,
    cpu_flags_have_bf16,
    cpu_has_native_bf16,
    resolve_precision,
    worker_threads,
)
from harness.train.evaluate import evaluate_spec
from harness.train.loop import EVAL_SLICES, TrainConfig, evaluate, train_model
from harness.train.train_config import budget_key
from harness.zoo.blocks import BLOCKS, PlainBlock
from tests.support.inprocess import run_cli

CPU = torch.device("cpu")
SPACE = {"stem": {"width": 8}, "stages": {"count": 1, "width": 8, "stride": 2, "kernel_size": [3, 5]},
         "train": {"epochs": 1, "batch_size": 64}}


def _spec(block: str = "plain") -> harness.ArchSpec:
    return harness.ArchSpec(stem=harness.StemSpec(width=8), stages=(harness.StageSpec(block=block, width=8, stride=2),))


# ------------------------------------------------------------------ precision
def test_precision_auto_follows_the_device_and_the_cpu_flags() -> None:
    assert resolve_precision("fp32", torch.device("cuda")) == "fp32"
    assert resolve_precision("bf16", CPU) == "bf16"
    assert resolve_precision("auto", torch.device("cuda")) == "bf16"
    assert resolve_precision("auto", CPU) == ("bf16" if cpu_has_native_bf16() else "fp32")
    with pytest.raises(HarnessError, match="auto, fp32, bf16"):
        resolve_precision("fp16", CPU)
    # Flags lines as /proc/cpuinfo shows them (a Sapphire Rapids Xeon, a Zen 2 EPYC).
    xeon = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"
    epyc = "processor\t: 0\nflags\t\t: fpu sse2 avx2 fma bmi2\n"
    assert cpu_flags_have_bf16(xeon) and not cpu_flags_have_bf16(epyc) and not cpu_flags_have_bf16("")
    assert not cpu_has_native_bf16.__wrapped__("/no/such/cpuinfo")


def test_bf16_trains_on_the_cpu_and_evaluation_is_fp32(tiny_data: harness.ImageData) -> None:
    config = TrainConfig(epochs=2, batch_size=64)
    fp32 = evaluate_spec(_spec(), tiny_data, config, device="cpu", seed=4, precision="fp32")
    torch.manual_seed(4)
    model = harness.build_model(_spec(), num_classes=10)
    bf16 = train_model(model, tiny_data, config, seed=4, precision="bf16")
    assert torch.isfinite(torch.tensor(bf16.train_loss)) and bf16.train_loss != fp32.result.train_loss
    # The reported validation figures are the fp32 forward of the trained weights.
    from harness.data.loader import Normalize

    model.eval()
    with torch.inference_mode():
        x = Normalize(tiny_data, CPU)(tiny_data.val_x)
        logits = model(x)
    assert logits.dtype == torch.float32
    accuracy = (logits.argmax(1) == tiny_data.val_y).float().mean().item()
    assert bf16.val_accuracy == pytest.approx(accuracy)
    assert evaluate(model, tiny_data.val_x, tiny_data.val_y, Normalize(tiny_data, CPU), 32, CPU).accuracy == \
        pytest.approx(accuracy)


def test_the_experiment_keys_hold_the_device_and_the_precision(tmp_path: Path,
                                                               tiny_data: harness.ImageData) -> None:
    config = TrainConfig()
    keys = {budget_key("s", config, d, p) for d in ("cpu", "cuda") for p in ("fp32", "bf16")}
    assert len(keys) == 4 and budget_key("s", config) == budget_key("s", config, "cpu", "fp32")
    space = harness.space_from_dict(SPACE, default_name="prec")
    frame = run_search(space, SearchConfig(trials=1, device="cpu", precision="fp32", results_dir=str(tmp_path)),
                       data=tiny_data, progress=None, argv=["test"])
    assert frame.loc[0, "precision"] == "fp32"
    run = json.loads((tmp_path / "prec" / "run.json").read_text())["latest"]
    assert run["precision"] == "fp32" and run["deterministic"] is False
    before = (tmp_path / "prec" / "trials.csv").read_bytes()
    with pytest.raises(HarnessError, match=r"precision \(fp32 -> bf16\)"):
        run_search(space, SearchConfig(trials=2, device="cpu", precision="bf16", results_dir=str(tmp_path)),
                   data=tiny_data, progress=None, argv=["test"])
    assert (tmp_path / "prec" / "trials.csv").read_bytes() == before


def test_deterministic_is_recorded_and_turned_on(tmp_path: Path, tiny_data: harness.ImageData) -> None:
    space = harness.space_from_dict(SPACE, default_name="det")
    try:
        run_search(space, SearchConfig(trials=1, device="cpu", deterministic=True, results_dir=str(tmp_path)),
                   data=tiny_data, progress=None, argv=["test"])
        assert torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.benchmark
    finally:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.deterministic = False
    assert json.loads((tmp_path / "det" / "run.json").read_text())["latest"]["deterministic"] is True


# ------------------------------------------------------------------ CUDA's errors
class ErrorProbeBlock(PlainBlock):
    """A plain block whose training forward raises `error` (a message, as CUDA words it) on
    batches above `limit` images."""

    error = "CUDNN_STATUS_ALLOC_FAILED"
    limit = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.shape[0] > self.limit:
            raise RuntimeError(self.error)
        return super().forward(x)


@pytest.fixture
def error_probe() -> Iterator[type[ErrorProbeBlock]]:
    BLOCKS.register("error_probe", ErrorProbeBlock)
    yield ErrorProbeBlock
    BLOCKS.unregister("error_probe")
    ErrorProbeBlock.error, ErrorProbeBlock.limit = "CUDNN_STATUS_ALLOC_FAILED", 1


def test_cuda_errors_are_classified() -> None:
    assert classify_error(torch.OutOfMemoryError("CUDA out of memory")) == "oom"
    assert classify_error(RuntimeError("cuDNN error: CUDNN_STATUS_ALLOC_FAILED")) == "oom"
    assert classify_error(RuntimeError("CUDA error: CUBLAS_STATUS_ALLOC_FAILED when calling cublasCreate")) == "oom"
    assert classify_error(RuntimeError("CUDA error: device-side assert triggered")) == "sticky"
    assert classify_error(RuntimeError("CUDA error: an illegal memory access was encountered")) == "sticky"
    assert classify_error(RuntimeError("mat1 and mat2 shapes cannot be multiplied")) is None
    assert classify_error(ValueError("CUDNN_STATUS_ALLOC_FAILED")) is None


def test_cudnn_alloc_failed_is_retried_at_half_the_batch(tiny_data: harness.ImageData, error_probe) -> None:
    error_probe.limit = 32
    ev = evaluate_spec(_spec("error_probe"), tiny_data, TrainConfig(epochs=1, batch_size=64), device="cpu")
    assert ev.result.batch_size == 32 and "CUDNN_STATUS_ALLOC_FAILED" in ev.note


def test_a_sticky_cuda_error_stops_the_study_and_the_trial_runs_again(
        tmp_path: Path, tiny_data: harness.ImageData, error_probe) -> None:
    error_probe.error = "CUDA error: device-side assert triggered"
    space = harness.space_from_dict({**SPACE, "stages": {**SPACE["stages"], "block": "error_probe"}},
                                    default_name="sticky")
    config = SearchConfig(trials=2, device="cpu", results_dir=str(tmp_path), pruner="none")
    with pytest.raises(DeviceBrokenError, match="cannot run anything more in this process"):
        run_search(space, config, data=tiny_data, progress=None, argv=["test"])
    study = optuna.load_study(study_name="sticky", storage=f"sqlite:///{tmp_path / 'sticky' / 'study.db'}")
    assert len(study.trials) == 1 and study.trials[0].state.name == "FAIL"
    assert not counted(study.trials[0]) and "failure_reason" not in study.trials[0].user_attrs
    error_probe.limit = 10_000  # the device works again: the resumed run trains both trials
    frame = run_search(space, config, data=tiny_data, progress=None, argv=["test"])
    assert (frame["state"] == "COMPLETE").sum() == 2


def test_a_sticky_cuda_error_is_one_line_from_the_command(tmp_path: Path, error_probe) -> None:
    error_probe.error = "CUDA error: an illegal memory access was encountered"
    space = tmp_path / "sticky.yaml"
    space.write_text(json.dumps({**SPACE, "stages": {**SPACE["stages"], "block": "error_probe"}}))
    out = run_cli("search", str(space), "--trials", "2", "--device", "cpu", "--train-images", "256",
                  "--results", str(tmp_path))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot run anything more in this process: CUDA error: an illegal memory" in lines[0]


# ------------------------------------------------------------------ data
def test_statistics_are_computed_on_the_host_before_the_data_moves(tiny_data: harness.ImageData) -> None:
    fresh = harness.ImageData("tiny", tiny_data.train_x, tiny_data.train_y, tiny_data.val_x, tiny_data.val_y,
                              tiny_data.classes)
    moved = fresh.to("meta")  # a device where nothing can be computed: the statistics came along
    assert moved.train_x.is_meta
    mean, std = moved.channel_stats()
    assert mean.device.type == "cpu" and torch.equal(mean, tiny_data.channel_stats()[0])
    assert torch.equal(std, tiny_data.channel_stats()[1])


def test_streamed_batches_come_from_one_persistent_loader_in_the_resident_order(
        tiny_data: harness.ImageData) -> None:
    resident = TrainBatches(tiny_data, CPU, 64, tiny_data.augment, seed=5)
    streamed = TrainBatches(tiny_data, CPU, 64, tiny_data.augment, seed=5, stream=True, workers=1)
    assert resident.resident and not streamed.resident
    loaders = []
    for _ in range(2):  # two epochs: new orders, one loader
        for (xa, ya), (xb, yb) in zip(resident, streamed, strict=True):
            assert torch.equal(xa, xb) and torch.equal(ya, yb)
        loaders.append(streamed._loader)
    assert loaders[0] is loaders[1] and loaders[0].persistent_workers


def test_a_time_budget_is_evaluated_once_per_tenth(tiny_data: harness.ImageData) -> None:
    model = harness.build_model(_spec(), num_classes=10)
    result = train_model(model, tiny_data, TrainConfig(seconds=3.0, batch_size=256), seed=0)
    epochs = result.history[-1].epoch
    # An epoch of 256 images is one step, a few ms (under 0.1 s on 2 cores busy with other work):
    # more epochs ran than there are evaluations...
    assert epochs > EVAL_SLICES + 1
    assert len(result.history) <= EVAL_SLICES + 1  # ...which are about ten
    assert result.train_seconds >= 3.0


# ------------------------------------------------------------------ workers and GPUs
def test_gpus_index_the_inherited_devices() -> None:
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "2,3"}) == ["2", "3"]
    mig = "MIG-4f1d6a2e-0c4b-5a0e-9d7c-1a2b3c4d5e6f"
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": f"GPU-8a1b,{mig}"}) == ["GPU-8a1b", mig]
    assert visible_gpus({}, count=lambda: 2) == ["0", "1"]
    assert assign_gpus([1], 3, ["2", "3"]) == ["3", "3", "3"]
    assert assign_gpus([0, 1], 3, ["2", "3"]) == ["2", "3", "2"]
    with pytest.raises(HarnessError, match=r"no GPU 2 here; the GPUs this process may use: 0 = 2, 1 = 3"):
        assign_gpus([0, 2], 2, ["2", "3"])
    with pytest.raises(HarnessError, match="may use: none"):
        assign_gpus([0], 1, [])


def test_each_worker_gets_its_gpu_its_share_and_its_threads() -> None:
    envs = [worker_env(i, 3, "journal:x", ["3", "3", "2"], environ={}, cores=8) for i in range(3)]
    assert [e["CUDA_VISIBLE_DEVICES"] for e in envs] == ["3", "3", "2"]
    assert [e[ENV_WORKERS_PER_GPU] for e in envs] == ["2", "2", "1"]
    assert {e["OMP_NUM_THREADS"] for e in envs} == {"2"} and envs[0]["HARNESS_STORAGE"] == "journal:x"
    kept = worker_env(0, 2, "journal:x", [], environ={"OMP_NUM_THREADS": "6"}, cores=8)
    assert kept["OMP_NUM_THREADS"] == "6" and kept[ENV_WORKERS_PER_GPU] == "2" and "CUDA_VISIBLE_DEVICES" not in kept
    assert worker_threads(2, 3) == 1 and worker_threads(16, 4) == 4
    assert with_device(["search", "s.yaml", "--device", "auto", "--trials", "3"], "cuda") == \
        ["search", "s.yaml", "--trials", "3", "--device", "cuda"]
    assert with_device(["search", "s.yaml", "--device=auto"], "cuda") == ["search", "s.yaml", "--device", "cuda"]


def test_workers_per_gpu_reads_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_WORKERS_PER_GPU, "4")
    assert workers_per_gpu() == 4
    for bad in ("", "0", "two"):
        monkeypatch.setenv(ENV_WORKERS_PER_GPU, bad)
        assert workers_per_gpu() == 1


def test_asking_for_a_gpu_that_is_not_there_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    space = tmp_path / "s.yaml"
    space.write_text(json.dumps(SPACE))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # this machine's GPUs, as a scheduler gave none
    common = ["search", str(space), "--workers", "2", "--storage", "journal", "--results", str(tmp_path)]
    out = run_cli(*common, "--gpus", "0")
    assert out.returncode == 2 and "no GPU 0 here" in out.stderr and "may use: none" in out.stderr
    out = run_cli(*common, "--gpus", "0", "--device", "cpu")
    assert out.returncode == 2 and "cannot go with --device cpu" in out.stderr
    assert "Traceback" not in out.stderr
