"""A trial's architecture, for `harness export`: results folder + trial number -> ArchSpec
(`trial_spec`), which harness.zoo.specfile.spec_text writes as a spec file.

The spec comes from the study's storage (each trial records its spec before training), or, when
only `trials.csv` and `space.yaml` are at hand, is rebuilt from the trial's parameters through the
space, which gives the same spec (`spec_id` checked against the table). The file is what
`harness profile` reads and what `harness rank --spec` will take.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError
from harness.store.record import filters
from harness.zoo.spec import ArchSpec

if TYPE_CHECKING:
    import pandas as pd


def trial_spec(folder: str | Path, number: int, study_name: str | None = None, storage: str | None = None) -> ArchSpec:
    """The architecture of trial `number` of the study in results folder `folder` (its storage:
    `storage`, else study.db or study.journal there; else rebuilt from trials.csv and space.yaml)."""
    from harness.store.results_folder import read_folder

    folder = Path(folder)
    read = read_folder(folder, storage, study_name)
    if read.study is None:
        return _from_table(folder, read.frame, number)
    trials = read.study.get_trials(deepcopy=False)
    trial = next((t for t in trials if t.number == number), None)
    if trial is None:
        raise HarnessError(_no_trial(folder, number, [t.number for t in trials]))
    spec = filters.spec_dict(trial)
    if spec is None:
        raise HarnessError(f"{folder}: trial {number} ended before its architecture was sampled")
    return ArchSpec.from_dict(spec)


def _from_table(folder: Path, frame: pd.DataFrame, number: int) -> ArchSpec:
    """Trial `number` rebuilt from its row of trials.csv through the folder's space.yaml."""
    from harness.search.space import load_space
    from harness.store.trials import searched_columns

    rows = frame[frame["number"] == number]
    if rows.empty:
        raise HarnessError(_no_trial(folder, number, frame["number"].tolist()))
    if not (folder / "space.yaml").exists():
        raise HarnessError(f"{folder}: trials.csv alone does not say the architecture; space.yaml is missing")
    space = load_space(folder / "space.yaml")
    row = rows.iloc[0]
    values: dict[str, Any] = {}
    for name in searched_columns(frame):
        value = row[name]
        if not (isinstance(value, float) and math.isnan(value)):
            values[name] = value.item() if hasattr(value, "item") else value
    spec, _ = space.build(values)
    expected = row.get("spec_id")
    if isinstance(expected, str) and expected != spec.spec_id:
        raise HarnessError(f"{folder}: trial {number} rebuilt from space.yaml gives spec {spec.spec_id}, "
                           f"not the {expected} trials.csv records; was space.yaml changed?")
    return spec


def _no_trial(folder: Path, number: int, numbers: list[int]) -> str:
    span = f"trials {min(numbers)} to {max(numbers)}" if numbers else "no trials"
    return f"{folder}: no trial {number} (the study has {span})"
