"""User-facing errors: one base class, so the CLI can print a message and exit 2 without a traceback;
and `chain`, an exception with what caused it, which the fault and stop lookups walk."""

from __future__ import annotations

from collections.abc import Iterator


def chain(err: BaseException) -> Iterator[BaseException]:
    """`err`, then its causes and contexts (and a SQLAlchemy error's `orig`), each once."""
    seen: set[int] = set()
    todo: list[BaseException] = [err]
    while todo:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo += [c for c in (e.__cause__, e.__context__, getattr(e, "orig", None)) if isinstance(c, BaseException)]


class HarnessError(Exception):
    """A mistake in what the user asked for (a file, a key, a value, a name); the message says which."""


class InvalidValueError(HarnessError, ValueError):
    """A value out of its allowed range or of the wrong type (the message says what is allowed)."""


class SpecError(InvalidValueError):
    """An architecture spec that cannot be built or cannot work at the given input size."""


class SpaceError(HarnessError, ValueError):
    """A search-space file that cannot be read or is not valid; the message names the file and key."""

    def __init__(self, message: str, path: str | None = None, key: str | None = None) -> None:
        self.path = path
        self.key = key
        where = ""
        if path:
            where = f"{path}: "
        if key:
            where += f"{key}: "
        super().__init__(where + message)


class UnknownNameError(HarnessError, ValueError):
    """A name that is not in a registry; the message lists the valid names."""


class DatasetError(HarnessError):
    """A dataset that cannot be read as asked (missing files, an empty folder, one class, ...);
    the message names the place looked at and what to do."""


class DatasetWarning(UserWarning):
    """Something about a dataset the user should know (skipped files, imbalanced classes); the
    CLI prints it as one line."""


class TrackerWarning(UserWarning):
    """An experiment tracker (MLflow) that stopped answering mid-run: the trials go on without it;
    the CLI prints it as one line."""


class StorageWarning(UserWarning):
    """Something about a study's storage the user should know, that stops nothing (a journal whose
    last record a crash cut off, read up to it or moved aside); the CLI prints it as one line."""
