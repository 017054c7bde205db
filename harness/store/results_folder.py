"""The one reader of a results folder: `read_folder` gives its study (from the storage, when
there is one), its trials table (from the storage, else trials.csv) and its run.json."""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from harness.errors import HarnessError
from harness.store.trials import trials_frame

if TYPE_CHECKING:
    import optuna

    from harness.store.storage import StorageRef

NOT_A_RESULTS_FOLDER = "no study.db or trials.csv here; is this a results folder?"


@dataclass
class StudyFolder:
    """A results folder as read: the study (None when only trials.csv is there), the trials table,
    run.json ({} when absent), the study's name and where the trials came from, in words."""

    folder: Path
    study: optuna.Study | None
    frame: pd.DataFrame
    name: str
    source: str
    run: dict[str, Any] = field(default_factory=dict)

    @property
    def from_csv(self) -> bool:
        """The trials came from trials.csv (there is no storage)."""
        return self.study is None


def read_folder(folder: str | Path, storage: str | None = None, study_name: str | None = None) -> StudyFolder:
    """Read results folder `folder`: its study from `storage` (a --storage value) when given, else
    from study.db or study.journal there, else its trials.csv. HarnessError (one line) when the
    folder is missing or holds neither."""
    folder = Path(folder)
    if storage is None and not folder.is_dir():
        raise HarnessError(f"{folder}: no such results folder")
    run = read_run_info(folder)
    study = open_study(folder, storage, study_name)
    if study is not None:
        from harness.store.storage import redact

        own = folder / "study.db" if (folder / "study.db").is_file() else folder / "study.journal"
        source = f"the storage {redact(storage)}" if storage else f"the storage {own}"
        return StudyFolder(folder, study, trials_frame(study), study.study_name, source, run)
    csv = folder / "trials.csv"
    if not csv.is_file():
        raise HarnessError(f"{folder}: {NOT_A_RESULTS_FOLDER}")
    name = (run.get("latest") or {}).get("study") or folder.name
    return StudyFolder(folder, None, read_trials_csv(csv), str(name), str(csv), run)


def load_trials(folder: str | Path, study_name: str | None = None, storage: str | None = None) -> pd.DataFrame:
    """The trials table of a results folder: from its storage (`storage`, else study.db or
    study.journal there) when present, else trials.csv."""
    return read_folder(folder, storage, study_name).frame


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Without Optuna's info lines and warnings (an in-memory study, few trials for importance);
    harness's own word on the storage (a StorageWarning: a journal's torn record) still shows."""
    import optuna

    from harness.errors import StorageWarning

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            warnings.simplefilter("default", StorageWarning)
            yield
    finally:
        optuna.logging.set_verbosity(level)


def folder_storage(folder: Path, storage: str | None) -> StorageRef | None:
    """The storage of results folder `folder`: `storage` (a --storage value) when given, else
    folder/study.db, else folder/study.journal; None when there is neither. HarnessError when the
    file a storage names is missing (SQLite or the journal would create it)."""
    from harness.store.storage import resolve_storage

    if storage is None:
        if (folder / "study.db").is_file():
            storage = f"sqlite:///{(folder / 'study.db').resolve()}"
        elif (folder / "study.journal").is_file():
            storage = "journal"
        else:
            return None
    ref = resolve_storage(storage, folder)
    if ref.path is not None and not ref.path.is_file():
        raise HarnessError(f"{{storage}} {ref.display}: no such file {ref.path}", settings=("storage",))
    return ref


def open_study(folder: str | Path, storage: str | None = None, study_name: str | None = None) -> optuna.Study | None:
    """The study of a results folder: from `storage` (a --storage value: URL, journal:PATH, ...)
    when given, else from folder/study.db or folder/study.journal; None when there is no storage
    (the caller then reads trials.csv). Raises HarnessError for a storage that cannot be opened or
    a study it does not hold (a password never appears in the message)."""
    import optuna

    from harness.store.storage import open_storage, scrub

    folder = Path(folder)
    given = storage is not None
    ref = folder_storage(folder, storage)
    if ref is None:
        return None
    url = ref.display
    try:
        with quiet_optuna():
            rdb = open_storage(ref, heartbeat=None)
            names = optuna.study.get_all_study_names(rdb)
    except HarnessError:
        raise
    except Exception as err:  # a bad URL, a damaged database, a missing driver
        from harness.store.faults import describe

        line = describe(err, folder, url) or f"cannot open the storage {url}: {str(err).splitlines()[0]}"
        raise HarnessError(scrub(line, ref.url)) from None
    if study_name is not None:
        if study_name not in names:
            held = ", ".join(names) if names else "no study"
            raise HarnessError(f"no study named {study_name!r} in {url} (it holds {held})")
        name = study_name
    elif folder.name in names:
        name = folder.name
    elif len(names) == 1:
        name = names[0]
    elif not names:
        if given:
            raise HarnessError(f"{url} holds no study")
        return None  # an empty study.db: trials.csv may still be there
    else:
        raise HarnessError(f"{url} holds several studies ({', '.join(names)}); choose one with {{study_name NAME}}",
                           settings=("study_name",))
    with quiet_optuna():
        return optuna.load_study(study_name=name, storage=rdb)


def read_trials_csv(path: Path) -> pd.DataFrame:
    """trials.csv as a trials table; HarnessError when it is not one."""
    try:
        frame = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise HarnessError(f"{path}: not a trials table ({str(err).splitlines()[0]})") from None
    missing = {"number", "state"} - set(frame.columns)
    if missing:
        raise HarnessError(f"{path}: not a trials table (no {', '.join(sorted(missing))} column)")
    return frame


def read_run_info(folder: Path) -> dict[str, Any]:
    """run.json of the folder ({} when absent or unreadable)."""
    try:
        info = json.loads((folder / "run.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return info if isinstance(info, dict) else {}
