"""Samplers and pruners by name: the Optuna objects a study runs with, seeded, constraint-aware.

Samplers: tpe (default; Optuna's TPE shown at most 1,000 finished trials, harness.search.window),
random, grid (every point of a discrete space exactly once: Optuna's BruteForceSampler, which
follows define-by-run conditional parameters), nsga2, gp, qmc. Hard
constraints reach them through `Trial.set_constraint` (Optuna 5's way; positive values are
violations, see harness.search.constraints): tpe, nsga2 and gp read them from the trials.
Pruners for one objective: median, hyperband, sha, none (two-objective studies use
harness.search.pruning's Pareto policy instead, which Optuna lacks).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import optuna

from harness.errors import SettingError
from harness.registry import Registry
from harness.search.space import SearchSpace

# Above this many points an exhaustive grid is refused: it would never finish as a brief search.
MAX_GRID_POINTS = 100_000


def grid_size(space: SearchSpace) -> int:
    """Number of grid points of `space` (architectures times searched training values), or a
    SettingError saying why the space cannot be enumerated (a continuous range, too many)."""
    continuous = [name for name, param in space.searched.items() if param.values() is None]
    if continuous:
        raise SettingError(f"{{sampler='grid'}} needs a discrete space; {', '.join(continuous)} "
                           "is a continuous range (give it a `step` or a list of choices)", "sampler")
    count = space.architecture_count() or 0
    for name, param in space.searched.items():
        if name.startswith("train."):
            count *= len(param.values() or ())
    if count > MAX_GRID_POINTS:
        raise SettingError(f"{{sampler='grid'}} would enumerate {count:,} points, more than {MAX_GRID_POINTS:,}; "
                           "use tpe or random, or fix some parameters", "sampler")
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


# Name -> factory(seed, space) of an Optuna sampler; `make_sampler` looks them up.
SAMPLERS: Registry[Callable[[int, SearchSpace | None], optuna.samplers.BaseSampler]] = Registry("sampler")
# Name -> factory(max_epochs) of a one-objective Optuna pruner (epochs are the steps).
PRUNERS: Registry[Callable[[int | None], optuna.pruners.BasePruner]] = Registry("pruner")


def _grid(seed: int, space: SearchSpace | None) -> optuna.samplers.BaseSampler:
    if space is not None:
        grid_size(space)  # refuses a space that cannot be enumerated, saying why
    return optuna.samplers.BruteForceSampler(seed=seed)


def _tpe(seed: int, space: SearchSpace | None) -> optuna.samplers.BaseSampler:
    from harness.search.window import WindowedTPESampler

    return WindowedTPESampler(seed=seed)


SAMPLERS.register("tpe", _tpe)
SAMPLERS.register("random", lambda seed, space: optuna.samplers.RandomSampler(seed=seed))
SAMPLERS.register("grid", _grid)
SAMPLERS.register("nsga2", lambda seed, space: optuna.samplers.NSGAIISampler(seed=seed))
SAMPLERS.register("gp", lambda seed, space: optuna.samplers.GPSampler(seed=seed, warn_independent_sampling=False))
SAMPLERS.register("qmc", lambda seed, space: optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False,
                                                                        warn_asynchronous_seeding=False))
# Five trials before any pruning, and no decision on the first epoch (steps are 1-based epochs):
# one epoch of a brief run says little about where a network ends.
PRUNERS.register("median", lambda max_epochs: optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=2))
PRUNERS.register("hyperband", lambda max_epochs: optuna.pruners.HyperbandPruner(
    min_resource=1, max_resource=max_epochs or "auto", reduction_factor=3))
PRUNERS.register("sha", lambda max_epochs: optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3))
PRUNERS.register("pareto", lambda max_epochs: optuna.pruners.NopPruner())  # acts inside the objective (two objectives)
PRUNERS.register("none", lambda max_epochs: optuna.pruners.NopPruner())


def make_sampler(name: str, seed: int, space: SearchSpace | None = None) -> optuna.samplers.BaseSampler:
    """The sampler called `name`, seeded with `seed` (with `space`, grid checks it can enumerate it);
    an unknown name lists the valid ones."""
    factory = SAMPLERS.get(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return factory(seed, space)


def make_pruner(name: str, max_epochs: int | None) -> optuna.pruners.BasePruner:
    """The single-objective pruner called `name` (epochs are the steps); an unknown name lists the valid ones."""
    return PRUNERS.get(name)(max_epochs)
