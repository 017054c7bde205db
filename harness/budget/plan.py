"""BudgetPlan: one wall-clock budget shared out among the search (in rungs of epochs), the ranking of
its best over seeds, and the winner's final training over seeds; and `parse_budget` ("60m" -> 3600 s).

The shares are fractions of the budget, so the last part is never squeezed out by the first: the
search stops at its share (nothing is started that cannot end by then), and what an earlier stage
leaves unspent goes to the later ones. The stages' epochs are decided from measured seconds per
epoch as each stage starts (`fit_ranking`, `fit_final`), never from a guess made before it.

Why these shares: the final training is what the user keeps, so it gets the most (45%); the search
gets enough trials for successive halving to choose among (25%), and the ranking enough runs of the
best five at the search's last rung to say whether the search's order holds (25%). Under 20
minutes there is room for little of either: the final training gets 65%, the search 20%, the
ranking 10% (then mostly skipped, its time going to the final training). A reserve (5%, at least
RESERVE_MIN_S) covers the test split, the model folder, the ONNX export and the page.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

from harness.errors import HarnessError

SHARES = {"search": 0.25, "rank": 0.25, "final": 0.45, "reserve": 0.05}
SMALL_SHARES = {"search": 0.20, "rank": 0.10, "final": 0.65, "reserve": 0.05}  # under SMALL_BUDGET_S
RESERVE_MIN_S = 30.0  # the test split, ONNX export (torch.export: seconds) and pages, on a slow machine too
# Successive halving over epochs of the whole training split, reduction factor 3 (Optuna's
# SuccessiveHalvingPruner, min_resource 1): a third of the trials at each rung go on to the next.
REDUCTION = 3
LONG_BUDGET_S = 3 * 3600.0  # from here on a third rung (9 epochs)
RANK_TOP = 5  # candidates ranked: Kendall's tau needs at least 5 to say anything
RANK_SEEDS = 2
FINAL_SEEDS = 3
SMALL_BUDGET_S = 20 * 60.0  # below it the final training runs 2 seeds, not 3

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_budget(text: str | float | int) -> float:
    """Seconds from a budget: a number of seconds, or amounts with units s, m, h ("90s", "60m",
    "1h30m", "1.5h"); anything else is refused, naming the setting."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        raw = str(text).strip().lower()
        parts = re.fullmatch(r"((?:\d+(?:\.\d+)?[smh])+)|(\d+(?:\.\d+)?)", raw)
        if parts is None:
            raise HarnessError(f"budget {text!r}: give seconds or amounts with units s, m, h (90s, 60m, 1h30m)")
        if parts.group(2) is not None:
            seconds = float(parts.group(2))
        else:
            seconds = sum(float(n) * _UNITS[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)([smh])", raw))
    if not math.isfinite(seconds) or seconds <= 0:
        raise HarnessError(f"budget {text!r}: must be a positive time")
    return seconds


def minutes(seconds: float) -> str:
    """A duration for a plan line: 42 s, 7.5 min, 1 h 05 min."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


@dataclass(frozen=True)
class BudgetPlan:
    """How a budget is shared: seconds per stage, the search's rungs (epochs), the ranking's
    candidates and seeds, the final training's seeds, and the estimate of an epoch it was made with."""

    budget_s: float
    search_s: float
    rank_s: float
    final_s: float
    reserve_s: float
    rungs: tuple[int, ...]
    top: int
    rank_seeds: int
    final_seeds: int
    epoch_s: float  # estimated wall seconds of one epoch of a typical network of the space (with validation)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> BudgetPlan:
        values = dict(data)
        values["rungs"] = tuple(values["rungs"])  # type: ignore[arg-type]
        return cls(**values)  # type: ignore[arg-type]

    def lines(self) -> list[str]:
        """The plan as the run prints it first."""
        rungs = ", ".join(str(r) for r in self.rungs)
        return [
            f"plan for {minutes(self.budget_s)} (one epoch of a typical network here: about {self.epoch_s:.0f} s):",
            f"  search   {minutes(self.search_s):>9}  successive halving over epochs of the whole training split, "
            f"rungs at {rungs} epoch(s), a third go on at each",
            f"  ranking  {minutes(self.rank_s):>9}  the best {self.top} of the search, {self.rank_seeds} new seeds "
            f"each, {self.rungs[-1]} epoch(s) a run (as the last rung)",
            f"  final    {minutes(self.final_s):>9}  the ranking's winner over {self.final_seeds} seeds, as many "
            "epochs as fit (decided from its measured epoch time)",
            f"  reserve  {minutes(self.reserve_s):>9}  the test split once (the winner's runs only), the model "
            "folder, ONNX, the page",
        ]


def _shares(budget_s: float) -> tuple[float, float, float, float]:
    """(search, rank, final, reserve) seconds of a budget."""
    shares = SHARES if budget_s >= SMALL_BUDGET_S else SMALL_SHARES
    reserve = max(RESERVE_MIN_S, shares["reserve"] * budget_s)
    usable = max(0.0, budget_s - reserve) / (1 - shares["reserve"])
    return shares["search"] * usable, shares["rank"] * usable, shares["final"] * usable, reserve


def _fits(budget_s: float, epoch_s: float) -> bool:
    search, _, final, _ = _shares(budget_s)
    return search >= epoch_s and final >= epoch_s


def plan_budget(budget_s: float, epoch_s: float) -> BudgetPlan:
    """The plan for `budget_s` seconds where one epoch takes about `epoch_s` (with validation).
    Refused (HarnessError, before anything is written) when the search's share cannot hold one
    trial's first rung or the final share one epoch: the line says the least budget that can."""
    if not _fits(budget_s, epoch_s):
        least = 60.0
        while not _fits(least, epoch_s):
            least += 60.0
        raise HarnessError(f"budget {minutes(budget_s)} is too small: one epoch of this space's networks takes "
                           f"about {epoch_s:.0f} s here, and the search's share must hold one; give at least "
                           f"{minutes(least)}")
    search, rank, final, reserve = _shares(budget_s)
    rungs = (1, 3, 9) if budget_s >= LONG_BUDGET_S else (1, 3)
    seeds = FINAL_SEEDS if budget_s >= SMALL_BUDGET_S else 2
    return BudgetPlan(budget_s, search, rank, final, reserve, rungs, RANK_TOP, RANK_SEEDS, seeds, epoch_s)


def fit_ranking(seconds: float, epoch_s: list[float], epochs: int, seeds: int) -> tuple[int, int]:
    """(candidates, seeds) of a ranking that fits `seconds`, where the candidates, best first, take
    `epoch_s` seconds an epoch and each run trains `epochs`: the most candidates (at least 2; Kendall's
    tau against the search needs five to say anything), then the most seeds for them; (0, 0) when not
    even 2 candidates of one run each fit."""
    for k in range(len(epoch_s), 1, -1):
        for s in range(seeds, 0, -1):
            if s * epochs * sum(epoch_s[:k]) <= seconds:
                return k, s
    return 0, 0


def fit_final(seconds: float, epoch_s: float, seeds: int, min_epochs: int = 1) -> tuple[int, int]:
    """(epochs, seeds) of the final training that fit `seconds` at `epoch_s` an epoch: the most
    epochs for `seeds` seeds, or for fewer seeds where that gives each under `min_epochs` (the search's
    last rung: a final run shorter than the search's own would say less than it); at worst one seed
    of what fits; (0, 0) when not one epoch fits."""
    for s in range(seeds, 0, -1):
        epochs = int(seconds // (s * epoch_s))
        if epochs >= max(1, min_epochs):
            return epochs, s
    epochs = int(seconds // epoch_s)
    return (epochs, 1) if epochs >= 1 else (0, 0)
