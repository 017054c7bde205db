"""Your images in torchvision's ImageFolder layout, PATH/<class>/<image files>, registered as "folder".

PATH takes three forms: `folder:PATH` (class folders; validation carved from them later, seeded
and stratified), `folder:TRAIN,VAL` (a separate validation folder in the same layout), and
`folder:PATH` where PATH holds `train/` plus `val/` (or `valid/`, `validation/`) and/or `test/`,
each in that layout (the splits as given; without a validation folder it is carved from train).
Class indices are the sorted class-folder names of the training folder, as in torchvision;
validation and test folders may lack classes but not add any. Image files have torchvision's
extensions (any case); hidden files and folders are skipped, other files ignored with a warning.
Links are followed, each real folder read once (harness.data.sources.tree): a link back to a folder
already read is passed over with a warning, so a loop ends. Names are kept as the file system has
them to open the files; a class's name as stored and shown writes bytes that are not UTF-8 as
backslash escapes (harness.names), and every message shows names printable, on one line.

Each image is decoded once with PIL: EXIF orientation applied, transparency composited onto white
(dropping alpha would expose whatever colour the transparent pixels hold), palettes expanded; one
grey channel when every image is greyscale, else RGB; the shorter side scaled to `size` (bilinear,
antialiased) and the centre cropped square, as harness.data.splits.resize does. The default size
is the median shorter side of the training images, capped at 64 px: a search trains many networks
briefly and each costs in proportion to the pixels; pass --image-size (image_size=) to change it.

Images PIL cannot read, and image names that are not regular files (a dangling link, a pipe), are
skipped with one warning (refused when strict, and when nothing readable is left). A class folder
without readable images is an error, as in torchvision's ImageFolder: that class would still be an
output and count in the class total, yet never be trained or validated on.

Decoded tensors are cached in cache_dir()/folders, keyed by the folder, the classes, every image
file's relative path, byte size and mtime, the size and a format version: a second run reads the
cache; a changed, added or removed file gives a new key, and the file it replaces (same folder and
size) is deleted, so the cache does not grow with each edit.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np
from PIL import Image, ImageOps
from tqdm import tqdm

from harness.data.cache import cache_path, read_cache, write_cache
from harness.data.image_data import Augment, DataRequest, DatasetSource, RawData, fingerprint, register_dataset, warn
from harness.data.sources.tree import Files, Listing, class_folders, image_extensions, list_images
from harness.errors import DatasetError
from harness.names import printable, quoted, stored_name

if TYPE_CHECKING:  # imported where tensors are made: listing the datasets needs no torch
    import torch

CACHE_VERSION = 1  # bump whenever decoding changes, so older cache files are not reused
MAX_DEFAULT_SIZE = 64  # cap of the default image size (see the module docstring)
VAL_NAMES = ("val", "valid", "validation")
IMBALANCE = 10  # warn when the largest training class has more than this times the smallest's images
UNREADABLE = (OSError, ValueError, Image.DecompressionBombError, SyntaxError)  # what PIL raises on bad files
_THREADS = min(8, os.cpu_count() or 1)  # PIL releases the GIL while decoding and resizing
T = TypeVar("T")


@dataclass(frozen=True)
class FolderImages:
    """One class-folder tree decoded: uint8 (N, C, size, size) images, int64 labels, the image
    files PIL could not read (relative paths), and whether they came from the cache."""

    x: torch.Tensor
    y: torch.Tensor
    skipped: tuple[str, ...]
    from_cache: bool


def _map(fn: Callable[[T], object], items: list[T], desc: str, progress: bool) -> Iterator:
    with ThreadPoolExecutor(_THREADS) as pool:
        yield from tqdm(pool.map(fn, items), total=len(items), desc=desc, unit="img", file=sys.stderr,
                        disable=not progress, leave=False)


def _header(path: Path) -> tuple[int, str] | None:
    """(shorter side, mode) from the file's header (PIL opens lazily), or None when unreadable."""
    try:
        with Image.open(path) as img:
            return min(img.size), img.mode
    except UNREADABLE:
        return None


def _is_grey(mode: str) -> bool:
    return mode in ("1", "L", "LA", "La", "I", "F") or mode.startswith("I;16")


def _convert(img: Image.Image, grey: bool) -> Image.Image:
    """`img` as "L" (when `grey`) or "RGB": transparency composited onto white, palettes expanded,
    16-bit and float greys scaled to 8 bits (PIL's own conversion would clip them at 255)."""
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, img.convert("RGBA"))
    elif img.mode in ("I", "F") or img.mode.startswith("I;16"):
        a = np.asarray(img).astype(np.float64)
        if img.mode.startswith("I;16") or (img.mode == "I" and a.max(initial=0) > 255):
            a = a / 257  # the 16-bit range onto 0..255
        elif img.mode == "F" and a.max(initial=0) <= 1:
            a = a * 255  # floats in [0, 1]
        img = Image.fromarray(a.round().clip(0, 255).astype(np.uint8))
    return img.convert("L" if grey else "RGB")


def decode_image(path: Path, size: int, grey: bool) -> np.ndarray | None:
    """The image at `path` as uint8 (size, size, C), C = 1 when `grey` else 3, or None when PIL
    cannot read it: how every folder image is read (the module docstring), also by harness predict."""
    try:
        with Image.open(path) as img:
            img.draft(None, (size, size))  # JPEG: decode at a reduced scale still >= size (much faster)
            img.load()
            with contextlib.suppress(Exception):  # malformed EXIF: keep the pixels as stored
                img = ImageOps.exif_transpose(img)
            img = _convert(img, grey)
            w, h = img.size
            scale = size / min(w, h)
            new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
            if (new_w, new_h) != (w, h):
                img = img.resize((new_w, new_h), Image.Resampling.BILINEAR, reducing_gap=3.0)
            left, top = (new_w - size) // 2, (new_h - size) // 2
            return np.array(img.crop((left, top, left + size, top + size))).reshape(size, size, -1)  # a writable copy
    except UNREADABLE:
        return None


def load_images(root: Path, classes: Sequence[str], size: int | None = None, *, progress: bool = False,
                files: Files | None = None) -> FolderImages:
    """The images in the class folders of `root`, labelled by their index in `classes`, as
    size x size (None: the default size), from the cache when no file changed. `files`: the
    listing when already made (list_images)."""
    import torch

    root = Path(root).expanduser().resolve()
    files = list_images(root, classes).files if files is None else files
    token = size if size is not None else "auto"  # the default size is a function of the files listed
    prefix = fingerprint("folder", str(root), token)
    key = fingerprint(CACHE_VERSION, str(root), tuple(classes), token, files)
    path = cache_path("folders", prefix, key)
    blob = read_cache(path, CACHE_VERSION, ("x", "y"))
    if blob is not None and isinstance(blob.get("skipped"), list):
        return FolderImages(blob["x"], blob["y"], tuple(blob["skipped"]), from_cache=True)

    names = [f[0] for f in files]
    headers = list(_map(lambda rel: _header(root / rel), names, f"reading {root}", progress))
    readable = [h for h in headers if h is not None]
    if size is None:  # median_low: a size some image has
        size = min(MAX_DEFAULT_SIZE, statistics.median_low(h[0] for h in readable)) if readable else MAX_DEFAULT_SIZE
    grey = bool(readable) and all(_is_grey(mode) for _, mode in readable)
    todo = [i for i, h in enumerate(headers) if h is not None]
    skipped = [n for n, h in zip(names, headers, strict=True) if h is None]
    x = torch.empty((len(todo), 1 if grey else 3, size, size), dtype=torch.uint8)
    kept: list[int] = []
    decoded = _map(lambda i: decode_image(root / names[i], size, grey), todo, f"decoding {root}", progress)
    for i, pixels in zip(todo, decoded, strict=True):
        if pixels is None:
            skipped.append(names[i])
        else:
            x[len(kept)] = torch.from_numpy(pixels).permute(2, 0, 1)
            kept.append(i)
    if len(kept) < len(todo):
        x = x[: len(kept)].clone()  # not a view: torch.save would write the view's whole storage
    y = torch.tensor([files[i][1] for i in kept], dtype=torch.int64)
    skipped.sort()
    write_cache(path, {"version": CACHE_VERSION, "x": x, "y": y, "skipped": skipped})
    return FolderImages(x, y, tuple(skipped), from_cache=False)


def _shown(path: Path | str) -> str:
    """A path as a message shows it: one printable line (harness.names.printable)."""
    return printable(str(path))


def _folder(text: str) -> Path:
    path = Path(text.strip()).expanduser()
    if not path.exists():
        raise DatasetError(f"folder dataset: {_shown(path)} does not exist")
    if not path.is_dir():
        archive = path.suffix.lower() in (".zip", ".tar", ".gz", ".tgz", ".xz", ".bz2", ".7z")
        raise DatasetError(f"folder dataset: {_shown(path)} is a file, not a folder of class folders"
                           + ("; unpack the archive first" if archive else ""))
    return path.resolve()


def split_folders(path: str) -> tuple[dict[str, Path], str]:
    """({"train": folder, and "val"/"test" where given}, source text) for the PATH of folder:PATH."""
    if "," in path and not Path(path).expanduser().exists():  # a folder with a comma in its name wins
        parts = path.split(",")
        if len(parts) != 2 or not all(p.strip() for p in parts):
            raise DatasetError(f"folder dataset: {quoted(path)}: give folder:TRAIN,VAL (two folders, one comma)")
        train, val = _folder(parts[0]), _folder(parts[1])
        return {"train": train, "val": val}, f"{train},{val}"
    root = _folder(path)
    subs = set(class_folders(root))
    vals = [n for n in VAL_NAMES if n in subs]
    # train/ must itself hold folders: classes that happen to be named train and test stay classes.
    if "train" in subs and (vals or "test" in subs) and class_folders(root / "train"):
        if len(vals) > 1:
            raise DatasetError(f"folder dataset: {_shown(root)} has {' and '.join(vals)} folders; "
                               "keep one for validation")
        roles = {"train": "train", "val": vals[0] if vals else None, "test": "test" if "test" in subs else None}
        return {role: root / sub for role, sub in roles.items() if sub}, str(root)
    return {"train": root}, str(root)


def _names(items: Sequence[str], most: int) -> str:
    """The first `most` of `items`, printable, and how many more."""
    shown = ", ".join(printable(i) for i in items[:most])
    return shown + (f" and {len(items) - most} more" if len(items) > most else "")


def class_names(folders: Sequence[str], root: Path) -> tuple[str, ...]:
    """The classes as stored and shown: each folder's name with bytes that are not UTF-8 as `\\xNN`
    (harness.names.stored_name); refused when two folders would get the same name."""
    names = tuple(stored_name(f) for f in folders)
    twins = sorted({n for n in names if names.count(n) > 1})
    if twins:
        raise DatasetError(f"folder dataset: {_shown(root)}: class folders {', '.join(map(quoted, twins))} differ "
                           "only in bytes that are not UTF-8 and an escape of them; rename one")
    return names


def _check_train(root: Path, classes: Sequence[str], listing: Listing) -> None:
    where = f"folder dataset: {_shown(root)}"
    if not classes:
        entries = [f for f in os.listdir(root) if not f.startswith(".")]
        loose = sum(f.lower().endswith(image_extensions()) for f in entries)
        what = "is empty" if not entries else "has no class folders" + (f" ({loose} images lie in it)" if loose else "")
        raise DatasetError(f"{where} {what}: expected {_shown(root)}/<class>/<images>")
    if not listing.files:
        others = [f"{len(listing.ignored)} other files"] if listing.ignored else []
        if listing.unreadable:
            others.append(f"{len(listing.unreadable)} unreadable: {_names(listing.unreadable, 3)}")
        raise DatasetError(f"{where} is empty: its class folders hold no {'/'.join(image_extensions())} images"
                           + (f" ({'; '.join(others)})" if others else ""))
    if len(classes) == 1:
        nested = class_folders(root / classes[0])
        hint = f"; if it holds the class folders, use folder:{_shown(root / classes[0])}" if nested else ""
        raise DatasetError(f"{where} has only one class folder ({quoted(classes[0])}): a classifier needs at least "
                           f"two{hint}")
    counts = np.bincount([f[1] for f in listing.files], minlength=len(classes))
    empty = [quoted(c) for c, n in zip(classes, counts, strict=True) if n == 0]
    if empty:
        raise DatasetError(f"{where}: class folder(s) {', '.join(empty)} hold no images; add some or remove the folder")


def _listings(roots: dict[str, Path], folders: tuple[str, ...], source: str) -> dict[str, Listing]:
    """Each split's Listing, checked (the training folder first: it explains most mistakes); the files
    passed over said in one warning line per kind."""
    train_root = roots["train"]
    listings = {"train": list_images(train_root, folders)}
    _check_train(train_root, folders, listings["train"])
    for role in roots.keys() - {"train"}:
        extra = sorted(set(class_folders(roots[role])) - set(folders))
        if extra:
            raise DatasetError(f"folder dataset: {role} folder {_shown(roots[role])} has classes the training folder "
                               f"{_shown(train_root)} lacks: {', '.join(map(quoted, extra))}")
        listings[role] = list_images(roots[role], folders)
        if not listings[role].files:
            raise DatasetError(f"folder dataset: {role} folder {_shown(roots[role])} holds no images")
    ignored = [f for listing in listings.values() for f in listing.ignored]
    if ignored:
        kinds = sorted({Path(f).suffix.lower() or Path(f).name for f in ignored})
        warn(f"ignored {len(ignored)} file(s) that are not images ({_names(kinds, 5)}) in {_shown(source)}")
    loops = [str(roots[role] / rel) for role, listing in listings.items() for rel in listing.loops]
    if loops:
        warn(f"did not follow {len(loops)} folder link(s) back to a folder already read (a loop): {_names(loops, 3)}")
    return listings


def read_folder(request: DataRequest) -> RawData:
    """Train (and validation and test, where given) images of the folder dataset at request.path."""
    if not request.path:
        raise DatasetError("folder dataset needs a path: folder:PATH (one sub-folder per class)")
    roots, source = split_folders(request.path)
    train_root = roots["train"]
    folders = tuple(class_folders(train_root))  # as the file system names them: to open them
    classes = class_names(folders, train_root)
    listings = _listings(roots, folders, source)

    got = {"train": load_images(train_root, folders, request.image_size, progress=request.progress,
                                files=listings["train"].files)}
    size = int(got["train"].x.shape[-1])  # validation and test follow the training size
    for role in roots.keys() - {"train"}:
        got[role] = load_images(roots[role], folders, size, progress=request.progress, files=listings[role].files)
    skipped = sorted(str(roots[role] / rel) for role in got
                     for rel in (*got[role].skipped, *listings[role].unreadable))
    if not len(got["train"].y):
        raise DatasetError(f"folder dataset: {_shown(train_root)}: none of its {len(skipped)} image file(s) is "
                           f"readable: {_names(skipped, 3)}")
    if skipped and request.strict:
        raise DatasetError(f"folder dataset: {len(skipped)} unreadable image file(s): {_names(skipped, 5)}; "
                           "fix or remove them, or run without strict to skip them")
    if skipped:
        warn(f"skipped {len(skipped)} unreadable image file(s): {_names(skipped, 3)}")

    import torch

    counts = torch.bincount(got["train"].y, minlength=len(classes)).tolist()
    unread = [quoted(c) for c, n in zip(classes, counts, strict=True) if n == 0]
    if unread:
        raise DatasetError(f"folder dataset: {_shown(train_root)}: class folder(s) {', '.join(unread)} have no "
                           "readable images")
    small, big = counts.index(min(counts)), counts.index(max(counts))
    if counts[big] > IMBALANCE * counts[small]:
        warn(f"imbalanced classes in {_shown(train_root)}: {quoted(classes[big])} has {counts[big]} images, "
             f"{quoted(classes[small])} only {counts[small]} (over {IMBALANCE}x); accuracy will mostly reflect the "
             "large classes")

    # A grey split beside a colour one: its channel copied thrice (what PIL's L -> RGB gives).
    channels = max(images.x.shape[1] for images in got.values())
    xs = {role: images.x.expand(-1, channels, -1, -1).contiguous() for role, images in got.items()}
    ys = {role: images.y for role, images in got.items()}
    return RawData(train_x=xs["train"], train_y=ys["train"], classes=classes, val_x=xs.get("val"),
                   val_y=ys.get("val"), test_x=xs.get("test"), test_y=ys.get("test"), source=stored_name(source),
                   augment=Augment(crop_padding=size // 8, flip=True))  # natural images: shifts and mirrors


register_dataset(DatasetSource(
    name="folder",
    description="your images: one sub-folder per class (torchvision's ImageFolder layout)",
    needs="PATH: a folder of class folders; folder:TRAIN,VAL for a separate validation folder, "
          "or PATH holding train/ with val/ and/or test/",
    read=read_folder,
    shape=None,
    path="required",
))
