"""Samplers and pruners by name (harness.search.samplers) in real in-memory Optuna studies over small
spaces: every sampler suggests valid, reproducible architectures for one and two objectives; the
grid visits each point of a discrete space (conditional parameters included) exactly once and
refuses spaces it cannot enumerate; constraint violations reach Optuna and steer TPE; unknown
names are refused with the valid ones. No training: objectives are functions of the spec."""

from __future__ import annotations

import itertools

import optuna
import pytest

from harness import HarnessError, space_from_dict, validate_spec
from harness.search.samplers import (
    MAX_GRID_POINTS,
    PRUNERS,
    SAMPLERS,
    grid_size,
    grid_trials,
    make_pruner,
    make_sampler,
)
from harness.search.space import SearchSpace
from harness.search.window import WindowedTPESampler
from harness.zoo.spec import ArchSpec

# A block choice with an option only one family reads (expansion: bottleneck), per-stage kernel
# sizes, an integer range and a discrete float range of a training value: 2 x 2 x 2 x 2 (bottleneck
# expansion) + 2 x 2 x 2 (plain) = 24 architectures, x 3 learning rates = 72 grid points.
MIXED = {
    "stem": {"width": {"low": 8, "high": 16, "step": 8}},
    "stages": {"count": 2, "block": ["plain", "bottleneck"], "expansion": [0.25, 0.5], "width": 8,
               "stride": 2, "kernel_size": {"choices": [3, 5], "per_stage": True}},
    "train": {"epochs": 1, "lr": {"low": 0.001, "high": 0.003, "step": 0.001}},
}
# The grid-coverage space of the brief: block [plain, bottleneck], expansion [0.25, 0.5] (only
# bottleneck reads it), kernel [3, 5]: 2 (plain) + 2 x 2 (bottleneck) = 6 architectures.
CONDITIONAL = {
    "stem": {"width": 8},
    "stages": {"count": 2, "block": ["plain", "bottleneck"], "expansion": [0.25, 0.5], "width": 8,
               "stride": 2, "kernel_size": [3, 5]},
}
TWO_OBJECTIVES = ("maximize", "minimize")


@pytest.fixture(autouse=True)
def quiet_optuna():
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    yield
    optuna.logging.set_verbosity(verbosity)


def score(spec: ArchSpec) -> float:
    """A deterministic stand-in for accuracy: a number in [0, 1) from the spec's id."""
    return int(spec.spec_id[:8], 16) / 2**32


def cost(spec: ArchSpec) -> float:
    """A stand-in for a cost (the second objective): grows with kernel sizes and expansion."""
    return float(sum(s.kernel_size * (1 + (s.expansion or 0)) for s in spec.stages))


def every_architecture(space: SearchSpace) -> set[str]:
    """spec_ids of the product of every searched architecture parameter's values (conditional
    ones included where they do not apply: `build` ignores them there), i.e. by brute force."""
    names = [n for n in space.searched if not n.startswith("train.")]
    values = [space.searched[n].values() for n in names]
    fixed_train = {n: p.example() for n, p in space.searched.items() if n.startswith("train.")}
    return {space.build({**dict(zip(names, combo, strict=True)), **fixed_train})[0].spec_id
            for combo in itertools.product(*values)}


def run_study(name: str, seed: int, space: SearchSpace, trials: int, directions=("maximize",),
              **kwargs) -> tuple[optuna.Study, list[ArchSpec]]:
    """A real in-memory study with the sampler `name`; the objective suggests through the space."""
    study = optuna.create_study(sampler=make_sampler(name, seed, space, **kwargs), directions=list(directions))
    specs: list[ArchSpec] = []

    def objective(trial: optuna.Trial):
        spec, config = space.suggest(trial)
        specs.append(spec)
        return score(spec) if len(directions) == 1 else (score(spec), cost(spec))

    study.optimize(objective, n_trials=trials)
    return study, specs


def trials_for(name: str) -> int:
    """Enough trials that each sampler gets past its random start: gp and tpe have 10 startup
    trials, nsga2 a first generation of 50."""
    return {"gp": 12, "nsga2": 60, "tpe": 14}.get(name, 8)


# ------------------------------------------------------------------ every sampler
@pytest.mark.parametrize("directions", [("maximize",), TWO_OBJECTIVES], ids=["one", "two"])
@pytest.mark.parametrize("name", SAMPLERS)
def test_every_sampler_suggests_valid_architectures_reproducibly(name: str, directions: tuple[str, ...]) -> None:
    space = space_from_dict(MIXED, default_name="mixed")
    n = trials_for(name)
    study, specs = run_study(name, 7, space, n, directions)
    assert len(study.trials) == n
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    for spec in specs:
        validate_spec(spec, (32, 32), 3)
    assert {t.params["block"] for t in study.trials} <= {"plain", "bottleneck"}
    for trial in study.trials:  # expansion is asked exactly where a bottleneck reads it
        assert ("expansion" in trial.params) == (trial.params["block"] == "bottleneck")
    if len(directions) == 2:
        assert study.best_trials  # a Pareto front
    again, _ = run_study(name, 7, space, n, directions)
    assert [t.params for t in again.trials] == [t.params for t in study.trials]


@pytest.mark.parametrize("name", ["random", "tpe", "nsga2", "qmc"])
def test_different_seeds_give_different_searches(name: str) -> None:
    space = space_from_dict(MIXED, default_name="mixed")
    first, _ = run_study(name, 0, space, 8)
    second, _ = run_study(name, 1, space, 8)
    assert [t.params for t in first.trials] != [t.params for t in second.trials]


# ------------------------------------------------------------------ grid
def run_grid_to_the_end(space: SearchSpace, limit: int = 1000) -> tuple[optuna.Study, list[tuple[str, float]]]:
    """A grid study asked for far more trials than the grid has: BruteForceSampler calls
    study.stop itself once every point has been asked."""
    study = optuna.create_study(sampler=make_sampler("grid", 0, space))
    seen: list[tuple[str, float]] = []

    def objective(trial: optuna.Trial) -> float:
        spec, config = space.suggest(trial)
        seen.append((spec.spec_id, config.lr))
        return score(spec)

    study.optimize(objective, n_trials=limit)
    return study, seen


def test_grid_visits_every_architecture_once_with_conditional_parameters() -> None:
    space = space_from_dict(CONDITIONAL, default_name="conditional")
    study, seen = run_grid_to_the_end(space)
    ids = [spec_id for spec_id, _ in seen]
    assert len(ids) == len(set(ids)), "an architecture was visited twice"
    assert set(ids) == every_architecture(space)
    assert len(study.trials) == grid_size(space) == space.architecture_count() == 6
    # The conditional parameter is asked only of bottleneck trials, once per value.
    bottleneck = [t.params for t in study.trials if t.params["block"] == "bottleneck"]
    assert sorted((p["kernel_size"], p["expansion"]) for p in bottleneck) == [(3, 0.25), (3, 0.5), (5, 0.25),
                                                                              (5, 0.5)]
    assert all("expansion" not in t.params for t in study.trials if t.params["block"] == "plain")


def test_grid_multiplies_architectures_by_searched_training_values() -> None:
    space = space_from_dict(MIXED, default_name="mixed")
    study, seen = run_grid_to_the_end(space)
    assert space.architecture_count() == 24
    assert len(study.trials) == grid_size(space) == 24 * 3
    assert len(set(seen)) == len(seen)  # each (architecture, lr) once
    assert {spec_id for spec_id, _ in seen} == every_architecture(space)
    assert sorted({round(lr, 6) for _, lr in seen}) == [0.001, 0.002, 0.003]


def test_grid_covers_every_architecture_when_values_coincide() -> None:
    # expansion [null, 0.25]: a bottleneck's null resolves to 0.25, so the grid's 12 points make
    # 8 networks; the grid walks the points (grid_trials bounds them) and reaches all 8.
    space = space_from_dict({**CONDITIONAL, "stages": {**CONDITIONAL["stages"], "expansion": [None, 0.25],
                                                       "kernel_size": {"choices": [3, 5], "per_stage": True}}},
                            default_name="null_expansion")
    n = grid_trials(space)
    assert grid_size(space) == 8 and n >= 12
    missed = []
    for seed in range(3):
        study = optuna.create_study(sampler=make_sampler("grid", seed, space))
        ids: set[str] = set()
        study.optimize(lambda t: (ids.add(space.suggest(t)[0].spec_id), 0.0)[1], n_trials=n)  # noqa: B023
        missed.append(len(every_architecture(space) - ids))
    assert missed == [0, 0, 0]


def test_grid_refuses_a_continuous_range_naming_it() -> None:
    space = space_from_dict({**CONDITIONAL, "train": {"lr": {"low": 1e-4, "high": 1e-2, "log": True}}},
                            default_name="continuous")
    for call in (lambda: grid_size(space), lambda: make_sampler("grid", 0, space)):
        with pytest.raises(HarnessError, match=r"train\.lr is a continuous range"):
            call()


def test_grid_refuses_a_space_over_the_limit_saying_its_size() -> None:
    # 6 stages, each with its own kernel (5 values) and dilation (2): 10^6 architectures.
    space = space_from_dict({"stages": {"count": 6, "width": 8,
                                        "kernel_size": {"choices": [3, 5, 7, 9, 11], "per_stage": True},
                                        "dilation": {"choices": [1, 2], "per_stage": True}}},
                            default_name="huge")
    assert space.architecture_count() == 10**6 > MAX_GRID_POINTS
    for call in (lambda: grid_size(space), lambda: make_sampler("grid", 0, space)):
        with pytest.raises(HarnessError, match=r"1,000,000 points, more than 100,000"):
            call()


def test_grid_without_a_space_is_not_checked() -> None:
    assert isinstance(make_sampler("grid", 0), optuna.samplers.BruteForceSampler)


# ------------------------------------------------------------------ constraints
KERNELS = {"stem": {"width": 8},
           "stages": {"count": 3, "width": 8, "stride": 2,
                      "kernel_size": {"choices": [3, 5, 7, 9], "per_stage": True}, "dilation": [1, 2]}}


def constrained_study(name: str, seed: int, trials: int, constraints: bool) -> optuna.Study:
    """Maximise the kernel sizes, where a first-stage kernel above 5 is infeasible (half the
    space, the half the objective pulls towards): violation = s1 kernel - 6 (> 0 for 7 and 9)."""
    space = space_from_dict(KERNELS, default_name="kernels")
    study = optuna.create_study(direction="maximize", sampler=make_sampler(name, seed, space))

    def objective(trial: optuna.Trial) -> float:
        spec, _ = space.suggest(trial)
        kernels = [s.kernel_size for s in spec.stages]
        trial.set_user_attr("violation", float(kernels[0] - 6))
        if constraints:
            trial.set_constraint("s1_kernel", float(kernels[0] - 6))  # as the study does
        return float(sum(kernels) + spec.stages[0].dilation)

    study.optimize(objective, n_trials=trials)
    return study


@pytest.mark.parametrize("name", ["tpe", "nsga2", "gp"])
def test_constraint_values_reach_optuna(name: str) -> None:
    study = constrained_study(name, 0, 4, constraints=True)
    for trial in study.trials:
        assert trial.constraints == {"s1_kernel": trial.user_attrs["violation"]}  # what the samplers read


@pytest.mark.parametrize("name", ["tpe", "random", "qmc", "grid"])
def test_without_constraints_optuna_records_none(name: str) -> None:
    study = constrained_study(name, 0, 4, constraints=False)
    assert all(t.constraints == {} for t in study.trials)


def infeasible_share(study: optuna.Study) -> float:
    return sum(t.user_attrs["violation"] > 0 for t in study.trials) / len(study.trials)


def test_tpe_with_constraints_samples_the_infeasible_region_less() -> None:
    # Measured over seeds 0-9 (60 trials): random 0.43-0.60 infeasible (mean 0.50), TPE without
    # constraints 0.63-0.72 (it chases the large kernels), TPE with constraints 0.27-0.33.
    seeds = (0, 1, 2)
    shares = {label: sum(infeasible_share(constrained_study(name, s, 60, constraints=c)) for s in seeds) / len(seeds)
              for label, name, c in (("random", "random", False), ("tpe", "tpe", False),
                                     ("tpe+constraints", "tpe", True))}
    assert shares["tpe+constraints"] < shares["random"] - 0.1, shares
    assert shares["tpe+constraints"] < shares["tpe"] - 0.2, shares


# ------------------------------------------------------------------ names
def test_unknown_sampler_lists_the_valid_ones() -> None:
    with pytest.raises(HarnessError, match="unknown sampler 'bayes'") as info:
        make_sampler("bayes", 0)
    assert all(name in str(info.value) for name in SAMPLERS)


def test_unknown_pruner_lists_the_valid_ones() -> None:
    with pytest.raises(HarnessError, match="unknown pruner 'asha'") as info:
        make_pruner("asha", 4)
    assert all(name in str(info.value) for name in PRUNERS)


@pytest.mark.parametrize(("name", "cls"), [
    ("median", optuna.pruners.MedianPruner),
    ("hyperband", optuna.pruners.HyperbandPruner),
    ("sha", optuna.pruners.SuccessiveHalvingPruner),
    ("pareto", optuna.pruners.NopPruner),
    ("none", optuna.pruners.NopPruner),
])
def test_make_pruner_gives_the_optuna_pruner(name: str, cls: type) -> None:
    assert type(make_pruner(name, 4)) is cls
    assert type(make_pruner(name, None)) is cls


def test_every_pruner_name_is_covered() -> None:
    assert set(PRUNERS) == {"median", "hyperband", "sha", "pareto", "none"}


@pytest.mark.parametrize(("name", "cls"), [
    ("tpe", WindowedTPESampler), ("random", optuna.samplers.RandomSampler),
    ("grid", optuna.samplers.BruteForceSampler), ("nsga2", optuna.samplers.NSGAIISampler),
    ("gp", optuna.samplers.GPSampler), ("qmc", optuna.samplers.QMCSampler),
])
def test_make_sampler_gives_the_optuna_sampler(name: str, cls: type) -> None:
    assert type(make_sampler(name, 0)) is cls
