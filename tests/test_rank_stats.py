"""Tests for harness.rank.stats: t-intervals, bootstrap prob-best, Welch + Holm groups, Kendall tau; and the
small-n rule (fewer than 2 runs: no interval, P(best) or group) through rank_tables and rank_report."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from harness.errors import InvalidValueError
from harness.rank import stats as rs
from harness.rank.candidates import Candidate
from harness.rank.rank_tables import fidelity_table, rank_table, runs_frame
from harness.rank.ranking import Ranking
from harness.rank.report import ranking_html, ranking_markdown, summary_line, table_rows
from harness.train.loop import TrainConfig
from harness.zoo.spec import ArchSpec, StageSpec, StemSpec

# ---------------------------------------------------------------- summarize


def test_summarize_t_interval_matches_hand_computation() -> None:
    frame = rs.summarize({"a": [0.90, 0.92, 0.94]})
    row = frame.iloc[0]
    assert list(frame.columns) == rs.SUMMARY_COLUMNS
    assert row["candidate"] == "a" and row["n"] == 3
    assert row["mean"] == pytest.approx(0.92)
    assert row["std"] == pytest.approx(0.02)
    assert row["sem"] == pytest.approx(0.02 / math.sqrt(3))
    half = 4.302652729911275 * 0.02 / math.sqrt(3)  # t(0.975, 2) = 4.3027 -> 0.0497
    assert half == pytest.approx(0.0497, abs=1e-4)
    assert row["ci_low"] == pytest.approx(0.92 - half)
    assert row["ci_high"] == pytest.approx(0.92 + half)


def test_summarize_other_confidence_and_sorting() -> None:
    frame = rs.summarize({"low": [0.5, 0.6], "high": [0.8, 0.9, 0.85, 0.95]}, confidence=0.9)
    assert frame["candidate"].tolist() == ["high", "low"]
    x = np.array([0.8, 0.9, 0.85, 0.95])
    half = stats.t.ppf(0.95, 3) * x.std(ddof=1) / 2
    assert frame.iloc[0]["ci_high"] - frame.iloc[0]["mean"] == pytest.approx(half)


def test_summarize_single_seed_is_nan() -> None:
    row = rs.summarize({"a": [0.7]}).iloc[0]
    assert row["n"] == 1 and row["mean"] == pytest.approx(0.7)
    for col in ("std", "sem", "ci_low", "ci_high"):
        assert math.isnan(row[col])


@pytest.mark.parametrize("bad", [{}, {"a": []}, {"a": [0.5, float("nan")]}])
def test_bad_samples_raise(bad: dict) -> None:
    with pytest.raises(InvalidValueError):
        rs.summarize(bad)


def test_bad_confidence_raises() -> None:
    with pytest.raises(InvalidValueError):
        rs.summarize({"a": [0.5, 0.6]}, confidence=1.0)


# ---------------------------------------------------------------- prob_best


def test_prob_best_clear_winner() -> None:
    probs = rs.prob_best({"bad": [0.60, 0.62, 0.61], "good": [0.90, 0.91, 0.92]})
    assert list(probs) == ["good", "bad"]
    assert probs["good"] == pytest.approx(1.0)
    assert sum(probs.values()) == pytest.approx(1.0)


def test_prob_best_identical_candidates_split() -> None:
    values = [0.90, 0.91, 0.93, 0.94]
    probs = rs.prob_best({"a": values, "b": list(values)})
    assert probs["a"] == pytest.approx(0.5, abs=0.03)
    assert probs["b"] == pytest.approx(0.5, abs=0.03)
    assert sum(probs.values()) == pytest.approx(1.0)


def test_prob_best_ties_split_equally() -> None:
    probs = rs.prob_best({"a": [0.8, 0.8], "b": [0.8, 0.8], "c": [0.8, 0.8]})
    assert all(p == pytest.approx(1 / 3) for p in probs.values())


def test_prob_best_deterministic_and_sums_to_one() -> None:
    samples = {"a": [0.80, 0.84, 0.82], "b": [0.81, 0.83, 0.86], "c": [0.79, 0.85, 0.80, 0.83]}
    first = rs.prob_best(samples, n_boot=2000, seed=7)
    assert first == rs.prob_best(samples, n_boot=2000, seed=7)
    assert sum(first.values()) == pytest.approx(1.0)
    assert all(0.0 <= p <= 1.0 for p in first.values())
    assert first != rs.prob_best(samples, n_boot=2000, seed=8)


def test_prob_best_bad_n_boot() -> None:
    with pytest.raises(InvalidValueError):
        rs.prob_best({"a": [0.5]}, n_boot=0)


# ---------------------------------------------------------------- Holm and pairwise tests


def test_holm_hand_example() -> None:
    # sorted: 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> raised to 0.06 by monotonicity
    np.testing.assert_allclose(rs.holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])


def test_holm_caps_at_one_and_empty() -> None:
    np.testing.assert_allclose(rs.holm([0.5, 0.9]), [1.0, 1.0])
    assert rs.holm([]).size == 0


def test_pairwise_tests_match_scipy_welch() -> None:
    samples = {"a": [0.80, 0.82, 0.81, 0.83], "b": [0.70, 0.75, 0.72], "c": [0.60, 0.66, 0.61, 0.64, 0.62]}
    frame = rs.pairwise_tests(samples)
    assert list(frame.columns) == rs.PAIRWISE_COLUMNS
    assert list(zip(frame["a"], frame["b"], strict=True)) == [("a", "b"), ("a", "c"), ("b", "c")]
    raw = [
        stats.ttest_ind(samples[a], samples[b], equal_var=False).pvalue
        for a, b in zip(frame["a"], frame["b"], strict=True)
    ]
    np.testing.assert_allclose(frame["p"], raw)
    np.testing.assert_allclose(frame["p_holm"], rs.holm(raw))
    assert (frame["diff"] > 0).all()
    assert frame["significant"].tolist() == (frame["p_holm"] < 0.05).tolist()


def test_pairwise_degenerate_cases() -> None:
    frame = rs.pairwise_tests({"x": [0.9, 0.9], "y": [0.9, 0.9, 0.9], "z": [0.5, 0.5], "one": [0.95]})
    rows = zip(frame["a"], frame["b"], frame["p"], frame["note"], strict=True)
    by_pair = {frozenset((a, b)): (p, note) for a, b, p, note in rows}
    assert by_pair[frozenset(("x", "y"))][0] == 1.0
    assert by_pair[frozenset(("x", "z"))][0] == 0.0
    assert by_pair[frozenset(("one", "z"))][0] == 1.0
    assert "n<2" in by_pair[frozenset(("one", "z"))][1]


# ---------------------------------------------------------------- groups


NOISY = {  # differences of ~0.005 against a spread of ~0.03
    "a": [0.80, 0.85, 0.78, 0.83],
    "b": [0.79, 0.84, 0.77, 0.82],
    "c": [0.81, 0.76, 0.83, 0.79],
}
FAR_AHEAD = {
    "best": [0.950, 0.952, 0.951, 0.953],
    "mid": [0.800, 0.810, 0.805, 0.802],
    "low": [0.790, 0.800, 0.795, 0.803],
}


def test_top_group_all_when_noisy() -> None:
    assert sorted(rs.top_group(NOISY)) == ["a", "b", "c"]
    assert rs.indistinguishable_groups(NOISY) == [rs.ranked(NOISY)]
    assert set(rs.letters(NOISY).values()) == {"a"}


def test_top_group_only_best_when_far_ahead() -> None:
    assert rs.top_group(FAR_AHEAD) == ["best"]
    groups = rs.indistinguishable_groups(FAR_AHEAD)
    assert groups[0] == ["best"]
    assert ["mid", "low"] in groups
    assert rs.letters(FAR_AHEAD) == {"best": "a", "mid": "b", "low": "b"}
    same = rs.indistinguishable(FAR_AHEAD)
    assert same == {"best": ["best"], "mid": ["mid", "low"], "low": ["mid", "low"]}


def test_single_seed_candidate_is_indistinguishable() -> None:
    samples = dict(FAR_AHEAD, lucky=[0.10])
    assert "lucky" in rs.top_group(samples)


def test_groups_overlap_when_not_transitive() -> None:
    # b sits between a and c: a vs c differs, but neither differs from b.
    samples = {
        "a": [0.900, 0.901, 0.899, 0.900, 0.902],
        "b": [0.78, 0.94, 0.80, 0.92, 0.86],
        "c": [0.800, 0.801, 0.799, 0.800, 0.802],
    }
    tests = rs.pairwise_tests(samples)
    sig = {(a, b): s for a, b, s in zip(tests["a"], tests["b"], tests["significant"], strict=True)}
    assert sig[("a", "c")] and not sig[("a", "b")] and not sig[("b", "c")]
    assert rs.indistinguishable_groups(samples) == [["a", "b"], ["b", "c"]]
    assert rs.letters(samples) == {"a": "a", "b": "ab", "c": "b"}
    assert rs.top_group(samples) == ["a", "b"]


# ---------------------------------------------------------------- kendall


def test_kendall_matches_scipy() -> None:
    a = [0.1, 0.4, 0.35, 0.8, 0.5, 0.5]
    b = [0.2, 0.3, 0.5, 0.9, 0.4, 0.6]
    assert rs.kendall(a, b)[1] == pytest.approx(stats.kendalltau(a, b, variant="b").statistic)
    assert rs.kendall([1, 2, 3], [3, 2, 1])[1] == pytest.approx(-1.0)


def test_kendall_drops_nan_pairs() -> None:
    a = [0.1, float("nan"), 0.3, 0.7, 0.5]
    b = [0.2, 0.9, float("nan"), 0.8, 0.4]
    expected = stats.kendalltau([0.1, 0.7, 0.5], [0.2, 0.8, 0.4]).statistic
    assert rs.kendall(a, b)[1] == pytest.approx(expected)


def test_kendall_undefined_is_nan() -> None:
    assert rs.kendall([0.1, float("nan"), 0.4], [0.2, 0.3, 0.1])[0] == 2
    assert math.isnan(rs.kendall([0.1, float("nan"), 0.4], [0.2, 0.3, 0.1])[1])  # 2 pairs say nothing
    assert all(map(math.isnan, rs.kendall([0.5, 0.5, 0.5], [0.1, 0.2, 0.3])[1:]))
    with pytest.raises(InvalidValueError):
        rs.kendall([0.1, 0.2], [0.1])


def test_comparisons_with_best_are_welch_tests_holm_corrected_over_k_minus_1() -> None:
    rng = np.random.default_rng(7)
    samples = {f"c{i}": (0.9 - 0.01 * i + rng.normal(0, 0.01, size=3)).tolist() for i in range(8)}
    tests = rs.comparisons_with_best(samples)
    names = rs.ranked(samples)
    assert tests["candidate"].tolist() == names and tests["p_holm"].iloc[0] == 1.0
    best = np.array(samples[names[0]])
    raw = [stats.ttest_ind(best, samples[n], equal_var=False, alternative="greater").pvalue for n in names[1:]]
    assert tests["p"].iloc[1:].to_numpy() == pytest.approx(raw)
    assert tests["p_holm"].iloc[1:].to_numpy() == pytest.approx(rs.holm(raw))
    expected = [names[0]] + [n for n, p in zip(names[1:], rs.holm(raw), strict=True) if p >= 0.05]
    assert rs.top_group(samples) == expected
    # The smaller, one-sided family separates at least as many candidates from the best as all pairs do.
    all_pairs = rs.pairwise_tests(samples)
    vs_best = all_pairs[all_pairs["a"] == names[0]]
    assert set(rs.top_group(samples)) <= {names[0], *vs_best.loc[~vs_best["significant"], "b"]}


# ---------------------------------------------------------------- small n: fewer than 2 runs


def test_comparable_keeps_candidates_with_a_spread_when_two_or_all_have_one() -> None:
    assert rs.MIN_RUNS == 2
    assert rs.comparable({"a": [0.9], "b": [0.8]}) == {}  # one seed each: nothing to compare
    assert rs.comparable({"a": [0.9], "b": [0.8, 0.7], "c": [0.6, 0.5]}) == {"b": [0.8, 0.7], "c": [0.6, 0.5]}
    assert rs.comparable({"a": [0.9], "b": [0.8, 0.7]}) == {}  # the best of one among others says nothing
    assert rs.comparable({"b": [0.8, 0.7]}) == {"b": [0.8, 0.7]}  # a ranking of one compares trivially
    with pytest.raises(InvalidValueError):
        rs.comparable({"a": []})


def test_prob_best_one_seed_each_is_nan_not_certain() -> None:
    probs = rs.prob_best({"a": [0.90], "b": [0.80], "c": [0.85]})
    assert list(probs) == ["a", "c", "b"]  # still keyed in ranked order
    assert all(math.isnan(p) for p in probs.values())
    assert math.isnan(rs.prob_best({"a": [0.9]})["a"])
    assert rs.prob_best({"a": [0.80, 0.81]})["a"] == 1.0


def test_prob_best_leaves_out_a_lucky_single_run_and_is_among_the_rest() -> None:
    rest = {"b": [0.80, 0.84, 0.82], "c": [0.81, 0.83, 0.86]}
    probs = rs.prob_best({"lucky": [0.99], **rest}, n_boot=2000, seed=3)
    assert math.isnan(probs["lucky"])  # it would win every draw with its one value
    assert probs["b"] + probs["c"] == pytest.approx(1.0)
    among_rest = rs.prob_best(rest, n_boot=2000, seed=3)  # the same draws: P(best) among the candidates with 2 runs
    assert probs["b"] == among_rest["b"] and probs["c"] == among_rest["c"]
    only_one = rs.prob_best({"lucky": [0.99], "b": rest["b"]})
    assert all(math.isnan(p) for p in only_one.values())


def _spec(width: int) -> ArchSpec:
    return ArchSpec(stem=StemSpec(width=8), stages=(StageSpec(block="plain", width=width, stride=2, kernel_size=3),))


def _ranking(accs: dict[str, list[float]], seeds: int, failed: dict[str, int] | None = None) -> Ranking:
    """A Ranking of candidates with these validation accuracies (one completed run each), `failed` runs more."""
    cands = [Candidate(name=n, spec=_spec(4 + i), train=TrainConfig(), origin="test") for i, n in enumerate(accs)]
    ended = {}
    for c in cands:
        runs = [{"state": "COMPLETE", "accuracy": a, "test_accuracy": a - 0.01, "params": 100, "flops": 1000,
                 "epochs": 2, "images_per_second": 10.0, "train_seconds": 1.0} for a in accs[c.name]]
        runs += [{"state": "FAIL", "failure_reason": "non-finite loss"}] * (failed or {}).get(c.name, 0)
        ended[c.key] = dict(enumerate(runs))
    runs = runs_frame(cands, ended)
    table, pairwise = rank_table(runs, cands, n_boot=2000)
    return Ranking(folder=Path("rank"), candidates=cands, runs=runs, table=table, pairwise=pairwise,
                   fidelity=fidelity_table(table), info={"seeds": seeds, "budget": "2 epochs"})


def _cells(ranking: Ranking) -> dict[str, dict[str, str]]:
    header, rows = table_rows(ranking.table)
    return {row[1]: dict(zip(header, row, strict=True)) for row in rows}


def test_one_seed_each_has_no_ci_prob_best_or_group_anywhere() -> None:
    ranking = _ranking({"a": [0.90], "b": [0.80], "c": [0.85]}, seeds=1)
    table = ranking.table
    assert table["candidate"].tolist() == ["a", "c", "b"] and table["rank"].tolist() == [1, 2, 3]
    assert table["mean"].tolist() == pytest.approx([0.90, 0.85, 0.80])
    for col in ("std", "ci_low", "ci_high", "test_ci_low", "test_ci_high", "prob_best"):
        assert table[col].isna().all(), col
    assert table["group"].isna().all() and table["top"].isna().all()
    assert ranking.pairwise.empty
    csv = pd.read_csv(io.StringIO(table.to_csv(index=False)))  # rank.csv: empty cells, NaN when read back
    assert csv[["ci_low", "ci_high", "prob_best", "group", "top"]].isna().all().all()

    for cells in _cells(ranking).values():  # the printed table, rank.md and rank.html
        assert (cells["val CI"], cells["P(best)"], cells["group"]) == ("-", "-", "-")
        assert "±" not in cells["val acc (mean ± sd)"]
    line = summary_line(ranking)
    assert line == ("Best by mean validation accuracy: a (90.00%, 1 run). 1 seed per candidate: no confidence "
                    "interval, P(best) or top group (needs at least 2 seeds; give --seeds 3).")
    assert "100" not in line
    md = ranking_markdown(ranking)
    assert "| 1 | a | 1 | 90.00% | - | " in md and "1 seed per candidate." in md and line in md
    assert "100.0%" not in md and "fewer than 2 completed runs" in md
    page = ranking_html(ranking, [])
    assert "100.0%" not in page and "1 seed per candidate: no confidence interval" in page


def test_one_completed_run_each_after_failures_says_so() -> None:
    ranking = _ranking({"a": [0.90], "b": [0.80]}, seeds=3, failed={"a": 2, "b": 2})
    assert ranking.table["prob_best"].isna().all() and ranking.table["group"].isna().all()
    line = summary_line(ranking)
    assert "1 completed run per candidate" in line and "failure_reason" in line and "--seeds" not in line


def test_single_run_candidates_among_others_get_dashes_and_the_rest_are_compared() -> None:
    ranking = _ranking({"a": [0.80, 0.81, 0.82], "lucky": [0.95], "c": [0.60, 0.61, 0.62], "d": [0.5]}, seeds=3)
    table = ranking.table.set_index("candidate")
    assert table.index.tolist() == ["lucky", "a", "c", "d"]  # ranked by mean, the single run included
    for name in ("lucky", "d"):
        row = table.loc[name]
        assert row["n"] == 1 and pd.isna(row["ci_low"]) and pd.isna(row["prob_best"])
        assert pd.isna(row["group"]) and pd.isna(row["top"])
    # P(best), letters and the top group among the candidates with at least 2 runs.
    assert table.loc["a", "prob_best"] == pytest.approx(1.0) and table.loc["c", "prob_best"] == pytest.approx(0.0)
    assert table.loc[["a", "c"], "group"].tolist() == ["a", "b"] and table.loc[["a", "c"], "top"].tolist() == [
        True, False]
    assert ranking.pairwise[["a", "b"]].values.tolist() == [["a", "c"]]  # the Holm family holds only tested pairs
    cells = _cells(ranking)
    assert (cells["lucky"]["val CI"], cells["lucky"]["P(best)"], cells["lucky"]["group"]) == ("-", "-", "-")
    assert cells["a"]["P(best)"] == "100.0%" and cells["a"]["val CI"] != "-"
    line = summary_line(ranking)
    assert line.startswith("Best by mean validation accuracy: lucky (95.00%, 1 run). Among the candidates with "
                           "at least 2 runs, a leads (81.00% ± 1.00, P(best) 100%)")
    assert "no confidence interval, P(best) or group: lucky, d (P(best) and the top group are among the other 2" in line


def test_one_candidate_with_a_spread_among_single_runs_gets_no_prob_best() -> None:
    ranking = _ranking({"a": [0.80, 0.81, 0.82], "b": [0.5]}, seeds=3)
    table = ranking.table.set_index("candidate")
    assert not pd.isna(table.loc["a", "ci_low"])  # its own interval stays
    assert table["prob_best"].isna().all() and table["group"].isna().all() and table["top"].isna().all()
    line = summary_line(ranking)
    assert "P(best) 100%" not in line and "significantly better" not in line
    assert "Only a has 2 or more, so no candidate has a P(best) or top group" in line


def test_every_candidate_with_two_runs_keeps_the_full_statistics() -> None:
    ranking = _ranking({"a": [0.80, 0.85, 0.82], "b": [0.81, 0.84, 0.80]}, seeds=3)
    table = ranking.table
    assert table["prob_best"].sum() == pytest.approx(1.0) and table["group"].tolist() == ["a", "a"]
    assert table["top"].tolist() == [True, True] and len(ranking.pairwise) == 1
    assert summary_line(ranking).endswith("The data cannot tell it apart from: b.")
