"""What `harness train` trains: (spec, training config, origin, dataset) from a ranking's folder
(its winner, or --candidate NAME), a study's folder (its best trial, or --trial N), a spec file or
a preset.

A ranking's folder is read from rank.csv (the order) and rank.db (each run records the spec and
training config it ran with); a study's through harness.rank.candidates, which rebuilds each
trial's training config with the search's budget and augmentation.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, SettingError
from harness.store.record import keys
from harness.train.loop import TrainConfig
from harness.zoo.spec import ArchSpec


@dataclass(frozen=True)
class Source:
    """One architecture to train to the end: its spec, the training config it was ranked or
    searched with, where it came from, and the dataset reference it was evaluated on (None: unknown)."""

    spec: ArchSpec
    train: TrainConfig
    origin: str
    dataset: str | None = None


def _dataset_of(folder: Path) -> str | None:
    """The dataset reference recorded in a results folder's run.json (its latest invocation)."""
    path = folder / "run.json"
    try:
        latest = json.loads(path.read_text()).get("latest") or {}
    except (OSError, ValueError, AttributeError):
        return None
    dataset = latest.get("dataset")
    if isinstance(dataset, str):  # recorded as a Python repr by older versions
        try:
            dataset = ast.literal_eval(dataset)
        except (ValueError, SyntaxError):
            return None
    return dataset.get("ref") if isinstance(dataset, dict) else None


def _train_config(raw: dict[str, Any]) -> TrainConfig:
    fields = TrainConfig.__dataclass_fields__
    return TrainConfig(**{k: v for k, v in raw.items() if k in fields})


def from_ranking(folder: Path, candidate: str | None = None, storage: str | None = None) -> Source:
    """The ranking's winner (rank 1 of rank.csv), or the candidate named `candidate`."""
    import optuna
    import pandas as pd

    from harness.store.results_folder import quiet_optuna

    table = pd.read_csv(folder / "rank.csv")
    names = [str(n) for n in table["candidate"]]
    if not names:
        raise HarnessError(f"{folder}: the ranking has no candidate yet")
    name = names[0] if candidate is None else candidate
    if name not in names:
        raise HarnessError(f"{folder}: no candidate {name!r} in the ranking; its candidates: {', '.join(names)}")
    url = storage or f"sqlite:///{(folder / 'rank.db').resolve()}"
    if storage is None and not (folder / "rank.db").is_file():
        raise SettingError(f"{folder}: no rank.db here (the ranking's runs); give {{storage URL}}", "storage")
    with quiet_optuna():
        summaries = optuna.get_all_study_summaries(url)
        study_name = folder.name if any(s.study_name == folder.name for s in summaries) else (
            summaries[0].study_name if len(summaries) == 1 else None)
        if study_name is None:
            raise HarnessError(f"{url}: no ranking named {folder.name!r} in this storage")
        study = optuna.load_study(study_name=study_name, storage=url)
    for t in study.get_trials(deepcopy=False):
        attrs = t.user_attrs
        if attrs.get(keys.CANDIDATE) == name and keys.SPEC in attrs and keys.TRAIN in attrs:
            row = table[table["candidate"] == name].iloc[0]
            origin = str(attrs.get(keys.ORIGIN) or name)
            return Source(ArchSpec.from_dict(attrs[keys.SPEC]), _train_config(attrs[keys.TRAIN]),
                          f"{origin} (rank {int(row['rank'])} of {len(names)} in {folder.name})"
                          if pd.notna(row["rank"]) else origin, _dataset_of(folder))
    raise HarnessError(f"{folder}: candidate {name!r} has no recorded run in the ranking's storage")


def from_study(folder: Path, trial: int | None = None, study_name: str | None = None,
               storage: str | None = None) -> Source:
    """The study's best trial by validation accuracy, or trial `trial`."""
    from harness.rank.candidates import from_study as candidates_from_study

    everything, info, _ = candidates_from_study(folder, top=10**9, study_name=study_name, storage=storage)
    if trial is None:
        chosen = everything[0]
    else:
        matches = [c for c in everything if c.search_trial == trial]
        if not matches:
            numbers = sorted(c.search_trial for c in everything if c.search_trial is not None)
            raise HarnessError(f"{folder}: no completed trial {trial} (completed: "
                               f"{', '.join(map(str, numbers[:20]))}{' ...' if len(numbers) > 20 else ''})")
        chosen = matches[0]
    return Source(chosen.spec, chosen.train, chosen.origin, info.dataset)


def resolve_source(*, from_folder: str | None = None, candidate: str | None = None, trial: int | None = None,
                   spec: str | None = None, preset: str | None = None, study_name: str | None = None,
                   storage: str | None = None) -> Source:
    """The Source the command line names: exactly one of `from_folder` (a ranking's or a study's
    results folder), `spec` (a spec file) or `preset`."""
    given = [n for n, v in (("from_folder", from_folder), ("spec", spec), ("preset", preset)) if v is not None]
    if len(given) != 1:
        raise SettingError("say what to train with one of {from_folder FOLDER}, {spec FILE} or {preset NAME}"
                           + (f" (not {' and '.join('{' + n + '}' for n in given)})" if given else ""),
                           "from_folder", "spec", "preset")
    if candidate is not None and trial is not None:
        raise SettingError("{candidate} names a ranking's candidate, {trial} a study's trial: give one",
                           "candidate", "trial")
    if from_folder is None and (candidate is not None or trial is not None):
        raise SettingError("{candidate} and {trial} choose from {from_folder FOLDER}", "candidate", "trial",
                           "from_folder")
    if spec is not None or preset is not None:
        from harness.zoo.presets import preset as preset_spec
        from harness.zoo.specfile import load_spec

        if spec is not None:
            if not Path(spec).is_file():
                raise SettingError(f"{{spec}} {spec}: no such file", "spec")
            return Source(load_spec(spec), TrainConfig(), f"spec file {spec}")
        return Source(preset_spec(preset), TrainConfig(), f"preset {preset}")
    folder = Path(from_folder)
    if not folder.is_dir() and storage is None:
        raise SettingError(f"{{from_folder}} {folder}: no such results folder", "from_folder")
    if (folder / "rank.csv").is_file():
        if trial is not None:
            raise SettingError(f"{folder} is a ranking: choose with {{candidate NAME}}, not {{trial}}",
                               "candidate", "trial")
        return from_ranking(folder, candidate, storage)
    if candidate is not None:
        raise SettingError(f"{folder} is a study, not a ranking: choose with {{trial N}}, not {{candidate}}",
                           "trial", "candidate")
    return from_study(folder, trial, study_name, storage)
