"""Faults of the machine, not of the user's request, in one line each: a full disk, a folder or
storage that is read-only or someone else's, a storage file that is damaged. `describe(err)` finds
the fault anywhere in an exception's chain and words it; `in_folder(folder)` turns one met while
working on a results folder into a HarnessError naming that folder.

The chain matters: SQLite's "database or disk is full" reaches the caller as sqlalchemy's
OperationalError, sometimes as the context of the error Optuna raises while it gives up on the
trial; an OSError may come wrapped by a library. Nothing here imports sqlalchemy: a fault of it is
known by its class's module and SQLite's own words (`harness --help` must not load it).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from collections.abc import Iterator
from pathlib import Path

from harness.errors import HarnessError, chain

NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
NOT_WRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)
DISK = (*NO_SPACE, *NOT_WRITABLE, errno.EIO)
# SQLite's words (sqlite3's error messages, as sqlalchemy passes them on) -> the kind of fault.
_SQLITE_WORDS = (("database or disk is full", "space"), ("readonly database", "read-only"),
                 ("unable to open database file", "open"), ("disk I/O error", "io"),
                 ("database disk image is malformed", "damaged"), ("file is not a database", "damaged"))


class FolderFaultError(HarnessError):
    """A results folder or its storage that the machine cannot write or read (a full disk, a
    read-only or foreign folder, a damaged storage file); the message names the folder."""


def _sqlite_kind(err: BaseException) -> str | None:
    """The kind of an SQLite fault ("space", "read-only", "open", "io", "damaged"), None for others."""
    module = type(err).__module__.split(".")[0]
    if module not in ("sqlalchemy", "sqlite3"):
        return None
    text = str(err)
    return next((kind for words, kind in _SQLITE_WORDS if words in text), None)


def find(err: BaseException) -> BaseException | None:
    """The fault of the disk in `err`'s chain: an OSError for no space, no permission, a read-only
    file system or an I/O error, or an SQLite error SQLite words as one; None when there is none
    (a bug, the user's mistake, a server that does not answer)."""
    for e in chain(err):
        if isinstance(e, HarnessError):
            return None  # already said in the user's terms
        if (isinstance(e, OSError) and e.errno in DISK) or _sqlite_kind(e):
            return e
    return None


def _user() -> str:
    with contextlib.suppress(KeyError, ImportError):
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    return f"uid {os.geteuid()}"


def _owner(path: Path) -> str | None:
    """Who owns `path`, or the nearest folder above it that exists (None when unknown)."""
    for p in (path, *path.parents):
        try:
            uid = p.stat().st_uid
        except OSError:
            continue
        with contextlib.suppress(KeyError, ImportError):
            import pwd

            return pwd.getpwuid(uid).pw_name
        return f"uid {uid}"
    return None


def _target_name(name: str) -> str:
    """The file a temporary file of harness.files.atomic_write stands for (`name` for any other)."""
    match = re.fullmatch(r"\.(.+)\.\d+\.tmp.*", name)
    return match.group(1) if match else name


def describe(err: BaseException, folder: Path | None = None, storage: str | None = None) -> str | None:
    """One line for the machine's fault in `err` (see `find`), naming `folder` (a results folder)
    or else the file it met, and what to do; None when `err` holds no such fault. `storage`: the
    storage as it may be shown, named when SQLite reports it damaged."""
    fault = find(err)
    if fault is None:
        return None
    name = getattr(fault, "filename", None)
    file = Path(os.fsdecode(name)) if isinstance(name, (str, bytes, os.PathLike)) else None
    if file is not None:
        file = file.with_name(_target_name(file.name))
    where = str(folder) if folder is not None else (str(file) if file is not None else "the results folder")
    kind = _sqlite_kind(fault)
    writing = f" (writing {file.name})" if file is not None and folder is not None else ""
    writing = " (writing the storage)" if kind else writing
    if kind == "damaged":
        what = storage or (str(folder / "study.db") if folder is not None else "the storage")
        kept = folder is not None and (folder / "trials.csv").is_file()
        return (f"the storage {what} is damaged ({str(fault).splitlines()[0]}): restore a copy, or move it "
                f"aside to start afresh{'; trials.csv beside it holds the trials as last written' if kept else ''}")
    code = getattr(fault, "errno", None)
    if kind == "space" or code in NO_SPACE:
        return (f"no space left on device for {where}{writing}: free some space, then run the same command "
                "again (what was saved is kept; a search resumes where it stopped)")
    if code == errno.EROFS:
        return f"{where} is not writable (read-only file system{': ' + file.name if file and folder else ''})"
    if kind == "read-only":  # SQLite opened the file read-only: a read-only mount, or someone else's file
        return (f"the storage in {where} is not writable by {_user()} (SQLite: {str(fault).splitlines()[0]}): is "
                "the file or its folder read-only, or someone else's?")
    if code in (errno.EACCES, errno.EPERM):
        target = file if file is not None else folder
        owner = _owner(target) if target is not None else None
        readable = target is None or not target.exists() or os.access(target, os.R_OK)
        owned = f", owned by {owner}" if owner and owner != _user() else ""
        return (f"{target or where} is not {'writable' if readable else 'readable'} by {_user()} (permission "
                f"denied{owned}): use a folder of your own (--results DIR, --out DIR) or ask its owner")
    if kind == "open":
        return f"cannot open the storage in {where} ({str(fault).splitlines()[0]}): is the folder writable?"
    detail = getattr(fault, "strerror", None) or str(fault).splitlines()[0]  # an I/O error
    return f"{detail} in {where}{writing}: the disk may be failing; check it, then run the same command again"


@contextlib.contextmanager
def in_folder(folder: Path, storage: str | None = None) -> Iterator[None]:
    """Work on results folder `folder`: a fault of the machine met inside becomes a
    FolderFaultError (one line naming the folder); anything else passes unchanged."""
    try:
        yield
    except Exception as err:
        line = describe(err, Path(folder), storage)
        if line is None:
            raise
        raise FolderFaultError(line) from err
