"""BudgetConfig (what a budgeted run is asked) and BudgetResult (what it produced)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness.data import DataOptions


@dataclass(frozen=True)
class BudgetConfig:
    """A budgeted run's settings: the budget (seconds), data, where, device and precision."""

    budget: float
    dataset: str | None = None  # None: the space's dataset:, else the default dataset
    name: str | None = None  # the run's folder under results_dir; None: the space file's stem
    results_dir: str = "results"
    device: str = "auto"
    precision: str = "auto"
    seed: int = 0
    data_options: DataOptions = DataOptions()
    live: bool = True
    onnx: bool = True  # write model.onnx (needs harness[onnx]; without it, one note)


@dataclass
class BudgetResult:
    """What a budgeted run produced: the winner, its test accuracy over seeds and where things are."""

    folder: Path
    winner: str
    label: str
    test_accuracies: list[float]
    test_mean: float
    test_ci: tuple[float, float]
    model_folder: Path
    onnx: Path | None
    fidelity: pd.DataFrame
    spent_s: float
    notes: list[str] = field(default_factory=list)
