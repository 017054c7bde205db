"""harness: architecture search and benchmarking for convolutional networks.

The package is a house with floors, one subpackage per step of the flow (docs/architecture.md):

    core (errors, registry, numbers, files, pareto, signals)   shared basics, import nothing of harness
    zoo/    ArchSpec, layers, blocks, parts, build_model, measure, presets     } side by side:
    data/   ImageData, the dataset registry, sources/, splits, loader          } never import each other
    train/  the training loop, evaluate_spec (one trial without Optuna)
    store/  Optuna storages, the trials table, the one results-folder reader, run.json
    report/ tables, importance, plots/ (one module per figure), HTML
    search/ space/, samplers, pruning, constraints, the study (config, objective, writer), workers, export
    rank/   candidates, multi-seed runs, statistics, tables, its report
    final/  the winner trained to the end, the model folder, ONNX, predict
    budget/ one wall-clock budget: plan, search in rungs, ranking, final runs over seeds, test once
    cli/    the command line, a thin layer over this API

A module imports only from its own subpackage or a floor below (tests/test_layers.py checks it).
Names below are loaded on first use, so `import harness` (and the CLI) starts without torch.

The public API, in the order data flows (the CLI is a thin layer over it):

    import harness
    space = harness.load_space("search_spaces/kernel_size.yaml")     # YAML -> SearchSpace
    spec, train_config, params = space.sample(seed=0)                 # -> ArchSpec (plain data)
    model = harness.build_model(spec, input_size=(32, 32))            # -> nn.Module
    resnet = harness.preset("resnet18")                               # a classic network as a spec
    info = harness.profile_spec(resnet, (3, 224, 224), 1000)          # params, FLOPs, RF, map sizes
    costs = harness.measure_model(model, spec, (3, 32, 32))          # params, FLOPs, receptive field
    data = harness.load_dataset("default")
    ev = harness.evaluate_spec(spec, data, train_config)              # train briefly -> metrics
    frame = harness.run_search(space, harness.SearchConfig(trials=4)) # the study -> DataFrame
    config = harness.SearchConfig(sampler="grid", seconds=30, constraints=harness.Constraints(max_flops=5e6),
                                  objectives="accuracy,flops", pareto=harness.ParetoPruner(margin=0.02))
    frame = harness.load_trials("results/kernel_size")                # a finished study's table
    cands, study, base = harness.candidates_from_study("results/kernel_size", top=5)
    ranking = harness.run_rank(cands + harness.candidates_from_presets(["resnet18"], base),
                               harness.RankConfig(seeds=3, budget_factor=5), study=study)
    ranking.table                                                     # mean, CI, P(best), groups
    result = harness.run_budget(space, harness.BudgetConfig(budget=600))  # one budget, end to end (harness run)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public name -> (module, name there).
_API = {
    "ArchSpec": ("harness.zoo.spec", "ArchSpec"),
    "BLOCKS": ("harness.zoo.blocks", "BLOCKS"),
    "BudgetConfig": ("harness.budget.settings", "BudgetConfig"),
    "Candidate": ("harness.rank.candidates", "Candidate"),
    "Constraints": ("harness.search.constraints", "Constraints"),
    "Costs": ("harness.zoo.measure", "Costs"),
    "DATASETS": ("harness.data", "DATASETS"),
    "DataOptions": ("harness.data", "DataOptions"),
    "Evaluation": ("harness.train.evaluate", "Evaluation"),
    "HarnessError": ("harness.errors", "HarnessError"),
    "HeadSpec": ("harness.zoo.spec", "HeadSpec"),
    "ImageData": ("harness.data", "ImageData"),
    "Metric": ("harness.store.record", "Metric"),
    "PRESETS": ("harness.zoo.presets", "PRESETS"),
    "ParetoPruner": ("harness.search.pruning", "ParetoPruner"),
    "RankConfig": ("harness.rank.ranking", "RankConfig"),
    "Ranking": ("harness.rank.ranking", "Ranking"),
    "SearchConfig": ("harness.search.search_config", "SearchConfig"),
    "SearchSpace": ("harness.search.space", "SearchSpace"),
    "SettingError": ("harness.errors", "SettingError"),
    "SpaceError": ("harness.errors", "SpaceError"),
    "SpecError": ("harness.errors", "SpecError"),
    "StageSpec": ("harness.zoo.spec", "StageSpec"),
    "StemSpec": ("harness.zoo.spec", "StemSpec"),
    "TrainConfig": ("harness.train.loop", "TrainConfig"),
    "TrainResult": ("harness.train.loop", "TrainResult"),
    "build_model": ("harness.zoo.model", "build_model"),
    "candidates_from_presets": ("harness.rank.candidates", "from_presets"),
    "candidates_from_spec_files": ("harness.rank.candidates", "from_spec_files"),
    "candidates_from_study": ("harness.rank.candidates", "from_study"),
    "count_flops": ("harness.zoo.measure", "count_flops"),
    "count_params": ("harness.zoo.measure", "count_params"),
    "evaluate_spec": ("harness.train.evaluate", "evaluate_spec"),
    "load_dataset": ("harness.data", "load_dataset"),
    "load_space": ("harness.search.space", "load_space"),
    "load_spec": ("harness.zoo.specfile", "load_spec"),
    "load_trials": ("harness.store.results_folder", "load_trials"),
    "measure_model": ("harness.zoo.measure", "measure_model"),
    "pareto_front": ("harness.store.trials", "pareto_front"),
    "preset": ("harness.zoo.presets", "preset"),
    "profile_spec": ("harness.zoo.measure", "profile_spec"),
    "receptive_field": ("harness.zoo.measure", "receptive_field"),
    "register_metric": ("harness.store.record", "register"),
    "resolve_spec": ("harness.zoo.model", "resolve_spec"),
    "run_budget": ("harness.budget.pipeline", "run_budget"),
    "run_rank": ("harness.rank.runs", "run_rank"),
    "run_search": ("harness.search.study", "run_search"),
    "space_from_dict": ("harness.search.space", "space_from_dict"),
    "train_model": ("harness.train.loop", "train_model"),
    "validate_spec": ("harness.zoo.model", "validate_spec"),
}

if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from harness.budget.pipeline import run_budget
    from harness.budget.settings import BudgetConfig
    from harness.data import DATASETS, DataOptions, ImageData, load_dataset
    from harness.errors import HarnessError, SettingError, SpaceError, SpecError
    from harness.rank.candidates import Candidate
    from harness.rank.candidates import from_presets as candidates_from_presets
    from harness.rank.candidates import from_spec_files as candidates_from_spec_files
    from harness.rank.candidates import from_study as candidates_from_study
    from harness.rank.ranking import RankConfig, Ranking
    from harness.rank.runs import run_rank
    from harness.search.constraints import Constraints
    from harness.search.pruning import ParetoPruner
    from harness.search.search_config import SearchConfig
    from harness.search.space import SearchSpace, load_space, space_from_dict
    from harness.search.study import run_search
    from harness.store.record import Metric
    from harness.store.record import register as register_metric
    from harness.store.results_folder import load_trials
    from harness.store.trials import pareto_front
    from harness.train.evaluate import Evaluation, evaluate_spec
    from harness.train.loop import TrainConfig, TrainResult, train_model
    from harness.zoo.blocks import BLOCKS
    from harness.zoo.measure import Costs, count_flops, count_params, measure_model, profile_spec, receptive_field
    from harness.zoo.model import build_model, resolve_spec, validate_spec
    from harness.zoo.presets import PRESETS, preset
    from harness.zoo.spec import ArchSpec, HeadSpec, StageSpec, StemSpec
    from harness.zoo.specfile import load_spec


def __getattr__(name: str) -> Any:
    """Load a public name on first use (PEP 562) and keep it: `harness.build_model` imports
    harness.zoo.model then."""
    try:
        module, attr = _API[name]
    except KeyError:
        raise AttributeError(f"module 'harness' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])


__all__ = [
    "BLOCKS",
    "DATASETS",
    "PRESETS",
    "ArchSpec",
    "BudgetConfig",
    "Candidate",
    "Constraints",
    "Costs",
    "DataOptions",
    "Evaluation",
    "HarnessError",
    "HeadSpec",
    "ImageData",
    "Metric",
    "ParetoPruner",
    "RankConfig",
    "Ranking",
    "SearchConfig",
    "SearchSpace",
    "SettingError",
    "SpaceError",
    "SpecError",
    "StageSpec",
    "StemSpec",
    "TrainConfig",
    "TrainResult",
    "build_model",
    "candidates_from_presets",
    "candidates_from_spec_files",
    "candidates_from_study",
    "count_flops",
    "count_params",
    "evaluate_spec",
    "load_dataset",
    "load_space",
    "load_spec",
    "load_trials",
    "measure_model",
    "pareto_front",
    "preset",
    "profile_spec",
    "receptive_field",
    "register_metric",
    "resolve_spec",
    "run_budget",
    "run_rank",
    "run_search",
    "space_from_dict",
    "train_model",
    "validate_spec",
]
