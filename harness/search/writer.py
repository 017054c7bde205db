"""What a search writes into its results folder besides the storage: trials.csv and the
accuracy-vs-FLOPs plot (rebuilt from the study), space.yaml and its record in run.json."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import yaml

from harness.files import atomic_write
from harness.store.provenance import append_run_record, describe_device, safe_command, versions
from harness.store.trials import trials_frame

if TYPE_CHECKING:
    import optuna
    import torch

    from harness.data import ImageData
    from harness.data.loader import Placement
    from harness.search.space import SearchSpace
    from harness.search.study import SearchConfig


def write_results(study: optuna.Study, folder: Path, plot: bool = True) -> pd.DataFrame:
    """Rewrite trials.csv and (with `plot`) acc_vs_flops.png in `folder` from the study; return
    the table."""
    from harness.report.plots import plot_accuracy_vs_flops

    frame = trials_frame(study)
    atomic_write(folder / "trials.csv", lambda p: frame.to_csv(p, index=False))
    if not plot:
        return frame
    title = f"{study.study_name}: accuracy vs FLOPs"
    atomic_write(folder / "acc_vs_flops.png",
                  lambda p: plot_accuracy_vs_flops(frame, p, title=title))
    return frame


def write_run_info(folder: Path, space: SearchSpace, config: SearchConfig, data: ImageData,
                   device: torch.device, argv: list[str], placement: Placement | None = None,
                   storage: str | None = None) -> None:
    """Copy the space file to space.yaml and append this run's record to run.json (`storage`: the
    storage as it may be shown, password hidden)."""
    target = folder / "space.yaml"
    if space.path:
        if not target.exists() or Path(space.path).resolve() != target.resolve():
            text = Path(space.path).read_text()
            atomic_write(target, lambda p: p.write_text(text))  # workers may copy it at once
    else:
        atomic_write(target, lambda p: p.write_text(yaml.safe_dump(space.raw, sort_keys=False)))
    record = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": safe_command(argv),
        "storage": storage,
        "worker": config.worker,
        "space": space.path,
        "study": folder.name,
        "dataset": {"ref": config.dataset, **data.info(), "summary": data.describe(),
                    "options": dataclasses.asdict(config.data_options),
                    "placement": placement.describe() if placement else None},
        "trials": config.trials,
        "epochs": config.epochs,
        "objectives": config.objectives,
        "seed": config.seed,
        "pruner": config.pruner,
        "device": describe_device(device),
        "versions": versions(),
    }
    append_run_record(folder / "run.json", record)
