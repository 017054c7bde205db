"""Names and files made by someone else, written for real: `image_folder` makes a class-folder tree
whose class and file names hold HTML, quotes, commas, a newline, bytes that are not UTF-8 and 255
bytes, beside files that are no image (text named .png, zero bytes, a truncated PNG, an unknown
extension), links that loop (to the parent folder, to the dataset folder, to itself), a dangling
link and a named pipe. `SCRIPTS` are strings that would run or make an element if a page did not
escape them: each calls console.log, which the headless browser check (tests/support/browser.py) sees."""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image

# Strings that would act if unescaped; none holds "/", so each can also be a file or study name.
SCRIPTS = ("<img src=x onerror=console.log('pwned-img')>", "<script>console.log('pwned-script')<\\script>",
           "<b>bold", "it's \"quoted\", with, commas & <i>")
NON_UTF8 = os.fsdecode(b"caf\xe9")  # as Python reads the folder: the byte 0xe9 as a lone surrogate
LONG = "L" * 255  # bytes: the longest name ext4 and tmpfs allow
# Class folders as on disk, and the names they must get (bytes that are not UTF-8 as backslash escapes).
CLASSES = (SCRIPTS[0], SCRIPTS[2], SCRIPTS[3], "new\nline", NON_UTF8, LONG)
STORED = tuple("caf\\xe9" if c == NON_UTF8 else c for c in CLASSES)
IMAGES_PER_CLASS = 4
# Image files with awkward names, all readable (in the first class folder).
ODD_FILES = ("<b>x<b>.png", "a,b.png", "\"q'.png", "nl\n.png", os.fsdecode(b"\xff\xfe.png"), "N" * 251 + ".png")
# Names with an image extension that are not images a reader can take, in the first class folder.
UNREADABLE = ("cut.png", "empty.png", "gone.png", "notes.png", "pipe.png", "self.png")


def colour(k: int, i: int) -> tuple[int, int, int]:
    """The colour of image i of class k: classes differ in red and green, so a network can tell them."""
    return (40 * k, 255 - 40 * k, (60 * i) % 256)


def image_folder(root: Path, pipe: bool = True) -> Path:
    """The tree above at `root` (CLASSES, IMAGES_PER_CLASS 8x8 PNGs each, ODD_FILES and the junk in
    the first class); `pipe`: with a named pipe called pipe.png (a reader that opened it would wait
    forever)."""
    root.mkdir(parents=True)
    for k, name in enumerate(CLASSES):
        folder = root / name
        folder.mkdir()
        for i in range(IMAGES_PER_CLASS):
            Image.new("RGB", (8, 8), colour(k, i)).save(folder / f"{i}.png")
    first = root / CLASSES[0]
    for name in ODD_FILES:
        Image.new("RGB", (8, 8), colour(0, 9)).save(first / name)
    Image.new("RGB", (8, 8)).save(first / "cut.png")
    (first / "cut.png").write_bytes((first / "cut.png").read_bytes()[:40])  # the header, not the pixels
    (first / "empty.png").write_bytes(b"")
    (first / "notes.png").write_text("not an image\n")
    (first / "data.xyz").write_bytes(b"\x00\x01\x02")
    os.symlink("..", first / "up")  # a folder link to the dataset folder, from inside a class
    os.symlink(".", root / "loop")  # a class-level link to the dataset folder itself
    os.symlink("self.png", first / "self.png")  # a link to itself
    os.symlink("missing.png", first / "gone.png")  # dangling
    if pipe:
        os.mkfifo(first / "pipe.png")
    return root


def tree(top: Path) -> set[str]:
    """Every path under `top` (relative, links not followed): to show that nothing else was written."""
    return {os.path.relpath(os.path.join(here, n), top) for here, dirs, files in os.walk(top) for n in dirs + files}
