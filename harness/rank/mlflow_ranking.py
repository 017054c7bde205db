"""A ranking in MLflow (harness.store.tracking): the ranking's parent run with its settings, one
child run per ended run of a candidate (its name, origin, seed and training config, metrics with
the test split's, curve, spec.yaml)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.rank.candidates import Candidate, StudyInfo
from harness.rank.ranking import RankConfig
from harness.store.record import filters, keys
from harness.store.tracking import ParentRun, RunRecord, Tracker, trial_record
from harness.zoo.specfile import recorded_spec_text

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial


def open_rank_tracker(config: RankConfig, folder: Path, storage: str, candidates: Sequence[Candidate],
                      study: StudyInfo | None, dataset: str, device: str) -> Tracker | None:
    """The ranking's tracker when `config.mlflow` asks for one (None otherwise): experiment = the
    ranking's folder name, the parent run found by `storage` (as shown) and that name. A
    HarnessError when the URI cannot be written."""
    if config.mlflow is None:
        return None
    params: dict[str, Any] = {
        "candidates": ", ".join(c.name for c in candidates), "study": str(study.folder) if study else None,
        "dataset": dataset, "train_images": config.data_options.train_images, "seeds": config.seeds,
        "epochs": config.epochs, "seconds": config.seconds, "budget_factor": config.budget_factor,
        "race": config.race, "max_seeds": config.max_seeds if config.race else None, "alpha": config.alpha,
        "confidence": config.confidence, "metric": config.metric, "seed": config.seed, "device": device,
        "precision": config.precision, "robustness": config.robustness.describe() if config.robustness else None,
    }
    parent = ParentRun(experiment=folder.name, kind="rank", source=f"{storage}#{folder.name}", params=params,
                       tags={"harness.folder": str(folder.resolve())}, what="runs")
    return Tracker.open(config.mlflow, folder, parent, rank_run)


def rank_run(trial: FrozenTrial) -> RunRecord:
    """A ranking run's child run: "<candidate> seed <i>", its candidate, origin, seed and training
    config (train.<field>), the spec as YAML."""
    a = trial.user_attrs
    params = {"candidate": a.get(keys.CANDIDATE), "origin": a.get(keys.ORIGIN), keys.SEED_INDEX: a.get(keys.SEED_INDEX),
              "seed": a.get(keys.SEED), "data": a.get(keys.DATA_KEY),
              **{f"train.{k}": v for k, v in (a.get(keys.TRAIN) or {}).items()}}
    name = f"{a.get(keys.CANDIDATE, 'run')} seed {a.get(keys.SEED_INDEX, '?')}"
    return trial_record(trial, name, params, recorded_spec_text(filters.spec_dict(trial)),
                        tags={keys.CANDIDATE_KEY: a.get(keys.CANDIDATE_KEY)})
