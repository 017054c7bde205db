"""The search space: a YAML file -> named parameters (fixed, choices, ranges) -> ArchSpec + TrainConfig.

One job per module, each importing only the ones above it in this list:
    params   the parameter types (Fixed, Choice, IntRange, FloatRange, Pattern, Variants), TrialLike
    rules    which slot of the spec applies when; Plan, the order slots are decided in
    text     where a parameter applies, in words; describe
    sample   values (from a trial or trials.csv) -> ArchSpec + TrainConfig
    count    the number of distinct architectures
    space    SearchSpace, the loaded space, whose methods use rules, sample, count and text
    parse    Parser: one key's raw YAML value -> Param
    checks   the checks across keys (stem values, family options)
    load     load_space, space_from_dict, the file format and its key tables
"""

from harness.search.space.load import OBJECTIVES, SEARCH_CHECKS, TOP_KEYS, load_space, space_from_dict
from harness.search.space.params import Choice, Fixed, FloatRange, IntRange, Param, Pattern, TrialLike, Variants
from harness.search.space.space import SearchSpace

__all__ = [
    "OBJECTIVES", "SEARCH_CHECKS", "TOP_KEYS", "Choice", "Fixed", "FloatRange", "IntRange", "Param", "Pattern",
    "SearchSpace", "TrialLike", "Variants", "load_space", "space_from_dict",
]
