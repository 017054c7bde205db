"""Robustness: each shift is what it says (a translation moves content by exactly k pixels, noise
has the stated standard deviation, brightness and contrast move and scale as stated, a blur keeps
a flat image and smooths noise, a rotation turns by the stated angle), the copies are the same for
a seed; a search and a ranking record robust_accuracy and one column per shift, the search can
maximise it as a second objective, the ranking rank by it; bad input gets one line."""

from __future__ import annotations

import json
import math
from pathlib import Path

import optuna
import pandas as pd
import pytest
import torch

import harness
from harness.data.shifts import SHIFTS, Robustness, parse_shifts, shifted_copies
from harness.errors import HarnessError
from harness.search.search_config import SearchConfig
from harness.search.study import run_search
from harness.store.trials import searched_columns
from harness.train.evaluate import evaluate_spec
from harness.train.loop import TrainConfig
from tests.support.inprocess import run_cli

SPACE = {"stem": {"width": 8}, "stages": {"count": 1, "width": 8, "stride": 2, "kernel_size": [3, 5]},
         "train": {"epochs": 1, "batch_size": 64}}


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])
def test_a_translation_moves_content_by_exactly_k_pixels(severity: int) -> None:
    k = int(SHIFTS.get("translate").levels[severity - 1])
    x = torch.zeros(64, 1, 20, 20, dtype=torch.uint8)
    x[:, :, 9, 10] = 255  # one bright pixel per image, away from the border
    moved = SHIFTS.get("translate").apply(x, k, _gen(severity))
    for img in moved:
        rows, cols = torch.nonzero(img[0], as_tuple=True)
        assert len(rows) == 1  # the content moved whole, nothing smeared
        dy, dx = int(rows[0]) - 9, int(cols[0]) - 10
        assert sorted((abs(dy), abs(dx))) == [0, k]
    # Both axes and both signs occur over 64 images.
    firsts = {(int(torch.nonzero(i[0])[0][0]) - 9, int(torch.nonzero(i[0])[0][1]) - 10) for i in moved}
    assert len(firsts) == 4


def test_noise_has_the_stated_standard_deviation() -> None:
    x = torch.full((200, 3, 32, 32), 128, dtype=torch.uint8)
    for std in SHIFTS.get("noise").levels:
        diff = SHIFTS.get("noise").apply(x, std, _gen()).float() - 128
        assert diff.std().item() == pytest.approx(std * 255, rel=0.02)
        assert abs(diff.mean().item()) < 0.1


def test_brightness_contrast_and_blur_do_what_they_say() -> None:
    x = torch.randint(40, 200, (8, 3, 16, 16), generator=_gen(), dtype=torch.uint8)
    up = SHIFTS.get("brightness").apply(x, 0.2, _gen())
    assert torch.equal(up.int(), (x.int() + 51).clamp(max=255))  # 0.2 of 255 is 51
    low = SHIFTS.get("contrast").apply(x, 0.5, _gen()).float()
    f = x.float()
    mean = f.mean(dim=(1, 2, 3), keepdim=True)
    assert torch.allclose(low, ((f - mean) * 0.5 + mean).round(), atol=1.0)
    flat = torch.full((2, 3, 16, 16), 77, dtype=torch.uint8)
    assert torch.equal(SHIFTS.get("blur").apply(flat, 1.0, _gen()), flat)
    blurred = SHIFTS.get("blur").apply(x, 1.0, _gen()).float()
    assert blurred.std() < 0.7 * f.std()  # independent pixel noise is smoothed away


@pytest.mark.parametrize("degrees", [10.0, 30.0])
def test_a_rotation_turns_by_the_stated_angle(degrees: float) -> None:
    x = torch.zeros(16, 1, 41, 41, dtype=torch.uint8)
    x[:, :, 19:22, 32:35] = 255  # a 3x3 dot centred 13 px right of the centre (20, 20)
    turned = SHIFTS.get("rotate").apply(x, degrees, _gen()).float()
    for img in turned:
        ys, xs = torch.meshgrid(torch.arange(41.0), torch.arange(41.0), indexing="ij")
        w = img[0] / img[0].sum()
        cy, cx = float((w * ys).sum()) - 20, float((w * xs).sum()) - 20
        assert abs(abs(math.degrees(math.atan2(cy, cx))) - degrees) < 1.5
        assert math.hypot(cy, cx) == pytest.approx(13, abs=0.5)


def test_copies_are_the_same_for_a_seed_and_each_shift_its_own() -> None:
    x = torch.randint(0, 256, (32, 3, 16, 16), generator=_gen(), dtype=torch.uint8)
    a = shifted_copies(x, Robustness(seed=1))
    b = shifted_copies(x, Robustness(seed=1))
    assert list(a) == list(SHIFTS.names()) and all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(shifted_copies(x, Robustness(seed=2))["noise"], a["noise"])
    alone = shifted_copies(x, Robustness(shifts=("noise",), seed=1))
    assert torch.equal(alone["noise"], a["noise"])  # adding other shifts changes no copy
    assert all(v.dtype == torch.uint8 and v.shape == x.shape for v in a.values())


def test_bad_robustness_settings_are_refused() -> None:
    with pytest.raises(HarnessError, match="unknown shift 'blurr'.*translate"):
        Robustness(shifts=("blurr",))
    for severity in (0, 6, True):
        with pytest.raises(HarnessError, match="severity must be one of 1, 2, 3, 4, 5"):
            Robustness(severity=severity)
    assert parse_shifts("all") == tuple(SHIFTS.names()) and parse_shifts("noise, blur") == ("noise", "blur")


def test_an_evaluation_reports_each_shift_and_its_cost(tiny_data: harness.ImageData) -> None:
    spec = harness.ArchSpec(stem=harness.StemSpec(width=8), stages=(harness.StageSpec(width=8, stride=2),))
    shifted = shifted_copies(tiny_data.val_x, Robustness(severity=5))
    ev = evaluate_spec(spec, tiny_data, TrainConfig(epochs=1, batch_size=64), device="cpu", shifted=shifted)
    assert set(ev.robust) == set(SHIFTS.names()) and all(0 <= v <= 1 for v in ev.robust.values())
    row = ev.row()
    assert row["robust_accuracy"] == pytest.approx(sum(ev.robust.values()) / len(ev.robust))
    assert row["robust.noise"] == ev.robust["noise"] and row["robust_seconds"] > 0


def test_a_search_records_robustness_and_can_maximise_it(tmp_path: Path, tiny_data: harness.ImageData) -> None:
    space = harness.space_from_dict(SPACE, default_name="robust")
    robustness = Robustness(shifts=("translate", "noise"), severity=2)
    config = SearchConfig(trials=2, device="cpu", results_dir=str(tmp_path), robustness=robustness,
                          objectives="accuracy,robust_accuracy", sampler="random")
    assert config.validate() == "none"  # neither objective is known before the end: no pruning
    frame = run_search(space, config, data=tiny_data, progress=None, argv=["test"])
    assert {"robust_accuracy", "robust.translate", "robust.noise"} <= set(frame.columns)
    assert "robust.translate" not in searched_columns(frame)  # a result, not a searched parameter
    study = optuna.load_study(study_name="robust", storage=f"sqlite:///{tmp_path / 'robust' / 'study.db'}")
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MAXIMIZE"]
    for t in study.trials:
        assert t.values[1] == pytest.approx(t.user_attrs["robust_accuracy"])
    csv = pd.read_csv(tmp_path / "robust" / "trials.csv")
    assert csv["robust_accuracy"].notna().all() and (csv["robust_seconds"] > 0).all()
    # The report draws accuracy against robust accuracy, and each shift's drop.
    png = list((tmp_path / "robust").rglob("robustness.png"))
    assert len(png) == 1 and png[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (tmp_path / "robust" / "report.html").read_text()
    assert "Accuracy under shift" in page
    # The study's record names what ran, from run.json (a notebook's run has no command line to read):
    # no pruner for this pair, and the sampler asked for.
    assert "<tr><th>pruner</th><td>none</td></tr>" in page and "<tr><th>sampler</th><td>random</td></tr>" in page
    latest = json.loads((tmp_path / "robust" / "run.json").read_text())["latest"]
    assert (latest["pruner"], latest["sampler"], latest["timeout"]) == ("none", "random", None)
    with pytest.raises(HarnessError, match=r"robustness \(severity 2: translate 2 px, noise 0.06"):
        run_search(space, SearchConfig(trials=3, device="cpu", results_dir=str(tmp_path), sampler="random",
                                       robustness=Robustness(shifts=("translate", "noise"), severity=3),
                                       objectives="accuracy,robust_accuracy"),
                   data=tiny_data, progress=None, argv=["test"])
    for bad, message in ((dict(robustness=None), "needs the robustness evaluation"),
                         (dict(pruner="pareto"), "robust accuracy is known only at the end")):
        with pytest.raises(HarnessError, match=message):
            SearchConfig(**{"objectives": "accuracy,robust_accuracy", "robustness": robustness, **bad}).validate()


def test_a_ranking_ranks_by_robust_accuracy(tmp_path: Path) -> None:
    spec_file = tmp_path / "a.json"
    spec = harness.ArchSpec(stem=harness.StemSpec(width=8), stages=(harness.StageSpec(width=8, stride=2),))
    spec_file.write_text(json.dumps(spec.to_dict()))
    out = run_cli("rank", "--spec", str(spec_file), "--seeds", "2", "--epochs", "1",
                  "--device", "cpu", "--train-images", "256", "--robustness", "noise,blur", "--metric",
                  "robust_accuracy", "--results", str(tmp_path / "out"))
    assert out.returncode == 0, out.stderr
    assert "ranked by robust accuracy" in out.stdout
    runs = pd.read_csv(tmp_path / "out" / "rank" / "runs.csv")
    table = pd.read_csv(tmp_path / "out" / "rank" / "rank.csv")
    assert runs["robust_accuracy"].notna().all()
    assert table.loc[0, "mean"] == pytest.approx(runs["robust_accuracy"].mean())
    refused = run_cli("rank", "--spec", str(spec_file), "--metric", "robust_accuracy", "--device", "cpu",
                      "--results", str(tmp_path / "x"))
    assert refused.returncode == 2 and "add --robustness" in refused.stderr


def test_bad_robustness_options_are_one_line(tmp_path: Path) -> None:
    space = tmp_path / "s.yaml"
    space.write_text(json.dumps(SPACE))
    for extra, message in ((["--robustness", "blurr"], "unknown shift 'blurr'"),
                           (["--robustness", "--severity", "6"], "--severity"),
                           (["--objectives", "accuracy,robust_accuracy"], "needs the robustness evaluation")):
        out = run_cli("search", str(space), "--device", "cpu", "--results", str(tmp_path), *extra)
        assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr, out.stderr
