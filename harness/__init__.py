"""harness: architecture search and benchmarking for convolutional networks.

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
"""

from harness.data import DATASETS, DataOptions, ImageData, load_dataset
from harness.errors import HarnessError, SpaceError, SpecError
from harness.rank.candidates import Candidate
from harness.rank.candidates import from_presets as candidates_from_presets
from harness.rank.candidates import from_spec_files as candidates_from_spec_files
from harness.rank.candidates import from_study as candidates_from_study
from harness.rank.ranking import RankConfig, Ranking
from harness.rank.run import run_rank
from harness.search.config import SearchConfig
from harness.search.constraints import Constraints
from harness.search.pruning import ParetoPruner
from harness.search.space import SearchSpace, load_space, space_from_dict
from harness.search.study import run_search
from harness.store.folder import load_trials
from harness.store.trials import pareto_front
from harness.train.evaluate import Evaluation, evaluate_spec
from harness.train.loop import TrainConfig, TrainResult, train_model
from harness.zoo.blocks import BLOCKS
from harness.zoo.measure import Costs, count_flops, count_params, measure_model, profile_spec, receptive_field
from harness.zoo.model import build_model, resolve_spec, validate_spec
from harness.zoo.presets import PRESETS, load_spec, preset
from harness.zoo.spec import ArchSpec, HeadSpec, StageSpec, StemSpec

__version__ = "0.1.0"

__all__ = [
    "BLOCKS",
    "DATASETS",
    "PRESETS",
    "ArchSpec",
    "Candidate",
    "Constraints",
    "Costs",
    "DataOptions",
    "Evaluation",
    "HarnessError",
    "HeadSpec",
    "ImageData",
    "ParetoPruner",
    "RankConfig",
    "Ranking",
    "SearchConfig",
    "SearchSpace",
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
    "resolve_spec",
    "run_rank",
    "run_search",
    "space_from_dict",
    "train_model",
    "validate_spec",
]
