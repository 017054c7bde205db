"""Image folders as a user has them: real PNG and JPEG files written with PIL (colour, grey, RGBA,
palette, 16-bit, corrupt, truncated, stray text files), read through harness.load_dataset and the
folder module's own functions, the decode cache checked on disk, and a search run through the CLI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import harness
from harness.data import DataRequest, cache_dir
from harness.data.sources.image_folder import load_images, read_folder
from harness.errors import DatasetError, DatasetWarning

ROOT = Path(__file__).resolve().parents[1]
COLOURS = {"cat": (220, 30, 30), "dog": (30, 30, 220), "eel": (30, 200, 30)}


pytestmark = pytest.mark.usefixtures("cache")  # tests/conftest.py: each test its own decode cache


def write_images(folder: Path, counts: dict[str, int], size: tuple[int, int] = (16, 16), ext: str = "png") -> Path:
    """`counts[cls]` solid images of the class's colour in folder/cls/, each a slightly different shade."""
    for cls, n in counts.items():
        (folder / cls).mkdir(parents=True, exist_ok=True)
        r, g, b = COLOURS.get(cls, (128, 128, 128))
        for i in range(n):
            Image.new("RGB", size, (r, g, min(255, b + i))).save(folder / cls / f"{i:03d}.{ext}")
    return folder


def read(path: Path | str, **options: object) -> harness.data.RawData:
    """All images of a folder dataset (no split), warnings turned off."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DatasetWarning)
        return read_folder(DataRequest(path=str(path), progress=False, **options))  # type: ignore[arg-type]


def messages(record: list[warnings.WarningMessage]) -> str:
    return "\n".join(str(w.message) for w in record if issubclass(w.category, DatasetWarning))


def mixed_folder(root: Path) -> Path:
    """cat: PNGs of three sizes, an RGBA and a palette image; dog: JPEGs and a greyscale one; plus a
    note, a hidden file, random bytes named .png and a truncated JPEG."""
    write_images(root, {"cat": 8}, size=(20, 16))
    write_images(root, {"dog": 8}, size=(16, 24), ext="jpg")
    Image.new("RGB", (40, 40), COLOURS["cat"]).save(root / "cat" / "big.png")
    Image.new("RGBA", (16, 16), (*COLOURS["cat"], 255)).save(root / "cat" / "rgba.png")
    palette = Image.new("RGB", (16, 16), COLOURS["cat"]).convert("P", palette=Image.Palette.ADAPTIVE)
    palette.save(root / "cat" / "pal.png")
    Image.new("L", (18, 18), 90).save(root / "dog" / "grey.JPG")
    (root / "cat" / "notes.txt").write_text("not an image")
    (root / "dog" / ".DS_Store").write_bytes(b"\0" * 10)
    (root / "cat" / "x.png").write_bytes(np.random.default_rng(0).bytes(300))
    noise = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(root / "dog" / "cut.jpg", quality=95)
    data = (root / "dog" / "cut.jpg").read_bytes()
    (root / "dog" / "cut.jpg").write_bytes(data[: len(data) // 2])
    return root


def test_mixed_folder_through_load_dataset(tmp_path: Path) -> None:
    folder = mixed_folder(tmp_path / "pets")
    with pytest.warns(DatasetWarning) as record:
        data = harness.load_dataset(f"folder:{folder}", image_size=12, seed=0)
    text = messages(record)
    assert "ignored 1 file(s) that are not images (.txt)" in text
    assert "skipped 2 unreadable image file(s)" in text and "x.png" in text and "cut.jpg" in text
    assert data.classes == ("cat", "dog")
    assert data.input_shape == (3, 12, 12) and data.train_x.dtype == torch.uint8 and data.train_y.dtype == torch.int64
    assert len(data.train_y) + len(data.val_y) == 11 + 9  # readable images only
    assert data.class_counts("val") == [1, 1] and data.test_y is None
    assert data.augment == harness.data.Augment(crop_padding=1, flip=True) and data.source == str(folder.resolve())
    # Labels follow the folders: cats are red, dogs blue (the grey dog is grey in all three channels).
    x = data.train_x.float().mean(dim=(2, 3))
    for image, label in zip(x, data.train_y.tolist(), strict=True):
        r, _, b = image.tolist()
        assert (r > b + 50) if label == 0 else (b > r + 50 or abs(r - b) < 3)


def test_labels_follow_sorted_class_names(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    for name, value in (("b_two", 40), ("a_one", 120), ("C_zero", 200)):  # sorted: C_zero, a_one, b_two
        (folder / name).mkdir(parents=True)
        for i in range(3):
            Image.new("L", (8, 8), value).save(folder / name / f"{i}.png")
    raw = read(folder)
    assert raw.classes == ("C_zero", "a_one", "b_two")
    for label, value in enumerate((200, 120, 40)):
        assert (raw.train_x[raw.train_y == label] == value).all()


def test_all_grey_keeps_one_channel_and_scales_16_bit(tmp_path: Path) -> None:
    folder = tmp_path / "grey"
    (folder / "a").mkdir(parents=True)
    (folder / "b").mkdir()
    Image.new("L", (10, 10), 50).save(folder / "a" / "l.png")
    Image.new("1", (10, 10), 1).save(folder / "a" / "bw.png")
    Image.new("LA", (10, 10), (0, 0)).save(folder / "a" / "la.png")  # transparent black -> white
    Image.fromarray(np.full((10, 10), 65535, dtype=np.uint16)).save(folder / "b" / "deep.png")  # 16-bit white
    Image.new("L", (10, 10), 200).save(folder / "b" / "l.jpg")
    raw = read(folder)
    assert raw.train_x.shape == (5, 1, 10, 10)
    assert sorted(int(v) for v in raw.train_x[:, 0, 5, 5]) == [50, 200, 255, 255, 255]


def test_transparency_composited_on_white(tmp_path: Path) -> None:
    folder = tmp_path / "alpha"
    for name in ("a", "b", "c"):
        (folder / name).mkdir(parents=True)
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)  # left half fully transparent black
    rgba[:, 4:] = (255, 0, 0, 128)  # right half half-transparent red
    Image.fromarray(rgba, "RGBA").save(folder / "a" / "rgba.png")
    palette = Image.new("P", (8, 8), 1)
    palette.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    palette.save(folder / "b" / "pal.png", transparency=1)  # palette index 1 transparent
    Image.new("RGB", (8, 8), (0, 0, 0)).save(folder / "c" / "rgb.png")
    raw = read(folder)
    by_class = {raw.classes[int(y)]: x for x, y in zip(raw.train_x, raw.train_y, strict=True)}
    assert by_class["a"][:, 3, 0].tolist() == [255, 255, 255]  # not the black hidden under alpha 0
    assert by_class["a"][0, 3, 7] == 255 and 120 <= int(by_class["a"][1, 3, 7]) <= 135
    assert by_class["b"][:, 3, 3].tolist() == [255, 255, 255]  # not the palette's green
    assert by_class["c"].sum() == 0


def test_default_size_is_median_shorter_side_capped_at_64(tmp_path: Path) -> None:
    small = tmp_path / "small"
    for cls, sides in (("a", [(30, 20), (24, 40)]), ("b", [(28, 28), (50, 26), (22, 60)])):
        (small / cls).mkdir(parents=True)
        for i, wh in enumerate(sides):
            Image.new("RGB", wh, (i, i, i)).save(small / cls / f"{i}.png")
    assert read(small).train_x.shape[-2:] == (24, 24)  # shorter sides 20, 22, 24, 26, 28
    big = write_images(tmp_path / "big", {"cat": 2, "dog": 2}, size=(150, 100))
    raw = read(big)
    assert raw.train_x.shape[-2:] == (64, 64) and raw.augment.crop_padding == 8
    assert read(big, image_size=20).train_x.shape[-2:] == (20, 20)


def test_resize_keeps_the_centre(tmp_path: Path) -> None:
    folder = tmp_path / "wide"
    (folder / "a").mkdir(parents=True)
    (folder / "b").mkdir()
    stripes = np.zeros((30, 90, 3), dtype=np.uint8)
    stripes[:, :30, 0], stripes[:, 30:60, 1], stripes[:, 60:, 2] = 255, 255, 255  # red | green | blue
    Image.fromarray(stripes).save(folder / "a" / "wide.png")
    Image.fromarray(stripes.transpose(1, 0, 2).copy()).save(folder / "b" / "tall.png")
    raw = read(folder, image_size=10)
    assert raw.train_x.shape == (2, 3, 10, 10)
    centre = raw.train_x[:, :, 2:8, 2:8]  # the borders blend a little with the cropped stripes
    assert (centre[:, 1] == 255).all() and (centre[:, [0, 2]] == 0).all()
    assert raw.train_x[:, 1].min() > 200 and raw.train_x[:, [0, 2]].max() < 50


def test_exif_orientation_applied(tmp_path: Path) -> None:
    folder = tmp_path / "exif"
    (folder / "a").mkdir(parents=True)
    (folder / "b").mkdir()
    pixels = np.zeros((8, 16, 3), dtype=np.uint8)
    pixels[:, :8, 0], pixels[:, 8:, 2] = 255, 255  # stored: red left, blue right
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display": red on top, blue below
    Image.fromarray(pixels).save(folder / "a" / "turned.jpg", exif=exif, quality=95)
    Image.new("RGB", (8, 8)).save(folder / "b" / "plain.png")
    x = read(folder, image_size=8).train_x[0].int()
    assert x[0, 1, 4] > 200 and x[2, 1, 4] < 60  # top: red
    assert x[2, 6, 4] > 200 and x[0, 6, 4] < 60  # bottom: blue


def test_unreadable_files_skipped_with_a_warning_or_refused_when_strict(tmp_path: Path) -> None:
    folder = mixed_folder(tmp_path / "pets")
    with pytest.warns(DatasetWarning) as record:
        read_folder(DataRequest(path=str(folder), progress=False))
    assert re.search(r"skipped 2 unreadable image file\(s\): \S+/cat/x\.png, \S+/dog/cut\.jpg$", messages(record), re.M)
    (folder / "cat" / "notes.txt").unlink()  # only the unreadable files left to complain about
    # Refused, also when the decoded images come from the cache.
    with pytest.raises(DatasetError, match=r"2 unreadable image file\(s\): .*x\.png.*cut\.jpg"):
        harness.load_dataset(f"folder:{folder}", strict=True)
    (folder / "cat" / "x.png").unlink()
    (folder / "dog" / "cut.jpg").unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("error", DatasetWarning)
        assert len(harness.load_dataset(f"folder:{folder}", strict=True).classes) == 2


def test_cache_reused_then_invalidated_by_changed_added_or_removed_files(tmp_path: Path, cache: Path) -> None:
    folder = write_images(tmp_path / "d", {"cat": 4, "dog": 4})
    classes = ("cat", "dog")
    first = load_images(folder, classes, 16)
    again = load_images(folder, classes, 16)
    assert not first.from_cache and again.from_cache
    assert torch.equal(first.x, again.x) and torch.equal(first.y, again.y)
    cached = list((cache / "folders").glob("*.pt"))
    assert len(cached) == 1 and cache_dir() == cache

    target = folder / "cat" / "000.png"
    stat = target.stat()
    Image.new("RGB", (16, 16), (0, 255, 0)).save(target)  # same name, new pixels
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    changed = load_images(folder, classes, 16)
    assert not changed.from_cache and not torch.equal(changed.x, first.x)
    assert load_images(folder, classes, 16).from_cache

    Image.new("RGB", (16, 16), (9, 9, 9)).save(folder / "dog" / "new.png")
    added = load_images(folder, classes, 16)
    assert not added.from_cache and len(added.y) == 9
    (folder / "dog" / "new.png").unlink()
    removed = load_images(folder, classes, 16)
    assert not removed.from_cache and torch.equal(removed.x, changed.x)
    assert len(list((cache / "folders").glob("*.pt"))) == 1  # older versions removed, not piled up
    assert len(list((cache / "folders").glob("*"))) == 1  # no temporary file left behind

    load_images(folder, classes, 8)  # another size: its own file beside the first
    assert len(list((cache / "folders").glob("*.pt"))) == 2


def test_corrupt_cache_file_is_ignored_and_rewritten(tmp_path: Path, cache: Path) -> None:
    folder = write_images(tmp_path / "d", {"cat": 3, "dog": 3})
    first = load_images(folder, ("cat", "dog"))  # default size
    (path,) = (cache / "folders").glob("*.pt")
    path.write_bytes(b"not a torch file")
    redone = load_images(folder, ("cat", "dog"))
    assert not redone.from_cache and torch.equal(redone.x, first.x)
    assert load_images(folder, ("cat", "dog")).from_cache


def test_second_load_dataset_reads_the_cache(tmp_path: Path, cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_images(tmp_path / "d", {"cat": 5, "dog": 5})
    one = harness.load_dataset(f"folder:{folder}", seed=1, progress=True)
    assert f"decoding {folder.resolve()}" in capsys.readouterr().err  # tqdm on stderr, naming the folder
    written = {p: p.stat().st_mtime_ns for p in (cache / "folders").glob("*.pt")}
    two = harness.load_dataset(f"folder:{folder}", seed=1, progress=True)
    assert "decoding" not in capsys.readouterr().err  # nothing decoded the second time
    assert {p: p.stat().st_mtime_ns for p in (cache / "folders").glob("*.pt")} == written  # read, not rewritten
    assert torch.equal(one.train_x, two.train_x) and one.split_id == two.split_id


def test_separate_validation_folder(tmp_path: Path) -> None:
    train = write_images(tmp_path / "train", {"cat": 6, "dog": 6, "eel": 6})
    val = write_images(tmp_path / "val", {"cat": 2, "eel": 3}, size=(30, 20))  # a subset of the classes
    data = harness.load_dataset(f"folder:{train},{val}")
    assert data.classes == ("cat", "dog", "eel")
    assert len(data.train_y) == 18 and data.class_counts("val") == [2, 0, 3]  # not carved from train
    assert data.val_x.shape[1:] == data.train_x.shape[1:] == (3, 16, 16)  # validation follows train's size
    assert data.source == f"{train.resolve()},{val.resolve()}"
    write_images(val, {"fox": 1, "ant": 1})
    with pytest.raises(DatasetError, match=r"val folder .* has classes the training folder .* lacks: 'ant', 'fox'"):
        harness.load_dataset(f"folder:{train},{val}")


def test_train_val_test_sub_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "photos"
    write_images(root / "train", {"cat": 8, "dog": 8})
    write_images(root / "validation", {"cat": 2, "dog": 2})
    write_images(root / "test", {"cat": 3, "dog": 1})
    monkeypatch.setenv("HOME", str(tmp_path))  # and the path given with ~
    data = harness.load_dataset("folder:~/photos")
    assert data.classes == ("cat", "dog") and len(data.train_y) == 16
    assert data.class_counts("val") == [2, 2] and data.class_counts("test") == [3, 1]
    assert data.test_x.shape == (4, 3, 16, 16) and data.source == str(root.resolve())

    (root / "validation").rename(root / "other")  # train/ and test/ only: validation carved from train
    data = harness.load_dataset(f"folder:{root}")
    assert len(data.train_y) + len(data.val_y) == 16 and data.class_counts("test") == [3, 1]
    assert "other" not in data.classes


def test_grey_split_beside_a_colour_split_gets_three_channels(tmp_path: Path) -> None:
    train = tmp_path / "train"
    for cls in ("a", "b"):
        (train / cls).mkdir(parents=True)
        Image.new("L", (8, 8), 77).save(train / cls / "g.png")
    val = write_images(tmp_path / "val", {"a": 1}, size=(8, 8))
    raw = read(f"{train},{val}")
    assert raw.train_x.shape == (2, 3, 8, 8) and (raw.train_x == 77).all() and raw.val_x.shape == (1, 3, 8, 8)


def test_carved_split_is_stratified_and_seeded(tmp_path: Path) -> None:
    folder = write_images(tmp_path / "d", {"cat": 20, "dog": 10})
    a, b, c = (harness.load_dataset(f"folder:{folder}", seed=s, val_fraction=0.2) for s in (3, 3, 4))
    assert a.split_id == b.split_id and torch.equal(a.val_x, b.val_x)
    assert a.split_id != c.split_id and not torch.equal(a.val_x, c.val_x)
    assert a.class_counts("val") == [4, 2] == c.class_counts("val")


def test_imbalance_warning_names_the_extreme_classes(tmp_path: Path) -> None:
    folder = write_images(tmp_path / "d", {"cat": 23, "dog": 4, "eel": 2})
    with pytest.warns(DatasetWarning, match=r"imbalanced classes .*'cat' has 23 images, 'eel' only 2"):
        read_folder(DataRequest(path=str(folder), progress=False))
    balanced = write_images(tmp_path / "e", {"cat": 10, "dog": 1})  # 10x exactly: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error", DatasetWarning)
        read_folder(DataRequest(path=str(balanced), progress=False))


def _bad(tmp_path: Path, case: str) -> Path:
    root = tmp_path / case
    if case == "missing":
        return root
    if case == "file":
        root = root.with_suffix(".zip")
        root.write_bytes(b"PK\3\4")
        return root
    root.mkdir()
    if case == "loose":
        Image.new("RGB", (8, 8)).save(root / "a.png")
    elif case == "no_images":
        (root / "cat").mkdir()
        (root / "dog").mkdir()
        (root / "dog" / "readme.txt").write_text("x")
    elif case == "one_class":
        write_images(root, {"cat": 3})
    elif case == "nested":
        write_images(root / "train", {"cat": 3, "dog": 3})
    elif case == "empty_class":
        write_images(root, {"cat": 3, "dog": 3})
        (root / "eel").mkdir()
    elif case == "unreadable_class":
        write_images(root, {"cat": 3})
        (root / "dog").mkdir()
        (root / "dog" / "a.png").write_bytes(b"garbage")
    return root


@pytest.mark.parametrize(("case", "message"), [
    ("missing", r"missing does not exist"),
    ("file", r"file\.zip is a file, not a folder of class folders; unpack the archive first"),
    ("empty", r"empty is empty"),
    ("loose", r"loose has no class folders \(1 images lie in it\)"),
    ("no_images", r"no_images is empty: its class folders hold no .*png.* images \(1 other files\)"),
    ("one_class", r"only one class folder \('cat'\): a classifier needs at least two"),
    ("nested", r"only one class folder \('train'\).*use folder:.*nested/train"),
    ("empty_class", r"class folder\(s\) 'eel' hold no images"),
    ("unreadable_class", r"class folder\(s\) 'dog' have no readable images"),
])
def test_bad_input_is_one_clear_error(tmp_path: Path, case: str, message: str) -> None:
    path = _bad(tmp_path, case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DatasetWarning)
        with pytest.raises(DatasetError, match=message) as err:
            harness.load_dataset(f"folder:{path}")
    assert "\n" not in str(err.value)


def test_bad_path_forms(tmp_path: Path) -> None:
    train = write_images(tmp_path / "t", {"cat": 2, "dog": 2})
    with pytest.raises(DatasetError, match="two folders, one comma"):
        harness.load_dataset(f"folder:{train},{train},{train}")
    with pytest.raises(DatasetError, match="nope does not exist"):
        harness.load_dataset(f"folder:{train},{tmp_path / 'nope'}")
    with pytest.raises(DatasetError, match="needs a path"):
        harness.load_dataset("folder")


def test_search_on_a_folder_through_the_cli(tmp_path: Path) -> None:
    folder = write_images(tmp_path / "shapes", {"cat": 12, "dog": 12})
    results = tmp_path / "results"
    env = {**os.environ, "HARNESS_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "search", str(ROOT / "search_spaces" / "kernel_size.yaml"),
         "--dataset", f"folder:{folder}", "--trials", "2", "--epochs", "1", "--results", str(results),
         "--device", "cpu"],
        capture_output=True, text=True, env=env, timeout=240,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    trials = pd.read_csv(results / "kernel_size" / "trials.csv")
    assert (trials["state"] == "COMPLETE").sum() == 2
