"""A search's settings besides the space (`SearchConfig`), the study's name, and which trials
count towards --trials."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from optuna.trial import FrozenTrial, TrialState

from harness.data import DEFAULT_DATASET, DataOptions
from harness.search.constraints import Constraints
from harness.search.pruning import ParetoPruner
from harness.store.storage import HEARTBEAT_INTERVAL_S

if TYPE_CHECKING:
    from harness.search.space import SearchSpace

DEFAULT_TRIALS = 12


class TrialFailedError(Exception):
    """Raised by the objective after recording why a trial failed; Optuna marks it FAIL and goes on."""


class SurplusTrialError(Exception):
    """Raised when another worker took the study's last place first: the trial is dropped unrun."""


@dataclass(frozen=True)
class SearchConfig:
    """Everything about a search that is not the space: budget, data, device, seed, where to write,
    how to sample, prune and constrain."""

    dataset: str = DEFAULT_DATASET
    trials: int = DEFAULT_TRIALS
    epochs: int | None = None  # None: the space's train.epochs
    seconds: float | None = None  # training time per trial instead of epochs (s)
    timeout: float | None = None  # stop starting trials after this many seconds of this run
    device: str = "auto"
    seed: int = 0
    study_name: str | None = None  # None: the space file's stem
    results_dir: str = "results"
    objectives: str = "accuracy"
    sampler: str = "tpe"
    pruner: str | None = None  # None: median for one objective, pareto for two
    pareto: ParetoPruner = ParetoPruner()  # the two-objective pruning policy's options
    constraints: Constraints = Constraints()  # over the space file's `constraints:`
    repeat: bool = False  # train an architecture again even when the study already trained it
    data_options: DataOptions = DataOptions()
    data_memory: float | None = None  # bytes the data may take on the device; None: half its free memory
    crop_padding: int | None = None  # overrides the space's train.crop_padding (None: keep it)
    flip: bool | None = None  # overrides the space's train.flip (None: keep it)
    storage: str | None = None  # None: $HARNESS_STORAGE, else results/<study>/study.db (see harness.store.storage)
    heartbeat: int = HEARTBEAT_INTERVAL_S  # seconds between a running trial's heartbeats
    worker: int = 0  # this process's index among the study's workers (varies the sampler's seed)
    report: bool = True  # write the report at the end (workers leave it to the process that started them)
    compile: bool = False  # train through torch.compile (its start-up is each trial's warm-up)

    def pruner_name(self) -> str:
        """The pruner in effect: the one asked for, else median (one objective) or pareto (two)."""
        if self.pruner is not None:
            return self.pruner
        return "median" if self.objectives == "accuracy" else "pareto"


def study_name_for(space: SearchSpace, name: str | None) -> str:
    """The study name: the one given, else the space file's stem, else the space's name."""
    if name:
        return name
    return Path(space.path).stem if space.path else space.name


def counted(trial: FrozenTrial) -> bool:
    """Whether a trial counts towards --trials: it ended on its own (not interrupted, not surplus)."""
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and "failure_reason" in trial.user_attrs


def taken(trial: FrozenTrial) -> bool:
    """Whether a trial holds one of the --trials places: it ended, or it is running or queued."""
    return counted(trial) or trial.state in (TrialState.RUNNING, TrialState.WAITING)
