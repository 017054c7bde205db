"""A model folder as ONNX and as predictions: `harness export FOLDER --onnx` writes a graph whose
logits onnxruntime reproduces (checked here independently, on another batch size), with its
metadata; an op the opset lacks is one line and no file; `harness predict` classifies image files
read as the folder datasets read them, as the torch model does; bad input is one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from harness.data.sources.image_folder import decode_image
from harness.final.model_folder import WEIGHTS, ModelInfo, TrainedModel, load_model, write_model
from harness.final.onnx import CHECK_BATCH, DEFAULT_OPSET, RTOL, export_onnx
from harness.final.predict import predict
from harness.zoo.model import build_model
from harness.zoo.spec import ArchSpec, HeadSpec, StageSpec, StemSpec
from tests.support.inprocess import run_cli

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

SIZE = 16
CONV = ArchSpec(stem=StemSpec(width=8), stages=(StageSpec(block="residual", width=8, stride=2),
                                                StageSpec(block="plain", width=16, stride=2)))
# A conv stage, then an attention stage: its scaled_dot_product_attention needs ONNX opset 14.
ATTENTION = ArchSpec(stem=StemSpec(width=8), stages=(StageSpec(block="residual", width=8, stride=2),
                                                     StageSpec(block="attention", depth=1, width=16, heads=2)),
                     head=HeadSpec(pool="avg", norm="post"), norm="layer", activation="gelu")


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def make_folder(folder: Path, spec: ArchSpec, channels: int, classes: tuple[str, ...],
                input_size: tuple[int, int] = (SIZE, SIZE)) -> Path:
    """A model folder with seeded random weights and made-up batch-norm statistics (so that
    folding them into the convolutions is exercised, not the identity)."""
    torch.manual_seed(0)
    model = build_model(spec, in_channels=channels, num_classes=len(classes), input_size=input_size)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    mean, std = (0.5, 0.45, 0.4)[:channels], (0.25, 0.2, 0.3)[:channels]
    write_model(folder, model, spec, ModelInfo(channels, input_size, classes, mean, std, dataset="made-up",
                                               origin="test", epoch=3))
    return folder


@pytest.fixture(scope="module")
def rgb_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_folder(tmp_path_factory.mktemp("rgb") / "model", CONV, 3, ("cat", "dog", "owl"))


@pytest.fixture(scope="module")
def grey_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_folder(tmp_path_factory.mktemp("grey") / "model", CONV, 1, ("zero", "one", "two", "three"))


@pytest.fixture(scope="module")
def attention_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_folder(tmp_path_factory.mktemp("attention") / "model", ATTENTION, 1, ("a", "b"))


def torch_logits(trained: TrainedModel, pixels: torch.Tensor) -> np.ndarray:
    """The torch model's logits for uint8 (N, C, H, W) images, normalised as in training."""
    with torch.inference_mode():
        return trained.model(trained.normalize(pixels)).numpy()


def onnx_logits(path: Path, pixels: torch.Tensor) -> np.ndarray:
    """onnxruntime's logits for the same images, fed as the graph asks: float pixels in [0, 1]."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["logits"], {"image": (pixels.float() / 255).numpy()})[0]


def assert_close_logits(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= RTOL * max(1.0, float(np.abs(want).max()))


# ------------------------------------------------------------------ export --onnx
@pytest.fixture(scope="module")
def exported(rgb_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """`harness export MODEL --onnx out/model.onnx` (the default opset, torch.export-based), run
    from an empty working folder: (the file, the working folder, what it printed)."""
    work = tmp_path_factory.mktemp("work")
    out = tmp_path_factory.mktemp("out") / "model.onnx"
    result = run_cli("export", str(rgb_folder), "--onnx", str(out), cwd=work)
    assert result.returncode == 0, result.stderr
    return out, work, result.stdout


def test_cli_export_writes_a_graph_whose_logits_match_torch(exported: tuple[Path, Path, str],
                                                            rgb_folder: Path) -> None:
    path, work, printed = exported
    assert printed.count("\n") == 1 and printed.startswith(f"wrote {path} (ONNX opset {DEFAULT_OPSET})")
    assert f"on a batch of {CHECK_BATCH} random images" in printed
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.onnx"]  # no temporary, no weights file
    assert not list(work.iterdir())  # the exporter wrote nothing where it ran
    trained = load_model(rgb_folder)
    pixels = torch.randint(0, 256, (5, 3, SIZE, SIZE), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    assert_close_logits(onnx_logits(path, pixels), torch_logits(trained, pixels))  # batch 5: not the traced 2


def test_the_graph_takes_image_and_gives_logits_with_a_free_batch(exported: tuple[Path, Path, str]) -> None:
    model = onnx.load(str(exported[0]))
    assert [(o.domain or "ai.onnx", o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")] == [
        ("ai.onnx", DEFAULT_OPSET)]
    (image,), (logits,) = model.graph.input, model.graph.output
    dims = [d.dim_param or d.dim_value for d in image.type.tensor_type.shape.dim]
    assert image.name == "image" and image.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert isinstance(dims[0], str) and dims[1:] == [3, SIZE, SIZE]
    assert logits.name == "logits" and [d.dim_value for d in logits.type.tensor_type.shape.dim][1:] == [3]


def test_the_graph_carries_what_using_it_needs(exported: tuple[Path, Path, str], rgb_folder: Path) -> None:
    props = {p.key: p.value for p in onnx.load(str(exported[0])).metadata_props}
    trained = load_model(rgb_folder)
    assert json.loads(props["classes"]) == ["cat", "dog", "owl"]
    assert json.loads(props["input_size"]) == [SIZE, SIZE] and props["in_channels"] == "3"
    assert json.loads(props["mean"]) == [0.5, 0.45, 0.4] and json.loads(props["std"]) == [0.25, 0.2, 0.3]
    assert props["spec_id"] == trained.spec.spec_id
    assert props["harness_version"] and props["dataset"] == "made-up" and props["epoch"] == "3"
    assert "[0, 1]" in props["input"]


def test_an_older_opset_goes_through_the_torchscript_exporter(grey_folder: Path, tmp_path: Path) -> None:
    report = export_onnx(grey_folder, tmp_path / "grey.onnx", opset=13)
    assert (report.opset, report.exporter, report.batch) == (13, "torchscript", CHECK_BATCH)
    assert report.max_abs_diff <= report.tolerance and report.tolerance >= RTOL
    assert [o.version for o in onnx.load(str(report.path)).opset_import if o.domain in ("", "ai.onnx")] == [13]
    trained = load_model(grey_folder)
    pixels = torch.randint(0, 256, (3, 1, SIZE, SIZE), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    assert_close_logits(onnx_logits(report.path, pixels), torch_logits(trained, pixels))


def test_an_op_the_opset_lacks_is_one_line_and_leaves_no_file(attention_folder: Path, tmp_path: Path,
                                                              capfd: pytest.CaptureFixture[str]) -> None:
    from harness.cli.main import main

    target = tmp_path / "attention.onnx"
    assert main(["export", str(attention_folder), "--onnx", str(target), "--opset", "13"]) == 2
    out, err = capfd.readouterr()  # file descriptors too: the TorchScript exporter dumps its graph from C++
    assert out == "" and err.count("\n") == 1
    assert err.startswith(f"harness: error: {target}: cannot export to ONNX opset 13: ")
    assert "scaled_dot_product_attention" in err and "version 14" in err
    assert not list(tmp_path.iterdir())
    target.write_bytes(b"an earlier export")  # a file already there is left as it was
    assert main(["export", str(attention_folder), "--onnx", str(target), "--opset", "13"]) == 2
    capfd.readouterr()
    assert target.read_bytes() == b"an earlier export" and len(list(tmp_path.iterdir())) == 1
    # The op, not the network: at opset 14 the same model exports and matches torch.
    assert export_onnx(attention_folder, target, opset=14).max_abs_diff <= RTOL


def test_cli_export_json_is_the_report(grey_folder: Path, tmp_path: Path) -> None:
    result = run_cli("export", str(grey_folder), "--onnx", str(tmp_path / "grey.onnx"), "--opset", "17", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["opset"], report["exporter"], report["batch"]) == (17, "torchscript", CHECK_BATCH)
    assert report["max_abs_diff"] <= report["tolerance"] and Path(report["path"]).is_file()


def test_the_parsers_default_opset_is_the_exporters() -> None:
    from harness.cli.parser import build_parser

    export = build_parser()._subparsers._group_actions[0].choices["export"]  # the parser says it without torch
    (opset,) = [a for a in export._actions if "--opset" in a.option_strings]
    assert f"default {DEFAULT_OPSET};" in opset.help


@pytest.mark.parametrize(("args", "fragment"), [
    ([], "export takes one of --trial N"),
    (["--trial", "0", "--onnx", "x.onnx"], "export takes one of --trial N"),
    (["--trial", "0", "--opset", "13"], "--opset goes with --onnx"),
])
def test_export_takes_exactly_one_of_trial_and_onnx(rgb_folder: Path, tmp_path: Path, args: list[str],
                                                    fragment: str) -> None:
    result = run_cli("export", str(rgb_folder), *args, cwd=tmp_path)
    assert result.returncode == 2 and fragment in result.stderr and result.stderr.count("\n") == 1
    assert not list(tmp_path.iterdir())


def test_a_model_folder_without_weights_is_one_line(rgb_folder: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(rgb_folder, broken)
    (broken / WEIGHTS).unlink()
    image = tmp_path / "one.png"
    Image.new("RGB", (SIZE, SIZE), (10, 200, 30)).save(image)
    for args in (["export", str(broken), "--onnx", str(tmp_path / "m.onnx")], ["predict", str(broken), str(image)]):
        result = run_cli(*args)
        assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
        assert f"{broken}: no weights ({WEIGHTS} is missing)" in result.stderr
    assert not (tmp_path / "m.onnx").exists()


# ------------------------------------------------------------------ predict
def noise(size: tuple[int, int], mode: str, seed: int) -> Image.Image:
    bands = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], bands), dtype=np.uint8)
    return Image.fromarray(pixels.squeeze(-1) if bands == 1 else pixels, mode)


@pytest.fixture
def images(tmp_path: Path) -> Path:
    """A folder of PNGs and JPEGs of several sizes and modes, one in a sub-folder, beside files
    that are not images (skipped when a folder is walked)."""
    root = tmp_path / "images"
    (root / "more").mkdir(parents=True)
    noise((24, 20), "RGB", 0).save(root / "b.png")
    noise((SIZE, SIZE), "RGBA", 1).save(root / "a.PNG")
    noise((40, 32), "RGB", 2).save(root / "c.jpg", quality=90)
    noise((SIZE, SIZE), "L", 3).save(root / "more" / "d.jpeg")
    (root / "notes.txt").write_text("not an image")
    (root / ".hidden.png").write_text("skipped")
    return root


def parse(stdout: str) -> list[list[str]]:
    return [line.split("\t") for line in stdout.splitlines()]


def test_predict_gives_the_torch_models_classes_for_the_decoded_pixels(rgb_folder: Path, images: Path) -> None:
    result = run_cli("predict", str(rgb_folder), str(images), str(images / "b.png"))
    assert result.returncode == 0, result.stderr
    rows = parse(result.stdout)
    files = [images / "a.PNG", images / "b.png", images / "c.jpg", images / "more" / "d.jpeg", images / "b.png"]
    assert [Path(r[0]) for r in rows] == files  # the folder sorted, then the file as given
    trained = load_model(rgb_folder)
    pixels = torch.stack([torch.from_numpy(decode_image(f, SIZE, grey=False)).permute(2, 0, 1) for f in files])
    probs = torch.softmax(torch.from_numpy(torch_logits(trained, pixels)), dim=1)
    best = probs.argmax(dim=1)
    assert [r[1] for r in rows] == [trained.info.classes[i] for i in best]
    assert [r[2] for r in rows] == [f"{probs[i, j]:.3f}" for i, j in enumerate(best)]


def test_predict_top_k_lists_the_classes_best_first(rgb_folder: Path, images: Path) -> None:
    result = run_cli("predict", str(rgb_folder), str(images / "c.jpg"), "--top", "5")
    rows = parse(result.stdout)
    assert result.returncode == 0 and len(rows) == 1 and len(rows[0]) == 1 + 2 * 3  # 5 capped at the 3 classes
    labels, probs = rows[0][1::2], [float(p) for p in rows[0][2::2]]
    assert sorted(labels) == ["cat", "dog", "owl"] and probs == sorted(probs, reverse=True)
    (p,) = predict(rgb_folder, [images / "c.jpg"], top=2)
    assert (p.label, p.index) == (p.top[0][0], ["cat", "dog", "owl"].index(p.label)) and len(p.top) == 2
    assert abs(sum(prob for _, prob in predict(rgb_folder, [images / "c.jpg"], top=3)[0].top) - 1) < 1e-5


def test_a_grey_model_reads_colour_images_as_the_folder_reader_does(grey_folder: Path, tmp_path: Path) -> None:
    files = [tmp_path / f"{i}.png" for i in range(3)]
    for i, f in enumerate(files):
        noise((SIZE, SIZE), "RGB", 10 + i).save(f)
    got = predict(grey_folder, files, top=4)
    trained = load_model(grey_folder)
    # Independently of decode_image: PIL's own RGB -> L conversion (what the folder reader applies),
    # at the model's size already, so no resizing is involved.
    grey = torch.stack([torch.from_numpy(np.array(Image.open(f).convert("L")))[None] for f in files])
    probs = torch.softmax(torch.from_numpy(torch_logits(trained, grey)), dim=1)
    for p, row in zip(got, probs, strict=True):
        assert p.index == int(row.argmax()) and p.label == trained.info.classes[p.index]
        assert [prob for _, prob in p.top] == pytest.approx(sorted(row.tolist(), reverse=True), abs=1e-6)


@pytest.mark.parametrize("where", ["given", "in a folder"])
def test_a_file_pil_cannot_read_is_one_line(rgb_folder: Path, images: Path, where: str) -> None:
    fake = images / "more" / "fake.png"
    fake.write_text("this is text, not a PNG")
    result = run_cli("predict", str(rgb_folder), str(fake if where == "given" else images))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == f"harness: error: {fake}: not an image (PIL cannot read it)\n"


def test_missing_inputs_and_folders_without_images_are_one_line(rgb_folder: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images here")
    for given, fragment in [(tmp_path / "nope.png", "no such file or folder"), (empty, "no image files")]:
        result = run_cli("predict", str(rgb_folder), str(given))
        assert result.returncode == 2 and result.stderr.count("\n") == 1
        assert result.stderr.startswith(f"harness: error: {given}: {fragment}")


def test_a_model_for_non_square_images_is_refused(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "wide", CONV, 3, ("x", "y"), input_size=(16, 24))
    image = tmp_path / "one.png"
    noise((24, 16), "RGB", 0).save(image)
    result = run_cli("predict", str(folder), str(image))
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "16x24" in result.stderr
