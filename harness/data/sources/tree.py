"""Walking an image-folder tree someone else made: `class_folders` (the classes, sorted as torchvision
sorts them), `walk_images` (every file under a folder, links followed) and `list_images` (a
`Listing` of a class-folder tree: the image files with their labels, and what was passed over).

Links are followed, as ImageFolder follows them, but each real folder is read once: a link back to a
folder already read (a link to its parent or to itself, the dataset folder or any folder above it)
is passed over and counted, so a loop cannot recurse forever and a lattice of links cannot multiply
the work. A name with an image extension that is not a regular file (a dangling or looping link, a
pipe, a device, a folder) is unreadable: reading a pipe would wait forever. Hidden files and folders
(a leading dot) are skipped, as before.

Names are kept as the file system gives them (str, undecodable bytes as surrogates), so that the
files can be opened; harness.names turns them into what is shown and stored.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

Files = list[tuple[str, int, int, int]]  # (relative path, label, bytes, mtime_ns), sorted by path


def image_extensions() -> tuple[str, ...]:
    from torchvision.datasets.folder import IMG_EXTENSIONS  # imported here: torchvision is slow to import

    return tuple(ext.lower() for ext in IMG_EXTENSIONS)


def _key(path: str | Path) -> tuple[int, int] | None:
    """(device, inode) of the folder at `path`, links followed; None when it cannot be reached."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return (info.st_dev, info.st_ino)


def _folder_and_above(root: Path) -> set[tuple[int, int]]:
    """The keys of `root` and of every folder above it: a link to any of them leads back into itself."""
    keys = set()
    for folder in (root, *Path(os.path.abspath(root)).parents):
        key = _key(folder)
        if key is not None:
            keys.add(key)
    return keys


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()  # follows links; False for a dangling or looping one
    except OSError:
        return False


def class_folders(root: Path) -> list[str]:
    """Sorted names of the non-hidden sub-folders of `root` (the classes, ordered as torchvision does),
    without links that lead back to `root` or above."""
    above = _folder_and_above(root)
    with os.scandir(root) as entries:
        return sorted(e.name for e in entries
                      if not e.name.startswith(".") and _is_dir(e) and _key(e.path) not in above)


@dataclass
class Walked:
    """What a walk passed over besides the files it yielded: files without an image extension
    (`others`), image names that are not regular files (`unreadable`), folders it could not list
    (`unlisted`), and links to folders it had read (`loops`)."""

    others: list[Path] = field(default_factory=list)
    unreadable: list[Path] = field(default_factory=list)
    unlisted: list[Path] = field(default_factory=list)
    loops: list[Path] = field(default_factory=list)


def walk_images(top: Path, walked: Walked, seen: set[tuple[int, int]] | None = None
                ) -> Iterator[tuple[Path, os.stat_result]]:
    """(path, stat) of every regular file with an image extension under `top`, at any depth, links
    followed, each real folder read once (`seen`: folders already read, to share between walks); the
    rest goes into `walked`. In no particular order."""
    extensions = image_extensions()
    seen = _folder_and_above(top) if seen is None else seen
    top_key = _key(top)
    if top_key is not None:  # else scandir fails below, and says so in walked.unlisted
        seen.add(top_key)
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError:
            walked.unlisted.append(folder)
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            if _is_dir(entry):
                key = _key(path)
                if key is None or key in seen:
                    walked.loops.append(path)
                else:
                    seen.add(key)
                    stack.append(path)
            elif not entry.name.lower().endswith(extensions):
                walked.others.append(path)
            else:
                try:
                    info = path.stat()
                except OSError:  # a dangling link, a link to itself, no permission
                    walked.unreadable.append(path)
                    continue
                if stat.S_ISREG(info.st_mode):
                    yield path, info
                else:  # a pipe or a device: opening it could wait forever
                    walked.unreadable.append(path)


@dataclass
class Listing:
    """A class-folder tree listed: the image files (`files`, see Files) and, as paths relative to the
    tree, other files ignored (not image extensions), names that are not readable files, and folder
    links passed over (loops)."""

    files: Files
    ignored: list[str]
    unreadable: list[str]
    loops: list[str]


def list_images(root: Path, classes: Sequence[str]) -> Listing:
    """The images in the class folders of `root`, walked to any depth as ImageFolder does (each real
    folder once); labels index `classes` (names as class_folders gives them)."""
    above = _folder_and_above(root)
    walked = Walked()
    files: Files = []
    with os.scandir(root) as it:
        tops = sorted((e for e in it if not e.name.startswith(".") and _is_dir(e)), key=lambda e: e.name)
    for entry in tops:
        if _key(entry.path) in above:
            walked.loops.append(Path(entry.path))
            continue
        if entry.name not in classes:  # a validation folder may lack classes
            continue
        label = classes.index(entry.name)
        # Each class reads each real folder once: two classes may be links to one folder, as before.
        for path, info in walk_images(Path(entry.path), walked, set(above)):
            files.append((path.relative_to(root).as_posix(), label, info.st_size, info.st_mtime_ns))

    def rel(paths: list[Path]) -> list[str]:
        return sorted(p.relative_to(root).as_posix() for p in paths)

    return Listing(sorted(files), rel(walked.others), rel(walked.unreadable + walked.unlisted), rel(walked.loops))
