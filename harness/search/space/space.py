"""SearchSpace: a loaded, validated space (named parameters, and the slot of spec or config each one
fills), whose methods hand the work to rules (Plan), sample, count and text."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from harness.search.constraints import Constraints
from harness.search.space import sample as sampling
from harness.search.space.count import architecture_count
from harness.search.space.params import Param, Slot, TrialLike
from harness.search.space.rules import Plan
from harness.search.space.text import conditions, describe
from harness.train.loop import TrainConfig
from harness.zoo.spec import ArchSpec

if TYPE_CHECKING:
    from harness.data.shifts import Robustness


@dataclass(frozen=True)
class SearchSpace:
    """A loaded, validated space: named parameters, and where each one goes in spec and config."""

    name: str
    params: dict[str, Param]  # every parameter, fixed ones too, in file order
    stage_count: int
    # (section, field) -> parameter name; stage fields use ("s1", "kernel_size"), ...
    slots: dict[Slot, str]
    description: str = ""
    dataset: str | None = None
    trials: int | None = None
    objectives: str | None = None
    constraints: Constraints = field(default_factory=Constraints)  # hard budgets (constraints: section)
    train_images: int | None = None  # train.images: every trial trains on a subset of this many images
    robustness: Robustness | None = None  # search.robustness: shifted copies every trial is evaluated on
    path: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def searched(self) -> dict[str, Param]:
        """The parameters the sampler picks (not the fixed ones); a conditional one is only asked
        of a trial where it applies (see `conditional`)."""
        return {n: p for n, p in self.params.items() if p.searched}

    @cached_property
    def conditional(self) -> dict[str, str]:
        """Parameter name -> when it applies, for the parameters that do not always apply, e.g.
        {"expansion": "expansion of bottleneck, convnext, dense, inverted_residual blocks"}."""
        return conditions(self.params, self._plan)

    # ---------------------------------------------------------------- sampling
    def suggest(self, trial: TrialLike) -> tuple[ArchSpec, TrainConfig]:
        """Ask `trial` for every searched parameter that applies (controlling parameters first),
        then assemble spec and training config."""
        return sampling.suggest(self._plan, trial)

    def build(self, values: dict[str, Any]) -> tuple[ArchSpec, TrainConfig]:
        """Spec and training config from the searched parameters' values (fixed ones filled in);
        values of parameters that do not apply may be left out (or be NaN, as in trials.csv)."""
        return sampling.build(self._plan, values, self.path)

    def sample(self, seed: int = 0) -> tuple[ArchSpec, TrainConfig, dict[str, Any]]:
        """One random architecture (uniform over each parameter), with the parameter values drawn."""
        trial = sampling.random_trial(seed)
        spec, config = self.suggest(trial)
        return spec, config, dict(trial.params)

    # ---------------------------------------------------------------- counting and text
    def architecture_count(self) -> int | None:
        """Number of distinct architectures (distinct specs; training parameters excluded); None
        when infinite. Exact, conditional parameters included (see harness.search.space.count);
        where a group of linked stages has too many combinations of controlling parameters to
        enumerate, an upper bound (`count_is_exact` is then False, and `describe` says so)."""
        return self._count[0]

    @property
    def count_is_exact(self) -> bool:
        """False when architecture_count is an upper bound (see there)."""
        return self._count[1]

    def describe(self) -> str:
        """The parameters as text: one line each, searched ones first; a conditional one says
        where it applies (e.g. the block families that read it)."""
        return describe(self.params, self.conditional, self.count_is_exact)

    @cached_property
    def _plan(self) -> Plan:
        return Plan(self.params, self.slots, self.stage_count)

    @cached_property
    def _count(self) -> tuple[int | None, bool]:
        return architecture_count(self._plan)
