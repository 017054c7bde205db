"""A search's settings besides the space (`SearchConfig`, and `search_config` filling one from a
space's own defaults), the study's name and dataset, and which trials count towards --trials."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optuna.trial import FrozenTrial, TrialState

from harness.data import DEFAULT_DATASET, DataOptions
from harness.data.shifts import Robustness
from harness.errors import HarnessError, SettingError
from harness.names import check_folder_name
from harness.search.constraints import Constraints
from harness.search.pruning import ParetoPruner
from harness.search.samplers import grid_trials
from harness.store.record import filters
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
    deadline: float | None = None  # wall-clock time (time.time()) by which every trial has ended: a trial
    # whose next epoch would end after it is pruned ("the search's time is spent"); harness run sets it
    device: str = "auto"
    seed: int = 0
    study_name: str | None = None  # None: the space file's stem
    results_dir: str = "results"
    objectives: str = "accuracy"
    metric: str = "accuracy"  # the validation figure the first objective is: accuracy, balanced_accuracy, macro_f1
    sampler: str = "tpe"
    pruner: str | None = None  # None: median for one objective, pareto for two
    pareto: ParetoPruner = ParetoPruner()  # the two-objective pruning policy's options
    constraints: Constraints = Constraints()  # over the space file's `constraints:`
    repeat: bool = False  # train an architecture again even when the study already trained it
    warm_start: str | None = None  # an earlier study's results folder: its best trials first (harness.search.warm)
    warm_top: int = 5  # how many of its best trials
    data_options: DataOptions = DataOptions()
    data_memory: float | None = None  # bytes the data may take on the device; None: half its free memory
    crop_padding: int | None = None  # overrides the space's train.crop_padding (None: keep it)
    flip: bool | None = None  # overrides the space's train.flip (None: keep it)
    storage: str | None = None  # None: $HARNESS_STORAGE, else results/<study>/study.db (see harness.store.storage)
    mlflow: str | None = None  # MLflow tracking URI, or "folder" (harness.store.tracking.IN_FOLDER); None: none
    heartbeat: int = HEARTBEAT_INTERVAL_S  # seconds between a running trial's heartbeats
    worker: int = 0  # this process's index among the study's workers (varies the sampler's seed)
    report: bool = True  # write the report at the end (workers leave it to the process that started them)
    compile: bool = False  # train through torch.compile (its start-up is each trial's warm-up)
    precision: str = "auto"  # auto | fp32 | bf16 (harness.train.device.resolve_precision); run_search resolves it
    deterministic: bool = False  # deterministic kernels (CUDA runs vary from run to run otherwise)
    live: bool = True  # show each trial's progress as it trains (harness.train.live); --quiet: not
    robustness: Robustness | None = None  # evaluate every trial on shifted validation copies (harness.data.shifts)

    def validate(self) -> str:
        """Check the settings that do not depend on the space; the pruner in effect (pruner_name)."""
        from harness.search.space import OBJECTIVES

        if self.objectives not in OBJECTIVES:
            raise HarnessError(f"unknown objectives {self.objectives!r}; valid: {', '.join(OBJECTIVES)}")
        if self.trials < 1:
            raise SettingError(f"{{trials}} must be at least 1, not {self.trials}", "trials")
        from harness.train.metrics import METRICS

        if self.metric not in METRICS:
            raise HarnessError(f"unknown metric {self.metric!r}; valid: {', '.join(METRICS)}")
        if self.epochs is not None and self.epochs < 1:
            raise SettingError(f"{{epochs}} must be at least 1, not {self.epochs}", "epochs")
        pruner_name = self.pruner_name()
        if self.objectives == "accuracy,robust_accuracy" and self.robustness is None:
            raise SettingError("{objectives} accuracy,robust_accuracy needs the robustness evaluation: "
                               "add {robustness} (all shifts) or {robustness} translate,noise,...",
                               "objectives", "robustness")
        if pruner_name == "pareto" and self.objectives == "accuracy,robust_accuracy":
            raise SettingError("{pruner} pareto compares a cost known before training (FLOPs, parameters); "
                               "robust accuracy is known only at the end: use {pruner='none'}", "pruner")
        if pruner_name == "pareto" and self.objectives == "accuracy":
            raise SettingError("{pruner} pareto is the two-objective policy; with one objective use median, "
                               "hyperband or sha", "pruner")
        if pruner_name not in ("pareto", "none") and self.objectives != "accuracy":
            raise SettingError(f"{{pruner}} {pruner_name} needs one objective (Optuna cannot prune a "
                               "two-objective study); use {pruner='pareto'} (the default there) or none", "pruner")
        if self.seconds is not None and self.seconds <= 0:
            raise SettingError(f"{{seconds}} must be positive, not {self.seconds}", "seconds")
        return pruner_name

    def pruner_name(self) -> str:
        """The pruner in effect: the one asked for, else median (one objective) or pareto (two)."""
        if self.pruner is not None:
            return self.pruner
        if self.objectives == "accuracy,robust_accuracy":
            return "none"  # neither objective is known before the end of training
        return "median" if self.objectives == "accuracy" else "pareto"


def study_name_for(space: SearchSpace, name: str | None, setting: str = "study_name") -> str:
    """The study name: the one given, else the space file's stem, else the space's name; refused
    (harness.names.check_folder_name, naming `setting`, the keyword that gives the name) unless it
    is one folder inside the results folder."""
    if name is not None:
        return check_folder_name(name, setting=setting)
    if space.path:
        return check_folder_name(Path(space.path).stem, "study name (the space file's stem)", setting)
    return check_folder_name(space.name, "study name (the space's name:)", setting)


def epochs_for(space: SearchSpace, epochs: int | None) -> int | None:
    """The epochs per trial: the ones given, else the space's fixed train.epochs (None when the
    space searches them)."""
    from harness.search.space import Fixed

    fixed = space.params["train.epochs"]
    return epochs or (fixed.value if isinstance(fixed, Fixed) else None)


def dataset_for(space: SearchSpace, dataset: str | None) -> str:
    """The dataset: the one given, else the space's `dataset:`, else DEFAULT_DATASET."""
    return dataset or space.dataset or DEFAULT_DATASET


def search_config(space: SearchSpace, **settings: Any) -> SearchConfig:
    """A SearchConfig for `space` from `settings` (SearchConfig's fields; one given as None keeps its
    default), where these leave them open the space's own `dataset:`, `search.trials`, `objectives:`,
    `search.robustness` and `train.images`, else the defaults; a grid without trials from either
    runs to its end (grid_trials)."""
    given = {name: value for name, value in settings.items() if value is not None}
    options = given.pop("data_options", DataOptions())
    if options.train_images is None and space.train_images is not None:  # the settings win
        options = replace(options, train_images=space.train_images)
    grid = given.get("sampler", SearchConfig.sampler) == "grid"
    given["dataset"] = dataset_for(space, given.get("dataset"))
    given["trials"] = given.get("trials") or space.trials or (grid_trials(space) if grid else DEFAULT_TRIALS)
    given["objectives"] = given.get("objectives") or space.objectives or "accuracy"
    if "robustness" not in given and space.robustness is not None:  # seeded by the study's seed
        given["robustness"] = replace(space.robustness, seed=given.get("seed", SearchConfig.seed))
    return SearchConfig(data_options=options, **given)


def counted(trial: FrozenTrial) -> bool:
    """Whether a trial counts towards --trials: it ended on its own (not interrupted, not surplus)."""
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and filters.failure_recorded(trial)


def taken(trial: FrozenTrial) -> bool:
    """Whether a trial holds one of the --trials places: it ended, or it is running or queued."""
    return counted(trial) or trial.state in (TrialState.RUNNING, TrialState.WAITING)
