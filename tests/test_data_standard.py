"""The standard datasets in the forms people have them, read through the real code from files the
tests write in the exact formats: the four idx files gzipped or not (Zalando's and Debian's
layout), CIFAR's original tar.gz archive; the cache; every malformed form gets one line naming the
file; --verify; a training subset. Debian's real Fashion-MNIST folder is read where it is installed
(CI installs it)."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.data import load_dataset
from harness.data.sources.standard import PUBLISHED_MD5, verify_dataset
from harness.data.splits import stratified_subset
from harness.errors import DatasetError
from tests.support.inprocess import CliResult, run_cli

RNG = np.random.default_rng(1)
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


pytestmark = pytest.mark.usefixtures("cache")  # tests/conftest.py: each test its own decode cache


def idx_bytes(array: np.ndarray) -> bytes:
    """An idx file: magic 0x0803 (images, 3 dims) or 0x0801 (labels), sizes, uint8 elements."""
    magic = 0x0800 | array.ndim
    return struct.pack(f">{1 + array.ndim}i", magic, *array.shape) + array.tobytes()


def write_idx_folder(folder: Path, n_train: int = 50, n_test: int = 20, gz: bool = True) -> dict[str, np.ndarray]:
    """The four files of Zalando's download (gzipped, or not) in `folder`; the arrays written."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": RNG.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": RNG.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) % 10).astype(np.uint8),
    }
    for name, array in arrays.items():
        data = idx_bytes(array)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return arrays


def cifar_pickles(per_batch: int = 20, test: int = 30) -> tuple[dict[str, bytes], dict[str, np.ndarray]]:
    """CIFAR-10's python pickles by name, as the archive holds them, and the data arrays."""
    blobs, arrays = {}, {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        n = test if name == "test_batch" else per_batch
        data = RNG.integers(0, 256, (n, 3072), dtype=np.uint8)
        blobs[name] = pickle.dumps({"batch_label": name, "data": data, "labels": [i % 10 for i in range(n)]})
        arrays[name] = data
    blobs["batches.meta"] = pickle.dumps({"label_names": [f"c{i}" for i in range(10)], "num_vis": 3072})
    return blobs, arrays


def write_cifar_archive(path: Path, blobs: dict[str, bytes]) -> Path:
    """cifar-10-python.tar.gz: the pickles under cifar-10-batches-py/, gzipped tar."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, blob in blobs.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return path


def harness_cli(*args: str) -> CliResult:
    return run_cli(*args)  # in this process: see tests/support/inprocess.py


# ------------------------------------------------------------------ idx files
@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_reads_the_four_idx_files_in_a_folder(tmp_path: Path, gz: bool) -> None:
    arrays = write_idx_folder(tmp_path / "fashion", gz=gz)
    data = load_dataset(f"fashion_mnist:{tmp_path / 'fashion'}", val_fraction=0.2)
    assert data.input_shape == (1, 28, 28) and data.classes[0] == "T-shirt/top" and data.classes[9] == "Ankle boot"
    assert len(data.train_y) == 40 and len(data.val_y) == 10
    # The test split is the t10k files, in order, byte for byte.
    assert torch.equal(data.test_x[:, 0], torch.from_numpy(arrays["t10k-images-idx3-ubyte"]))
    assert data.test_y.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()
    assert data.source == str(tmp_path / "fashion")


def test_mnist_reads_gzipped_files_in_torchvisions_raw_folder(tmp_path: Path) -> None:
    arrays = write_idx_folder(tmp_path / "MNIST" / "raw", gz=True)
    data = load_dataset("mnist", data_dir=tmp_path, val_fraction=0.2)
    assert data.classes[3] == "3 - three"
    assert torch.equal(data.test_x[:, 0], torch.from_numpy(arrays["t10k-images-idx3-ubyte"]))


def test_the_decoded_tensors_are_cached_and_a_changed_file_is_decoded_again(tmp_path: Path, cache: Path) -> None:
    write_idx_folder(tmp_path / "f")
    first = load_dataset(f"fashion_mnist:{tmp_path / 'f'}")
    entries = list((cache / "standard").glob("*.pt"))
    assert len(entries) == 1
    # The second read takes the cache: mark the entry and the mark comes back.
    blob = torch.load(entries[0], weights_only=True)
    blob["test_x"] = torch.full_like(blob["test_x"], 7)
    torch.save(blob, entries[0])
    assert (load_dataset(f"fashion_mnist:{tmp_path / 'f'}").test_x == 7).all()
    # A rewritten original file gives a new key: decoded again, the old entry replaced.
    labels = tmp_path / "f" / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes())
    os.utime(labels, ns=(1, 1))
    again = load_dataset(f"fashion_mnist:{tmp_path / 'f'}")
    assert torch.equal(again.test_x, first.test_x)
    assert len(list((cache / "standard").glob("*.pt"))) == 1 and not entries[0].exists()


@pytest.mark.parametrize(("damage", "fragment"), [
    ("truncated_gzip", "truncated"),
    ("not_gzip", "not a valid gzip file"),
    ("magic", "magic number 2049, expected 2051"),
    ("short", "the file is truncated"),
    ("counts", "holds 50 images but"),
])
def test_a_damaged_idx_file_is_one_line_naming_it(tmp_path: Path, damage: str, fragment: str) -> None:
    folder = tmp_path / "f"
    arrays = write_idx_folder(folder)
    images = folder / "train-images-idx3-ubyte.gz"
    if damage == "truncated_gzip":
        images.write_bytes(images.read_bytes()[:-100])
    elif damage == "not_gzip":
        images.write_bytes(b"<html>404 not found</html>")
    elif damage == "magic":  # a labels file under the images' name
        images.write_bytes(gzip.compress(idx_bytes(arrays["train-labels-idx1-ubyte"])))
    elif damage == "short":
        images.write_bytes(gzip.compress(idx_bytes(arrays["train-images-idx3-ubyte"])[:-28]))
    else:  # 40 labels for 50 images
        labels = folder / "train-labels-idx1-ubyte.gz"
        labels.write_bytes(gzip.compress(idx_bytes(arrays["train-labels-idx1-ubyte"][:40])))
    with pytest.raises(DatasetError) as err:
        load_dataset(f"fashion_mnist:{folder}")
    assert fragment in str(err.value) and str(folder / "train-") in str(err.value)
    if damage == "truncated_gzip":  # the command line: one line, exit 2
        result = harness_cli("datasets", f"fashion_mnist:{folder}")
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert result.stderr.strip().count("\n") == 0 and str(images) in result.stderr


def test_a_folder_without_the_files_says_what_it_reads(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError) as err:
        load_dataset(f"fashion_mnist:{tmp_path / 'empty'}")
    message = str(err.value)
    assert "train-images-idx3-ubyte.gz" in message and "FashionMNIST/raw/" in message and "download=True" in message


# ------------------------------------------------------------------ CIFAR's archive
def test_cifar10_reads_its_original_archive_as_a_file_or_in_a_folder(tmp_path: Path) -> None:
    blobs, arrays = cifar_pickles()
    archive = write_cifar_archive(tmp_path / "dl" / "cifar-10-python.tar.gz", blobs)
    for ref in (f"cifar10:{archive}", f"cifar10:{archive.parent}"):
        data = load_dataset(ref)
        assert data.classes == tuple(f"c{i}" for i in range(10)) and len(data.test_y) == 30
        assert len(data.train_y) + len(data.val_y) == 100
        assert torch.equal(data.test_x[0], torch.from_numpy(arrays["test_batch"][0].reshape(3, 32, 32)))
    # The same pickles extracted read the same.
    extracted = tmp_path / "x" / "cifar-10-batches-py"
    extracted.mkdir(parents=True)
    for name, blob in blobs.items():
        (extracted / name).write_bytes(blob)
    assert torch.equal(load_dataset(f"cifar10:{extracted}").test_x, data.test_x)


def test_a_damaged_cifar_archive_is_one_line_naming_it(tmp_path: Path) -> None:
    blobs, _ = cifar_pickles()
    archive = write_cifar_archive(tmp_path / "cifar-10-python.tar.gz", blobs)
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(DatasetError, match=f"{archive}: "):
        load_dataset(f"cifar10:{archive}")
    # An archive of something else lacks the pickles, and says which.
    other = write_cifar_archive(tmp_path / "other" / "cifar-10-python.tar.gz", {"batches.meta": blobs["batches.meta"]})
    with pytest.raises(DatasetError, match="lacks cifar-10-batches-py/data_batch_1"):
        load_dataset(f"cifar10:{other}")


def test_a_pickle_that_would_run_code_is_refused(tmp_path: Path) -> None:
    class Exploit:
        def __reduce__(self) -> tuple:
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    blobs, _ = cifar_pickles()
    blobs["data_batch_2"] = pickle.dumps({"data": Exploit(), "labels": []})
    archive = write_cifar_archive(tmp_path / "cifar-10-python.tar.gz", blobs)
    with pytest.raises(DatasetError, match="data_batch_2: not a CIFAR pickle .*refused to load"):
        load_dataset(f"cifar10:{archive}")
    assert not (tmp_path / "pwned").exists()


# ------------------------------------------------------------------ --verify
def test_verify_refuses_a_file_that_is_not_the_published_one(tmp_path: Path) -> None:
    write_idx_folder(tmp_path / "f")
    with pytest.raises(DatasetError) as err:
        verify_dataset(f"fashion_mnist:{tmp_path / 'f'}")
    assert "differs from the published" in str(err.value) and "train-images-idx3-ubyte.gz" in str(err.value)
    result = harness_cli("search", "search_spaces/kernel_size.yaml", "--dataset", f"fashion_mnist:{tmp_path / 'f'}",
                         "--verify", "--results", str(tmp_path / "r"))
    assert result.returncode == 2 and "differs from the published" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "r").exists()  # refused before anything was written
    with pytest.raises(DatasetError, match="'folder' has none"):
        load_dataset(f"folder:{tmp_path}", verify=True)


@pytest.mark.skipif(not DEBIAN_FASHION.is_dir() and os.environ.get("CI") != "true",
                    reason="Debian's dataset-fashion-mnist is not installed (CI installs it)")
def test_debians_fashion_mnist_folder_is_read_and_verified_as_it_is() -> None:
    lines = verify_dataset(f"fashion_mnist:{DEBIAN_FASHION}")
    assert len(lines) == 4 and all("match the published MD5" in line or "matches" in line for line in lines)
    data = load_dataset(f"fashion_mnist:{DEBIAN_FASHION}", train_images=1000)
    assert len(data.val_y) == 6000 and len(data.test_y) == 10000 and len(data.train_y) == 1000
    assert data.class_counts("train") == [100] * 10  # a balanced dataset's subset stays balanced
    assert data.class_counts("test") == [1000] * 10
    assert set(PUBLISHED_MD5["fashion_mnist"]) >= {p.name for p in DEBIAN_FASHION.iterdir()}


# ------------------------------------------------------------------ training on a subset
def test_a_training_subset_is_stratified_seeded_and_named(tmp_path: Path) -> None:
    labels = torch.tensor([0] * 60 + [1] * 30 + [2] * 10)
    a = stratified_subset(labels, 20, seed=0)
    assert torch.bincount(labels[a]).tolist() == [12, 6, 2] and torch.equal(a, stratified_subset(labels, 20, 0))
    assert not torch.equal(a, stratified_subset(labels, 20, seed=1))
    assert torch.bincount(labels[stratified_subset(labels, 3, 0)]).tolist() == [1, 1, 1]  # every class kept
    write_idx_folder(tmp_path / "f", n_train=200)
    full = load_dataset(f"fashion_mnist:{tmp_path / 'f'}")
    sub = load_dataset(f"fashion_mnist:{tmp_path / 'f'}", train_images=50)
    assert len(sub.train_y) == 50 and torch.equal(sub.val_x, full.val_x)  # validation stays whole
    # The same validation split (its id unchanged); the subset has an id of its own.
    assert sub.split_id == full.split_id and sub.train_subset[:2] == (50, 180) and len(sub.train_subset[2]) == 12
    assert sub.info()["train_subset"]["images"] == 50 and "subset of 180" in sub.describe()
    for bad, fragment in ((5, "fewer than the 10 classes"), (1000, "more than the 180")):
        with pytest.raises(DatasetError, match=fragment):
            load_dataset(f"fashion_mnist:{tmp_path / 'f'}", train_images=bad)


def test_a_search_on_a_subset_records_it_refuses_another_and_rank_trains_on_all(tmp_path: Path) -> None:
    import json

    from harness import load_space
    from harness.data import DataOptions
    from harness.errors import HarnessError
    from harness.rank.candidates import from_study
    from harness.rank.ranking import RankConfig
    from harness.rank.runs import run_rank
    from harness.search.search_config import SearchConfig
    from harness.search.study import run_search

    space = load_space(str(Path(__file__).resolve().parents[1] / "search_spaces" / "kernel_size.yaml"))
    config = SearchConfig(dataset="digits", trials=2, epochs=1, device="cpu", results_dir=str(tmp_path),
                          data_options=DataOptions(train_images=300))
    frame = run_search(space, config, progress=None)
    assert set(frame["state"]) == {"COMPLETE"}
    run = json.loads((tmp_path / "kernel_size" / "run.json").read_text())["latest"]["dataset"]
    assert run["train"] == 300 and run["train_subset"]["images"] == 300 and run["options"]["train_images"] == 300
    full = load_dataset("digits")
    assert run["val"] == len(full.val_y) and run["split_id"] == full.split_id  # the whole validation split
    with pytest.raises(HarnessError, match="train_subset"):  # another subset does not resume this study
        run_search(space, replace_options(config, train_images=400), progress=None)
    lines: list[str] = []
    candidates, study, _ = from_study(tmp_path / "kernel_size", top=1)
    ranking = run_rank(candidates, RankConfig(seeds=1, epochs=1, device="cpu"), study=study, progress=lines.append)
    n = len(full.train_y)
    assert any(f"trained each trial on a 300-image subset; these runs train on {n} images" in ln for ln in lines)
    assert ranking.info["dataset"]["train"] == n and ranking.info["dataset"]["train_subset"] is None


def replace_options(config: object, **changes: object) -> object:
    import dataclasses

    return dataclasses.replace(config, data_options=dataclasses.replace(config.data_options, **changes))


def test_train_images_in_a_space_file_is_one_whole_number(tmp_path: Path) -> None:
    from harness import load_space
    from harness.errors import SpaceError

    text = (Path(__file__).resolve().parents[1] / "search_spaces" / "kernel_size.yaml").read_text()
    for value, fragment in (("[1000, 2000]", "not searched"), ("1", ">= 2"), ("lots", "integer")):
        path = tmp_path / f"bad{len(fragment)}.yaml"
        path.write_text(text.replace("train:\n", f"train:\n  images: {value}\n"))
        with pytest.raises(SpaceError) as err:
            load_space(str(path))
        assert "train.images" in str(err.value) and str(path) in str(err.value) and fragment in str(err.value)
    good = tmp_path / "subset.yaml"
    good.write_text(text.replace("train:\n", "train:\n  images: 10000\n"))
    subset = load_space(str(good))
    assert subset.train_images == 10000 and "train.images" not in subset.params
