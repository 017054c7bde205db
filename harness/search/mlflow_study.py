"""A search in MLflow (harness.store.tracking): the study's parent run with the search's settings,
one child run per ended trial (its searched parameters and seed, metrics, curve, spec.yaml);
and `finish_workers`, the same for the process that started `--workers N` (each worker logs its own
trials into the parent run that process made before starting them)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.search.search_config import SearchConfig, study_name_for
from harness.store.record import filters, keys
from harness.store.tracking import STOP_WAIT_S, ParentRun, RunRecord, Tracker, trial_record
from harness.zoo.specfile import recorded_spec_text

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

    from harness.search.space import SearchSpace
    from harness.store.storage import StorageRef


def open_tracker(space: SearchSpace, config: SearchConfig, folder: Path, storage: str, epochs: int | None,
                 device: str | None = None) -> Tracker | None:
    """The study's tracker when `config.mlflow` asks for one (None otherwise): experiment = the study
    name, the parent run found by `storage` (as shown, password hidden) and the name; a worker
    (config.worker > 0) logs its own trials into the parent run its starting process made. A
    HarnessError when the URI cannot be written."""
    if config.mlflow is None:
        return None
    name = study_name_for(space, config.study_name)
    parent = ParentRun(experiment=name, kind="search", source=f"{storage}#{name}",
                       params=search_params(space, config, epochs, device),
                       tags={"harness.study": name, "harness.folder": str(folder.resolve())})
    return Tracker.open(config.mlflow, folder, parent, trial_run, owner=config.worker == 0)


def search_params(space: SearchSpace, config: SearchConfig, epochs: int | None, device: str | None = None
                  ) -> dict[str, Any]:
    """The parent run's params: what the search was asked (space, data, budget, objectives,
    sampler, pruner, seed, constraints, device and precision)."""
    constraints = space.constraints.merged(config.constraints).as_dict()
    return {
        "space": space.path or space.name, "dataset": config.dataset, "trials": config.trials,
        "epochs": epochs, "seconds": config.seconds, "timeout": config.timeout,
        "train_images": config.data_options.train_images, "objectives": config.objectives,
        "metric": config.metric, "sampler": config.sampler, "pruner": config.pruner_name(), "seed": config.seed,
        "constraints": ", ".join(f"{k} {v}" for k, v in constraints.items() if v is not None) or None,
        "repeat": config.repeat, "device": device or config.device, "precision": config.precision,
        "compile": config.compile, "robustness": config.robustness.describe() if config.robustness else None,
        "architectures": space.architecture_count(),
    }


def trial_run(trial: FrozenTrial) -> RunRecord:
    """A trial's child run: "trial N", its searched parameters and seed, the spec as YAML."""
    params = {**trial.params, keys.SEED: trial.user_attrs.get(keys.SEED)}
    return trial_record(trial, f"trial {trial.number}", params, recorded_spec_text(filters.spec_dict(trial)))


def finish_workers(tracker: Tracker | None, ref: StorageRef, name: str, folder: Path, status: str) -> None:
    """After the workers of study `name` (in `ref`) ended: log the ended trials they could not
    (from the storage) and end the parent run with `status`."""
    if tracker is None:
        return
    import optuna

    from harness.store.storage import open_storage

    try:
        study = optuna.load_study(study_name=name, storage=open_storage(ref, heartbeat=None))
    except KeyError:  # no worker got as far as making the study
        pass
    else:
        tracker.backfill(study.get_trials(deepcopy=False))
    tracker.close(status, [folder / "trials.csv"], wait_s=None if status == "FINISHED" else STOP_WAIT_S)
