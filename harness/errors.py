"""User-facing errors: one base class, so the CLI can print a message and exit 2 without a traceback;
and `chain`, an exception with what caused it, which the fault and stop lookups walk.

The API speaks settings, the CLI speaks flags: a message that names a setting (a keyword of the
API, like `storage` or `study_name`) writes it as a field of its template, `{storage}`, and lists
it in `settings`. `str(err)` names the setting as the API spells it, the name a notebook user
typed; the CLI words the same error with its flags (`err.worded({"storage": "--storage"})`,
harness.cli.flags). A field has one of three forms:

    template            str(err)           worded with the flag --storage
    {storage}           storage            --storage
    {storage URL}       storage            --storage URL       (what the flag takes: with the flag only)
    {storage=journal}   storage=journal    --storage journal   ({download=True}: --download alone)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping

# A setting's field in a message template: {name}, {name METAVAR} or {name=VALUE}.
_FIELD = re.compile(r"\{([a-z_][a-z0-9_]*)(?: ([^{}=]+)|=([^{}]+))?\}")


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
    """A mistake in what the user asked for (a file, a key, a value, a name); the message says which.

    `settings`: the settings (API keywords) the message names as `{name}` fields of its template
    (see the module docstring); str(err) names them as the API does, `worded(flags)` as a CLI does."""

    def __init__(self, *args: object, settings: Iterable[str] = ()) -> None:
        self.settings = tuple(settings)
        self.template = args[0] if len(args) == 1 and isinstance(args[0], str) else None
        if self.template is not None and self.settings:
            args = (self.worded(),)
        super().__init__(*args)

    def worded(self, flags: Mapping[str, str] | None = None) -> str:
        """The message with each of its settings named by `flags` (setting -> a CLI's flag, like
        "storage" -> "--storage"); a setting `flags` lacks, or every one when it is None, by its API name."""
        template, settings = getattr(self, "template", None), getattr(self, "settings", ())
        if template is None or not settings:
            return str(self)

        def field(m: re.Match[str]) -> str:
            name, metavar, value = m.group(1), m.group(2), m.group(3)
            if name not in settings:
                return m.group(0)
            flag = (flags or {}).get(name)
            if flag is None:
                return f"{name}={value}" if value is not None else name
            if value is not None:
                value = value.strip("'\"")
                return flag if value == "True" else f"{flag} {value}"
            return f"{flag} {metavar}" if metavar else flag

        return _FIELD.sub(field, template)


class SettingError(HarnessError, ValueError):
    """A setting whose value cannot be used, or settings that do not go together: the message
    names each as the API spells it (`{storage}` in the template: "storage"); the CLI words it
    with its flags (harness.cli.flags). `SettingError("{trials} must be at least 1", "trials")`."""

    def __init__(self, message: str, *settings: str) -> None:
        super().__init__(message, settings=settings)


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
