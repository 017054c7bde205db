"""Samplers and pruners by name: the Optuna objects a study runs with, seeded, constraint-aware.

Samplers: tpe (default), random, grid (every point of a discrete space exactly once: Optuna's
BruteForceSampler, which follows define-by-run conditional parameters), nsga2, gp, qmc. Hard
constraints reach them through `Trial.set_constraint` (Optuna 5's way; positive values are
violations, see harness.search.constraints): tpe, nsga2 and gp read them from the trials.
Pruners for one objective: median, hyperband, sha, none (two-objective studies use
harness.search.pruning's Pareto policy instead, which Optuna lacks).
"""

from __future__ import annotations

import warnings

import optuna

from harness.errors import HarnessError
from harness.search.space import SearchSpace

SAMPLERS = ("tpe", "random", "grid", "nsga2", "gp", "qmc")
PRUNERS = ("median", "hyperband", "sha", "pareto", "none")
# Above this many points an exhaustive grid is refused: it would never finish as a brief search.
MAX_GRID_POINTS = 100_000


def grid_size(space: SearchSpace) -> int:
    """Number of grid points of `space` (architectures times searched training values), or a
    HarnessError saying why the space cannot be enumerated (a continuous range, too many)."""
    continuous = [name for name, param in space.searched.items() if param.values() is None]
    if continuous:
        raise HarnessError(f"--sampler grid needs a discrete space; {', '.join(continuous)} "
                           "is a continuous range (give it a `step` or a list of choices)")
    count = space.architecture_count() or 0
    for name, param in space.searched.items():
        if name.startswith("train."):
            count *= len(param.values() or ())
    if count > MAX_GRID_POINTS:
        raise HarnessError(f"--sampler grid would enumerate {count:,} points, more than {MAX_GRID_POINTS:,}; "
                           "use tpe or random, or fix some parameters")
    return count


def grid_trials(space: SearchSpace) -> int:
    """An upper bound on the trials a grid runs: the product of every searched parameter's number
    of values. The grid walks parameter combinations (conditional ones only where they apply),
    and two values can make the same network (null and the family default), so it may take more
    trials than `grid_size` networks; Optuna's BruteForceSampler stops the study when the tree
    is exhausted, usually well before this bound, and repeated networks reuse their result."""
    bound = 1
    for param in space.searched.values():
        bound *= len(param.values() or ())
    return bound


def make_sampler(name: str, seed: int, space: SearchSpace | None = None) -> optuna.samplers.BaseSampler:
    """The sampler called `name`, seeded with `seed` (with `space`, grid checks it can enumerate it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "tpe":
            return optuna.samplers.TPESampler(seed=seed)
        if name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if name == "grid":
            if space is not None:
                grid_size(space)  # refuses a space that cannot be enumerated, saying why
            return optuna.samplers.BruteForceSampler(seed=seed)
        if name == "nsga2":
            return optuna.samplers.NSGAIISampler(seed=seed)
        if name == "gp":
            return optuna.samplers.GPSampler(seed=seed, warn_independent_sampling=False)
        if name == "qmc":
            return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False,
                                              warn_asynchronous_seeding=False)
    raise HarnessError(f"unknown sampler {name!r}; valid: {', '.join(SAMPLERS)}")


def make_pruner(name: str, max_epochs: int | None) -> optuna.pruners.BasePruner:
    """The single-objective pruner called `name` (epochs are the steps; see PRUNERS)."""
    if name == "median":
        # Five trials before any pruning, and no decision on the first epoch (steps are 1-based
        # epochs): one epoch of a brief run says little about where a network ends.
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=2)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_epochs or "auto",
                                              reduction_factor=3)
    if name == "sha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    if name in ("none", "pareto"):  # pareto acts inside the objective (two objectives)
        return optuna.pruners.NopPruner()
    raise HarnessError(f"unknown pruner {name!r}; valid: {', '.join(PRUNERS)}")
