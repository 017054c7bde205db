"""Datasets read through the real code path from files the tests write in torchvision's exact
on-disk formats (CIFAR's pickles, MNIST's idx files, SVHN's .mat), the digits, the splits, and
the errors a user gets for a dataset that is not there."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.data import DATASETS, DataOptions, dataset_shape, load_dataset, parse_dataset
from harness.data.splits import resize, stratified_split
from harness.errors import DatasetError, UnknownNameError
from tests.support.inprocess import CliResult, run_cli

RNG = np.random.default_rng(0)


# ------------------------------------------------------------------ writers of the on-disk formats
def write_cifar(root: Path, classes: int = 10, per_batch: int = 20, test: int = 30) -> dict[str, np.ndarray]:
    """CIFAR-10 (classes=10) or CIFAR-100 (classes=100) python pickles, as the tarballs hold them."""
    arrays = {}
    if classes == 10:
        folder = root / "cifar-10-batches-py"
        names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        label_key, meta_name, meta = "labels", "batches.meta", {"label_names": [f"c{i}" for i in range(10)]}
    else:
        folder = root / "cifar-100-python"
        names = ["train", "test"]
        label_key, meta_name, meta = "fine_labels", "meta", {"fine_label_names": [f"f{i}" for i in range(100)]}
    folder.mkdir(parents=True)
    for name in names:
        n = test if "test" in name else (per_batch if classes == 10 else per_batch * 5)
        data = RNG.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = [int(i % classes) for i in range(n)]
        with open(folder / name, "wb") as f:
            pickle.dump({"data": data, label_key: labels}, f)
        arrays[name] = data
    with open(folder / meta_name, "wb") as f:
        pickle.dump(meta, f)
    return arrays


def write_idx(folder: Path, prefix: str, n: int) -> np.ndarray:
    """MNIST's raw idx files: big-endian magic 2051 (images) and 2049 (labels), sizes, bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    images = RNG.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n) % 10).astype(np.uint8)
    (folder / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">4i", 2051, n, 28, 28) + images.tobytes())
    (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">2i", 2049, n) + labels.tobytes())
    return images


def write_svhn(root: Path, n_train: int = 40, n_test: int = 20) -> np.ndarray:
    """SVHN's cropped-digit .mat files: X (32, 32, 3, N) uint8, y (N, 1) with 10 for the digit 0."""
    from scipy.io import savemat

    root.mkdir(parents=True, exist_ok=True)
    out = None
    for name, n in (("train_32x32.mat", n_train), ("test_32x32.mat", n_test)):
        x = RNG.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
        y = (np.arange(n) % 10 + 1).reshape(-1, 1).astype(np.uint8)  # 1..10
        savemat(root / name, {"X": x, "y": y})
        out = x if out is None else out
    return out


# ------------------------------------------------------------------ standard datasets
def test_cifar10_is_read_from_its_pickles(tmp_path: Path) -> None:
    arrays = write_cifar(tmp_path)
    data = load_dataset("cifar10", data_dir=tmp_path)
    assert data.input_shape == (3, 32, 32) and data.classes == tuple(f"c{i}" for i in range(10))
    assert len(data.train_y) + len(data.val_y) == 100 and len(data.test_y) == 30
    # The first test image is the first pickle row, channels first: exactly the bytes written.
    expected = torch.from_numpy(arrays["test_batch"][0].reshape(3, 32, 32))
    assert torch.equal(data.test_x[0], expected)
    assert data.test_y.tolist()[:3] == [0, 1, 2]
    assert data.augment.crop_padding == 4 and data.augment.flip
    # Validation is a stratified tenth of the training images: one per class here.
    assert sorted(data.val_y.tolist()) == list(range(10))


def test_cifar100_uses_fine_labels_and_a_path_in_the_name(tmp_path: Path) -> None:
    write_cifar(tmp_path / "c100", classes=100, per_batch=40)
    data = load_dataset(f"cifar100:{tmp_path / 'c100'}")
    assert data.num_classes == 100 and data.classes[7] == "f7"
    assert len(data.train_y) + len(data.val_y) == 200 and data.source == str(tmp_path / "c100")


@pytest.mark.parametrize(("name", "folder"), [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_mnist_family_is_read_from_raw_idx_files(tmp_path: Path, name: str, folder: str) -> None:
    images = write_idx(tmp_path / folder / "raw", "train", 50)
    write_idx(tmp_path / folder / "raw", "t10k", 20)
    data = load_dataset(name, data_dir=tmp_path, val_fraction=0.2)
    assert data.input_shape == (1, 28, 28) and data.num_classes == 10
    assert len(data.train_y) == 40 and len(data.val_y) == 10 and len(data.test_y) == 20
    # Every training image is one of the images written, unchanged.
    written = {img.tobytes() for img in images}
    assert all(x[0].numpy().tobytes() in written for x in data.train_x)
    assert data.augment.flip == (name == "fashion_mnist")


def test_svhn_is_read_from_mat_files_with_10_as_zero(tmp_path: Path) -> None:
    x = write_svhn(tmp_path)
    data = load_dataset("svhn", data_dir=tmp_path, val_fraction=0.25)
    assert data.input_shape == (3, 32, 32) and len(data.test_y) == 20
    assert set(data.train_y.tolist()) | set(data.val_y.tolist()) == set(range(10))
    # Image 9 has label 10 in the file: digit 0. Its pixels are X[:, :, :, 9] channels first.
    image9 = torch.from_numpy(x[:, :, :, 9]).permute(2, 0, 1)
    everything = torch.cat([data.train_x, data.val_x])
    labels = torch.cat([data.train_y, data.val_y])
    match = [i for i in range(len(everything)) if torch.equal(everything[i], image9)]
    assert len(match) == 1 and labels[match[0]] == 0


@pytest.mark.parametrize(("name", "expected"), [
    ("cifar10", "cifar-10-python.tar.gz"),
    ("cifar100", "cifar-100-python/"),
    ("mnist", "MNIST/raw/"),
    ("svhn", "train_32x32.mat"),
])
def test_a_missing_dataset_names_the_folder_the_files_and_download(tmp_path: Path, name: str, expected: str) -> None:
    with pytest.raises(DatasetError) as err:
        load_dataset(name, data_dir=tmp_path)
    message = str(err.value)
    # The API's words (download=True, data_dir), not the CLI's flags (--download)
    assert str(tmp_path) in message and expected in message and "download=True" in message and "data_dir" in message
    assert "--" not in message


def test_a_corrupt_pickle_is_a_dataset_error(tmp_path: Path) -> None:
    write_cifar(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(DatasetError, match="data_batch_3: not a CIFAR pickle"):
        load_dataset("cifar10", data_dir=tmp_path)


def test_data_dir_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_cifar(tmp_path / "env")
    monkeypatch.setenv("HARNESS_DATA", str(tmp_path / "env"))
    assert load_dataset("cifar10").source == str(tmp_path / "env")


# ------------------------------------------------------------------ digits, default, names
def test_digits_are_the_real_scikit_learn_scans() -> None:
    from sklearn.datasets import load_digits

    data = load_dataset("digits")
    assert data.input_shape == (1, 8, 8) and data.num_classes == 10 and data.test_y is None
    assert len(data.train_y) + len(data.val_y) == 1797
    raw = load_digits().images
    assert int(data.train_x.max()) == 255  # 16 grey levels scaled to the full uint8 range
    # The first training image (the split keeps order) is scan 0 or a later one, scaled.
    scaled = {np.round(img * 255 / 16).astype(np.uint8).tobytes() for img in raw}
    assert all(x[0].numpy().tobytes() in scaled for x in data.train_x[:20])
    assert not data.augment.flip


def test_shapes_are_known_without_reading() -> None:
    assert dataset_shape("cifar10") == ((3, 32, 32), 10)
    assert dataset_shape("mnist", image_size=32) == ((1, 32, 32), 10)
    assert dataset_shape("default") == ((3, 32, 32), 10)


@pytest.mark.parametrize(("ref", "fragment"), [
    ("imagenet", "valid: "),
    ("folder", "needs a path"),
    ("digits:/tmp/x", "takes no path"),
    ("cifar10:", "nothing after ':'"),
])
def test_bad_dataset_names_are_explained(ref: str, fragment: str) -> None:
    with pytest.raises((DatasetError, UnknownNameError)) as err:
        parse_dataset(ref)
    assert fragment in str(err.value)
    if "valid" in fragment:
        assert all(name in str(err.value) for name in DATASETS.names())


# ------------------------------------------------------------------ splits and resizing
def test_stratified_split_keeps_class_shares_and_is_seeded() -> None:
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    train, val = stratified_split(labels, 0.2, seed=1)
    assert torch.bincount(labels[val]).tolist() == [10, 6, 4]
    assert sorted(torch.cat([train, val]).tolist()) == list(range(100))
    again, _ = stratified_split(labels, 0.2, seed=1)
    other, _ = stratified_split(labels, 0.2, seed=2)
    assert torch.equal(train, again) and not torch.equal(train, other)


def test_a_rare_class_still_gets_a_validation_image() -> None:
    labels = torch.tensor([0] * 98 + [1] * 2)
    _, val = stratified_split(labels, 0.1, seed=0)
    assert torch.bincount(labels[val]).tolist() == [10, 1]


def test_split_id_follows_the_split(tmp_path: Path) -> None:
    write_cifar(tmp_path)
    a = load_dataset("cifar10", data_dir=tmp_path)
    b = load_dataset("cifar10", data_dir=tmp_path)
    c = load_dataset("cifar10", 1, data_dir=tmp_path)
    assert a.split_id == b.split_id != c.split_id
    assert torch.equal(a.val_y, b.val_y)


def test_resize_scales_the_shorter_side_and_centre_crops() -> None:
    x = torch.zeros(1, 1, 20, 40, dtype=torch.uint8)
    x[..., 10:30] = 255  # a bright centre half
    out = resize(x, 10)
    assert out.shape == (1, 1, 10, 10) and out.dtype == torch.uint8
    # The centre square is what is left: bright, but for the antialiased blend at its edges.
    assert int(out[..., 1:-1].min()) == 255 and int(out.min()) > 200


def test_image_size_resizes_every_split(tmp_path: Path) -> None:
    write_cifar(tmp_path)
    data = DataOptions(data_dir=str(tmp_path), image_size=16).load("cifar10")
    assert data.input_shape == (3, 16, 16) and data.test_x.shape[-2:] == (16, 16)
    assert data.augment.crop_padding == 2  # 4 px at 32, scaled to 16


# ------------------------------------------------------------------ the CLI
def harness_cli(*args: str) -> CliResult:
    return run_cli(*args)  # in this process: see tests/support/inprocess.py


def test_datasets_lists_every_dataset_with_what_it_needs() -> None:
    out = harness_cli("datasets")
    assert out.returncode == 0, out.stderr
    for name in DATASETS.names():
        assert name in out.stdout
    assert out.stdout.count("needs:") == len(DATASETS)


def test_datasets_describes_one_with_its_class_counts(tmp_path: Path) -> None:
    write_cifar(tmp_path)
    out = harness_cli("datasets", "cifar10", "--data-dir", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "90 train / 10 val / 30 test images, 3x32x32, 10 classes" in out.stdout
    assert "c0 9, c1 9" in out.stdout


def test_missing_dataset_in_search_is_one_line_and_exit_2(tmp_path: Path) -> None:
    space = Path(__file__).resolve().parents[1] / "search_spaces" / "kernel_size.yaml"
    out = harness_cli("search", str(space), "--dataset", "cifar10", "--data-dir", str(tmp_path / "none"),
                      "--results", str(tmp_path / "results"))
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "--download" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "results").exists()  # nothing written for a run that could not start


def test_search_runs_end_to_end_on_digits(tmp_path: Path) -> None:
    import json

    import pandas as pd

    space = Path(__file__).resolve().parents[1] / "search_spaces" / "kernel_size.yaml"
    out = harness_cli("search", str(space), "--dataset", "digits", "--trials", "2", "--epochs", "1",
                      "--results", str(tmp_path), "--device", "cpu")
    assert out.returncode == 0, out.stderr
    frame = pd.read_csv(tmp_path / "kernel_size" / "trials.csv")
    assert len(frame) == 2 and set(frame["state"]) == {"COMPLETE"}, frame.get("failure_reason")
    run = json.loads((tmp_path / "kernel_size" / "run.json").read_text())["latest"]
    assert run["dataset"]["name"] == "digits" and run["dataset"]["channels"] == 1
    assert run["dataset"]["image_size"] == [8, 8] and run["dataset"]["split_id"]
    assert run["dataset"]["train"] + run["dataset"]["val"] == 1797
