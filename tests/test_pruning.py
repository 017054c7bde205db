"""The two-objective pruning policy on synthetic learning curves (no training, no Optuna)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.errors import InvalidValueError
from harness.pareto import front_indices, front_kept, hypervolume
from harness.search.pruning import Curve, ParetoPruner, replay

FAST = (0.60, 0.70, 0.73, 0.75, 0.76, 0.76, 0.77, 0.77)  # a cheap, quick learner


def cheap_trials(n: int = 3, cost: float = 1e6) -> list[Curve]:
    return [Curve(cost * (1 + k / 10), FAST, number=k) for k in range(n)]


def test_hopeless_expensive_trial_is_stopped_right_after_warmup():
    policy = ParetoPruner()  # margin 0.02, warmup 1, min_trials 3
    finished = cheap_trials()
    assert policy.should_stop(1, 8, 0.20, 1e8, finished) is None  # warm-up
    reason = policy.should_stop(2, 8, 0.30, 1e8, finished)
    assert reason is not None
    assert "epoch 2/8" in reason and "3 finished trial(s)" in reason
    assert "trial 0 0.700 (+0.400" in reason
    assert "\n" not in reason


def test_cheap_trial_with_low_accuracy_survives():
    # Nothing costs less, so the cheap end of the front is never pruned, however poor.
    assert ParetoPruner().should_stop(2, 8, 0.10, 1e5, cheap_trials()) is None


def test_margin_and_its_boundary():
    finished = cheap_trials()
    policy = ParetoPruner(margin=0.02)
    assert policy.should_stop(2, 8, 0.69, 1e8, finished) is None  # 0.01 behind: within the margin
    # Exactly at the margin dominates (>=), in exact binary fractions ...
    exact = ParetoPruner(margin=0.25)
    dyadic = [Curve(1.0, (0.5, 0.75, 0.75)) for _ in range(3)]
    assert exact.should_stop(2, 3, 0.5, 2.0, dyadic) is not None
    assert exact.should_stop(2, 3, 0.5 + 2**-10, 2.0, dyadic) is None
    # ... and despite float rounding (0.70 - 0.68 < 0.02 in binary).
    assert 0.70 - 0.68 < 0.02
    assert policy.should_stop(2, 8, 0.68, 1e8, finished) is not None


def test_equal_cost_counts_as_no_more():
    finished = [Curve(5.0, FAST) for _ in range(3)]
    assert ParetoPruner().should_stop(2, 8, 0.3, 5.0, finished) is not None
    assert ParetoPruner().should_stop(2, 8, 0.3, 4.999, finished) is None


def test_never_stopped_at_the_last_epoch():
    assert ParetoPruner().should_stop(8, 8, 0.0, 1e9, cheap_trials()) is None


def test_warmup_and_min_trials():
    finished = cheap_trials(3)
    assert ParetoPruner(warmup=3).should_stop(3, 8, 0.3, 1e8, finished) is None
    assert ParetoPruner(warmup=3).should_stop(4, 8, 0.3, 1e8, finished) is not None
    assert ParetoPruner(warmup=0).should_stop(1, 8, 0.3, 1e8, finished) is not None
    assert ParetoPruner(min_trials=4).should_stop(2, 8, 0.3, 1e8, finished) is None
    # min_trials counts finished trials that reached the epoch: a 2-epoch run does not count at epoch 3.
    short = Curve(1.0, (0.9, 0.9))
    assert ParetoPruner(min_trials=4).should_stop(3, 8, 0.3, 1e8, [*finished, short]) is None
    assert ParetoPruner(min_trials=4).should_stop(2, 8, 0.3, 1e8, [*finished, short]) is not None


def test_shorter_finished_trials_are_ignored_longer_ones_compared_at_the_same_epoch():
    short = [Curve(1.0, (0.9, 0.95)) for _ in range(3)]  # smaller budget, far better
    assert ParetoPruner().should_stop(3, 8, 0.1, 1e8, short) is None
    longer = [Curve(1.0, (0.5, 0.8, 0.9, 0.9)) for _ in range(3)]
    assert ParetoPruner().should_stop(2, 3, 0.7, 1e8, longer) is not None  # 0.8 at epoch 2 vs 0.7


def test_min_dominating_needs_that_many_dominators():
    finished = [Curve(1.0, FAST), Curve(2.0, (0.3,) * 8), Curve(3.0, (0.3,) * 8), Curve(1e9, FAST)]
    policy = ParetoPruner(min_dominating=2)
    assert policy.should_stop(2, 8, 0.4, 1e6, finished) is None  # only trial #0 dominates
    assert ParetoPruner().should_stop(2, 8, 0.4, 1e6, finished) is not None
    finished.append(Curve(4.0, FAST, number=42))
    reason = policy.should_stop(2, 8, 0.4, 1e6, finished)
    assert reason is not None and "2 finished trial(s)" in reason and "trial 42" in reason and "trial #0" in reason


def test_slow_starter_that_overtakes_trade_off():
    # A dearer trial that starts slowly but ends well above the cheap ones: on the final front.
    slow = Curve(1e7, (0.30, 0.50, 0.62, 0.70, 0.76, 0.80, 0.83, 0.85), number=3)
    trials = [*cheap_trials(), slow]
    assert 3 in front_indices([(t.cost, t.accuracies[-1]) for t in trials])
    # The default margin stops it after warm-up (0.20 behind at epoch 2): the price of pruning early.
    assert replay(ParetoPruner(), trials).stopped_at == (None, None, None, 2)
    # A larger margin, or a longer warm-up with a moderate one, lets it finish.
    assert replay(ParetoPruner(margin=0.25), trials).stopped_at == (None,) * 4
    assert replay(ParetoPruner(margin=0.1, warmup=3), trials).stopped_at == (None,) * 4


def test_replay_counts_epochs_and_excludes_pruned_trials():
    trials = [*cheap_trials(), Curve(1e8, (0.1,) * 8), Curve(1e9, (0.1, 0.2, 0.72, 0.8, 0.9, 0.9, 0.9, 0.9))]
    result = replay(ParetoPruner(), trials)
    assert result.stopped_at == (None, None, None, 2, 2)
    assert result.epochs_run == 3 * 8 + 2 + 2 and result.epochs_total == 5 * 8
    assert result.saved == pytest.approx(12 / 40)
    assert result.completed() == [0, 1, 2]


def test_a_pruned_trial_is_not_a_dominator():
    cheap = [Curve(1.0, (0.5, 0.9, 0.9, 0.9)) for _ in range(3)]
    late_bloomer = Curve(10.0, (0.1, 0.1, 0.95, 0.95))  # pruned at epoch 2 (0.8 behind)
    steady = Curve(20.0, (0.5, 0.9, 0.9, 0.9))  # at epoch 3, 0.05 behind the late bloomer only
    result = replay(ParetoPruner(), [*cheap, late_bloomer, steady])
    assert result.stopped_at == (None, None, None, 2, None)
    assert ParetoPruner().should_stop(3, 4, 0.9, 20.0, [*cheap, late_bloomer]) is not None  # had it finished


@pytest.mark.parametrize(
    "options",
    [
        {"margin": -0.01},
        {"margin": 1.0},
        {"margin": math.nan},
        {"margin": "0.1"},
        {"warmup": -1},
        {"warmup": 1.5},
        {"min_trials": 0},
        {"min_dominating": 0},
        {"min_dominating": True},
    ],
)
def test_invalid_options(options):
    with pytest.raises(InvalidValueError, match=next(iter(options))):
        ParetoPruner(**options)


def test_invalid_epochs():
    for epoch, total in [(0, 8), (9, 8), (1.0, 8)]:
        with pytest.raises(ValueError, match="epoch"):
            ParetoPruner().should_stop(epoch, total, 0.5, 1.0, [])


def test_pareto_front_by_hand():
    points = [(1, 0.5), (2, 0.7), (2, 0.6), (3, 0.65), (4, 0.9), (1, 0.5), (0.5, 0.1)]
    assert front_indices(points) == [6, 0, 5, 1, 4]
    assert front_indices([]) == []


def test_hypervolume_by_hand():
    assert hypervolume([(1, 0.5), (2, 0.7)], ref_cost=4) == pytest.approx(1 * 0.5 + 2 * 0.7)
    # dominated and out-of-box points add nothing; ref_acc lowers every height
    assert hypervolume([(1, 0.5), (2, 0.7), (3, 0.6), (5, 0.99), (0.5, 0.1)], 4, 0.2) == pytest.approx(
        1 * 0.3 + 2 * 0.5
    )
    assert hypervolume([(10, 0.5), (100, 0.7)], 1000, log_cost=True) == pytest.approx(1 * 0.5 + 1 * 0.7)
    assert hypervolume([], 4) == 0.0
    with pytest.raises(InvalidValueError):
        hypervolume([(0, 0.5)], 10, log_cost=True)


def test_front_kept_by_hand():
    reference = [(1, 0.5), (2, 0.7), (4, 0.9), (3, 0.6)]  # front: 3 points
    assert front_kept(reference, reference) == 1.0
    assert front_kept(reference, [(1, 0.5), (4, 0.9)]) == pytest.approx(2 / 3)
    assert front_kept(reference, [(1, 0.5), (2, 0.69), (4, 0.9)]) == pytest.approx(2 / 3)
    assert front_kept(reference, [(1, 0.5), (2, 0.69), (4, 0.9)], tol=0.01) == 1.0
    assert front_kept(reference, [(1.5, 0.95)]) == pytest.approx(2 / 3)  # dominates the two dearer ones
    assert front_kept([], []) == 1.0


def synthetic_study(seed: int, n: int = 60, epochs: int = 10) -> list[Curve]:
    """Random FLOPs in 1e5..1e8; accuracy saturates towards a level rising with log FLOPs, 30% of trials
    with bad hyper-parameters lose 0.1-0.35, learning speed varies (tau 1-3 epochs), plus noise."""
    rng = np.random.default_rng(seed)
    trials = []
    for k in range(n):
        log_cost = rng.uniform(5, 8)
        level = 0.55 + 0.35 * (1 - np.exp(-(log_cost - 5) / 1.2)) + rng.normal(0, 0.02)
        if rng.random() < 0.3:
            level -= rng.uniform(0.1, 0.35)
        tau = rng.uniform(1.0, 3.0)
        e = np.arange(1, epochs + 1)
        acc = np.clip(level * (1 - np.exp(-e / tau)) + rng.normal(0, 0.01, epochs), 0, 1)
        trials.append(Curve(float(10**log_cost), tuple(float(a) for a in acc), number=k))
    return trials


@pytest.mark.parametrize(
    ("policy", "min_saved", "min_hv", "min_kept"),
    [
        # measured on seed 0: saved 0.577, hypervolume ratio 0.9625, front points kept 8/18 (0.44)
        (ParetoPruner(), 0.55, 0.95, 0.40),
        # measured on seed 0: saved 0.302, hypervolume ratio 0.9834, front points kept 17/18 (0.94)
        (ParetoPruner(margin=0.05, warmup=3), 0.28, 0.975, 0.90),
    ],
)
def test_simulated_study_saves_epochs_and_keeps_the_front(policy, min_saved, min_hv, min_kept):
    trials = synthetic_study(seed=0)
    result = replay(policy, trials)
    everything = [(t.cost, t.accuracies[-1]) for t in trials]
    kept = [everything[i] for i in result.completed()]
    # log10 FLOPs from the dearest trial down, accuracy above 0.5 (a ref of 0 would inflate the ratio)
    ref_cost = max(c for c, _ in everything)
    ratio = hypervolume(kept, ref_cost, 0.5, log_cost=True) / hypervolume(everything, ref_cost, 0.5, log_cost=True)
    assert result.saved >= min_saved
    assert ratio >= min_hv
    assert front_kept(everything, kept) >= min_kept
