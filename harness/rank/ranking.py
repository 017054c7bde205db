"""What a ranking is asked (`RankConfig`) and what it produced (`Ranking`): the two values the
ranking's run and its report share."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harness.choices import RANK_METRICS  # what a ranking can rank by
from harness.data import DataOptions
from harness.data.shifts import Robustness
from harness.errors import HarnessError, SettingError
from harness.rank.candidates import Candidate
from harness.store.record import keys

# Seeds of ranking runs: far from a search's (seed * 100_003 + trial number), so that a ranking's
# runs are new draws, not the search's runs again.
RANK_SEED_BASE = 1_000_000
DEFAULT_SEEDS = 3
DEFAULT_MAX_SEEDS = 10


@dataclass(frozen=True)
class RankConfig:
    """How to re-evaluate: data, seeds, budget overrides, racing, statistics, where to write."""

    dataset: str | None = None  # None: the study's dataset, else the default dataset
    seeds: int = DEFAULT_SEEDS  # runs per candidate (racing may add more, up to max_seeds)
    epochs: int | None = None  # None: each candidate's own (the study's budget, or 4)
    seconds: float | None = None  # training time per run instead of epochs (s)
    budget_factor: float | None = None  # scale each candidate's budget (epochs or seconds) by this
    device: str = "auto"
    seed: int = 0  # run seeds are RANK_SEED_BASE + 1000 * seed + seed index
    name: str | None = None  # folder name under results_dir; None: "<study>-rank" or "rank"
    results_dir: str | None = None  # None: beside the study's folder, else "results"
    race: bool = False  # spend further seeds only on the candidates still tied for the top
    max_seeds: int = DEFAULT_MAX_SEEDS  # the cap on runs per candidate when racing
    alpha: float = 0.05  # family-wise error rate of the pairwise tests (Holm)
    confidence: float = 0.95  # of the intervals
    loss_epochs: int = 2  # the cheap predictor sums training losses over this many first epochs
    data_options: DataOptions = DataOptions()
    data_memory: float | None = None  # bytes the data may take on the device (None: half its free memory)
    crop_padding: int | None = None
    flip: bool | None = None
    storage: str | None = None  # None: $HARNESS_STORAGE, else <folder>/rank.db (see harness.store.storage)
    mlflow: str | None = None  # MLflow tracking URI, or "folder" (harness.store.tracking.IN_FOLDER); None: none
    compile: bool = False  # train through torch.compile (its start-up is each run's warm-up)
    precision: str = "auto"  # auto | fp32 | bf16 (harness.train.device.resolve_precision); run_rank resolves it
    live: bool = True  # show each run's progress as it trains (harness.train.live); --quiet: not
    deterministic: bool = False  # deterministic kernels (CUDA runs vary from run to run otherwise)
    robustness: Robustness | None = None  # evaluate every run on shifted validation copies (harness.data.shifts)
    metric: str = "accuracy"  # what the ranking ranks by: accuracy, balanced_accuracy, macro_f1 or robust_accuracy
    test: bool = True  # evaluate every run on the test split (harness run leaves it for the winner, at the end)
    deadline: float | None = None  # wall-clock time (time.time()): no run starts that would end after it

    def check(self) -> None:
        """Refuse values that cannot work, naming the setting (SettingError)."""
        if self.seeds < 1:
            raise SettingError(f"{{seeds}} must be at least 1, not {self.seeds}", "seeds")
        if self.epochs is not None and self.epochs < 1:
            raise SettingError(f"{{epochs}} must be at least 1, not {self.epochs}", "epochs")
        if self.seconds is not None and self.seconds <= 0:
            raise SettingError(f"{{seconds}} must be positive, not {self.seconds}", "seconds")
        if self.epochs is not None and self.seconds is not None:
            raise SettingError("{epochs} and {seconds} are two budgets; give one", "epochs", "seconds")
        if self.race and self.max_seeds < max(self.seeds, 2):
            raise SettingError(f"{{max_seeds}} ({self.max_seeds}) must be at least {{seeds}} ({self.seeds}) and 2 "
                               "for racing to add any", "max_seeds", "seeds")
        if not 0 < self.alpha < 1:
            raise SettingError(f"{{alpha}} must be between 0 and 1, not {self.alpha}", "alpha")
        if not 0 < self.confidence < 1:
            raise SettingError(f"{{confidence}} must be between 0 and 1, not {self.confidence}", "confidence")
        if self.loss_epochs < 1:
            raise SettingError(f"{{loss_epochs}} must be at least 1, not {self.loss_epochs}", "loss_epochs")
        if self.metric not in RANK_METRICS:
            raise HarnessError(f"unknown ranking metric {self.metric!r}; valid: {', '.join(RANK_METRICS)}")
        if self.metric == "robust_accuracy" and self.robustness is None:
            raise SettingError("{metric} robust_accuracy ranks by the accuracy on shifted copies: add {robustness}",
                               "metric", "robustness")


def run_seed(config: RankConfig, index: int) -> int:
    """The training seed of a candidate's `index`-th run: the same for every candidate, so each
    seed index sees the same data order (weights differ with the architecture)."""
    return RANK_SEED_BASE + 1000 * config.seed + index


@dataclass
class Ranking:
    """What a ranking produced: its folder, candidates, one row per run, and the tables."""

    folder: Path
    candidates: list[Candidate]
    runs: pd.DataFrame
    table: pd.DataFrame  # one row per candidate, ranked
    pairwise: pd.DataFrame  # every pair: Welch test, Holm-corrected
    fidelity: pd.DataFrame  # predictors of the ranking and their Kendall's tau with it
    info: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def _repr_html_(self) -> str:
        """Jupyter's view: the folder and seeds, then the ranked table in short (mean ± sd and
        interval of validation accuracy in percent, P(best), group, costs, architecture), then the
        notes; rank.html in the folder has all of it."""
        from harness.numbers import MISSING, human, is_missing, percent
        from harness.report.html import bullets, escape, html_table

        def pm(mean: Any, std: Any) -> str:
            return MISSING if is_missing(mean) else percent(mean, 2) + ("" if is_missing(std) else
                                                                        f" ± {100 * float(std):.2f}")

        rows = [[MISSING if is_missing(r["rank"]) else str(int(r["rank"])), str(r["candidate"]),
                 str(r["n"]) + (f" (+{r['failed']} failed)" if r["failed"] else ""), pm(r["mean"], r["std"]),
                 MISSING if is_missing(r["ci_low"]) else f"{100 * r['ci_low']:.2f} to {100 * r['ci_high']:.2f}",
                 percent(r["prob_best"]), r["group"] if isinstance(r["group"], str) else MISSING,
                 human(r["params"]), human(r["flops"]),
                 str(r["label"]) if not is_missing(r["rank"]) else f"{r['label']} (failed: {r[keys.FAILURE_REASON]})"]
                for _, r in self.table.iterrows()]
        header = ["rank", "candidate", "runs", "val acc (mean ± sd)", "val CI", "P(best)", "group", "params",
                  "FLOPs", "architecture"]
        seeds = self.info.get("seeds")
        head = (f"<p><b>Ranking {escape(self.folder.name)}</b>: {len(self.table)} candidates"
                + (f", {escape(seeds)} seeds each" if seeds is not None else "")
                + f"; the full report is {escape(self.folder / 'rank.html')}</p>")
        notes = bullets([escape(n) for n in self.notes]) if self.notes else ""
        return head + html_table(header, rows, numeric=("runs", "params", "FLOPs")) + notes


# ---------------------------------------------------------------------------------------------
