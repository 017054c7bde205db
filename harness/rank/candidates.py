"""Candidates for a ranking: (name, ArchSpec, TrainConfig, origin) from a study, presets or spec files.

- `from_study(folder, top=K | pareto=True)`: the study's best K trials by validation accuracy, or
  its accuracy-vs-FLOPs Pareto set; each keeps the spec it was trained with (from the storage), its
  training config (rebuilt from the trial's parameters through the study's space.yaml, with the
  study's --epochs/--seconds/augmentation overrides applied) and its brief accuracy, which the
  ranking later compares with its own (fidelity);
- `from_presets(names)`, `from_spec_files(paths)`: torchvision's classic networks and exported
  trials, trained with a base training config (the study's when there is one, else the defaults).

A candidate is plain data; nothing here trains or touches a model.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harness.errors import HarnessError, SettingError
from harness.store.record import filters, keys
from harness.train.loop import TrainConfig
from harness.train.train_config import budget_key
from harness.zoo.spec import ArchSpec

DEFAULT_TOP = 5  # a study's candidates when neither --top nor --pareto says


@dataclass(frozen=True)
class Candidate:
    """One architecture to re-evaluate: a unique display name, its spec and training config, where
    it came from, and (for a study's trial) the accuracy the search's one brief run gave it."""

    name: str
    spec: ArchSpec
    train: TrainConfig
    origin: str
    search_accuracy: float | None = None  # validation accuracy of the search's run (fraction)
    search_trial: int | None = None

    @property
    def budget(self) -> str:
        """The training budget in words: "20 epochs" or "30 s"."""
        if self.train.seconds is not None:
            return f"{self.train.seconds:g} s"
        return f"{self.train.epochs} epoch{'s' if self.train.epochs != 1 else ''}"

    @property
    def key(self) -> str:
        """The experiment: architecture + training config (two candidates with one key are one)."""
        return budget_key(self.spec.spec_id, self.train)


@dataclass(frozen=True)
class StudyInfo:
    """What a ranking takes from the study it ranks: its name, folder, dataset and split."""

    name: str
    folder: Path
    dataset: str | None  # the dataset reference the search trained on
    split: str | None  # its validation split id
    image_size: str | None  # "CxHxW"
    data_options: dict[str, Any] | None = None  # how the search read its dataset (run.json)


def _python(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _study_frame(folder: Path, study_name: str | None, storage: str | None = None
                 ) -> tuple[pd.DataFrame, dict[str, Any], dict[int, dict], str, dict[str, Any]]:
    """(trials table, the study's fingerprint, trial number -> recorded spec dict, study name, run.json)."""
    from harness.store.results_folder import read_folder

    read = read_folder(folder, storage, study_name)
    if read.study is not None:
        trials = read.study.get_trials(deepcopy=False)
        specs = {t.number: spec for t in trials if (spec := filters.spec_dict(t)) is not None}
        return read.frame, dict(read.study.user_attrs.get(keys.FINGERPRINT) or {}), specs, read.name, read.run
    latest = read.run.get("latest") or {}
    fingerprint = {"dataset": latest.get("dataset", {}).get("ref"), "epochs": latest.get("epochs")}
    return read.frame, fingerprint, {}, read.name, read.run


def _study_train_config(folder: Path, params: dict[str, Any], fingerprint: dict[str, Any]
                        ) -> tuple[ArchSpec | None, TrainConfig]:
    """The trial's (spec, training config) rebuilt through the study's space.yaml, with the budget
    and augmentation the search ran with (its fingerprint) applied."""
    from harness.search.space import load_space

    spec: ArchSpec | None = None
    train = TrainConfig()
    if (folder / "space.yaml").is_file():
        spec, train = load_space(folder / "space.yaml").build(params)
    changes: dict[str, Any] = {}
    if fingerprint.get("epochs"):
        changes["epochs"] = int(fingerprint["epochs"])
    if fingerprint.get("seconds"):
        changes["seconds"] = float(fingerprint["seconds"])
    crop, flip = (fingerprint.get("augment") or [None, None])[:2]
    if crop is not None:
        changes["crop_padding"] = int(crop)
    if flip is not None:
        changes["flip"] = bool(flip)
    return spec, dataclasses.replace(train, **changes)


def from_study(folder: str | Path, *, top: int | None = None, pareto: bool = False, study_name: str | None = None,
               storage: str | None = None, pruned: bool = False) -> tuple[list[Candidate], StudyInfo, TrainConfig]:
    """The study's top `top` trials by validation accuracy (default 5), or its accuracy-vs-FLOPs
    Pareto set; each architecture once. With `pruned`, trials a pruner stopped count too, after the
    completed ones, by the epochs they reached (store.trials.furthest_trials: a successive-halving
    search whose time ended before a trial completed still has its best). Also the study's info and
    its base training config (for presets and spec files ranked alongside)."""
    from harness.store.trials import furthest_trials, leaderboard, pareto_front, searched_columns, trained_trials

    folder = Path(folder)
    if not folder.is_dir() and storage is None:
        raise SettingError(f"{{folder}} {folder}: no such results folder", "folder")
    if top is not None and pareto:
        raise SettingError("{top} and {pareto} choose the candidates in two different ways; give one", "top", "pareto")
    if top is not None and top < 1:
        raise SettingError(f"{{top}} must be at least 1, not {top}", "top")
    frame, fingerprint, specs, name, run = _study_frame(folder, study_name, storage)
    done = furthest_trials(frame, top=len(frame)) if pruned else trained_trials(frame)
    if done.empty:
        raise HarnessError(f"{folder}: the study has no {'trained' if pruned else 'completed'} trial to rank yet")
    chosen = pareto_front(frame) if pareto else done if pruned else leaderboard(frame, top=len(done))
    params_of = searched_columns(frame)
    candidates: list[Candidate] = []
    seen: set[str] = set()
    base: TrainConfig | None = None
    for _, row in chosen.iterrows():
        params = {p: _python(row[p]) for p in params_of if not (isinstance(row[p], float) and math.isnan(row[p]))}
        rebuilt, train = _study_train_config(folder, params, fingerprint)
        base = base or train
        number = int(row["number"])
        if number in specs:
            spec = ArchSpec.from_dict(specs[number])
        elif rebuilt is not None:
            spec = rebuilt
        else:
            raise HarnessError(f"{folder}: trial {number}'s architecture is in neither study.db nor space.yaml")
        candidate = Candidate(name=f"trial {number}", spec=spec, train=train, origin=f"{name} trial {number}",
                              search_accuracy=float(row["accuracy"]), search_trial=number)
        if candidate.key in seen:
            continue  # the same architecture trained again in the search (--repeat): rank it once
        seen.add(candidate.key)
        candidates.append(candidate)
        if not pareto and len(candidates) >= (top or DEFAULT_TOP):
            break
    latest = run.get("latest") or {}
    options = (latest.get("dataset") or {}).get("options")
    info = StudyInfo(name=name, folder=folder, dataset=fingerprint.get("dataset"), split=fingerprint.get("split"),
                     image_size=fingerprint.get("image_size"),
                     data_options=options if isinstance(options, dict) else None)
    return candidates, info, base or TrainConfig()



def from_presets(names: Iterable[str], train: TrainConfig) -> list[Candidate]:
    """Presets by name (torchvision's classic networks); an unknown name lists the valid ones."""
    from harness.zoo.presets import preset

    return [Candidate(name=n, spec=preset(n), train=train, origin="preset") for n in names]


def from_spec_files(paths: Iterable[str | Path], train: TrainConfig) -> list[Candidate]:
    """Spec files (YAML or JSON, e.g. from `harness export`), named by their file stem."""
    from harness.zoo.specfile import load_spec

    out = []
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise SettingError(f"{{paths}} {path}: no such file", "paths")
        out.append(Candidate(name=path.stem, spec=load_spec(str(path)), train=train, origin=f"spec file {path}"))
    return out


def combine(*groups: Sequence[Candidate]) -> tuple[list[Candidate], list[str]]:
    """All candidates in order, each experiment once and each name unique (a repeated name gets
    " (2)"); and a note per candidate dropped as a duplicate of an earlier one."""
    out: list[Candidate] = []
    notes: list[str] = []
    by_key: dict[str, str] = {}
    names: set[str] = set()
    for group in groups:
        for c in group:
            if c.key in by_key:
                notes.append(f"{c.name} ({c.origin}) is the same experiment as {by_key[c.key]}: ranked once")
                continue
            name, i = c.name, 2
            while name in names:
                name, i = f"{c.name} ({i})", i + 1
            c = dataclasses.replace(c, name=name)
            by_key[c.key] = name
            names.add(name)
            out.append(c)
    return out, notes


def with_budget(candidate: Candidate, *, epochs: int | None = None, seconds: float | None = None,
                factor: float | None = None, crop_padding: int | None = None, flip: bool | None = None) -> Candidate:
    """The candidate with its training budget replaced (`epochs` or `seconds`) or scaled by `factor`
    (epochs rounded, at least 1), and its augmentation overridden where given."""
    train = candidate.train
    changes: dict[str, Any] = {}
    if epochs is not None:
        changes.update(epochs=epochs, seconds=None)
    elif seconds is not None:
        changes["seconds"] = seconds
    if factor is not None:
        if factor <= 0:
            raise SettingError(f"{{budget_factor}} must be positive, not {factor}", "budget_factor")
        base = changes.get("seconds", train.seconds)
        if base is not None:
            changes["seconds"] = base * factor
        else:
            changes["epochs"] = max(1, round(changes.get("epochs", train.epochs) * factor))
    if crop_padding is not None:
        changes["crop_padding"] = crop_padding
    if flip is not None:
        changes["flip"] = flip
    return dataclasses.replace(candidate, train=dataclasses.replace(train, **changes)) if changes else candidate
