"""Ranking statistics for multi-seed re-evaluation: `summarize` (mean, sd, t-interval), `prob_best` (bootstrap),
`pairwise_tests` / `indistinguishable` / `indistinguishable_groups` (Welch + Holm over all pairs), `top_group`
(one-sided Welch + Holm over the comparisons with the best), `comparable` (who the statistics can compare),
`kendall` (tau-b with n and p).

Every function takes `samples`: a mapping from candidate name to its S accuracies (fractions), one per seed.
Values must be finite and every candidate needs at least one; a mistake raises `InvalidValueError`.
Small n: a candidate with fewer than `MIN_RUNS` (2) accuracies has no spread, so no interval (NaN), no P(best)
(NaN, see `prob_best`) and no test can tell it from anyone: the tests count it as indistinguishable (which racing
wants: it still needs seeds), and a ranking's tables compare only the `comparable` candidates, so it gets no group.
"Ranked order" everywhere means by mean accuracy, highest first; equal means keep the mapping's order.
Pure numpy / scipy / pandas: nothing here trains or touches torch.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats

from harness.errors import InvalidValueError

Samples = Mapping[str, Sequence[float]]

SUMMARY_COLUMNS = ["candidate", "n", "mean", "std", "sem", "ci_low", "ci_high"]
PAIRWISE_COLUMNS = ["a", "b", "diff", "p", "p_holm", "significant", "note"]
MIN_RUNS = 2  # accuracies a candidate needs for a spread: an interval, a bootstrap, a test


def _arrays(samples: Samples) -> dict[str, np.ndarray]:
    """Validate `samples` and return float arrays in ranked order (mean descending, stable)."""
    if not isinstance(samples, Mapping) or len(samples) == 0:
        raise InvalidValueError("samples must be a non-empty mapping of candidate name -> accuracies")
    arrays: dict[str, np.ndarray] = {}
    for name, values in samples.items():
        arr = np.asarray(values, dtype=float).ravel()
        if arr.size == 0:
            raise InvalidValueError(f"candidate {name!r} has no accuracies")
        if not np.all(np.isfinite(arr)):
            raise InvalidValueError(f"candidate {name!r} has a non-finite accuracy: {arr.tolist()}")
        arrays[str(name)] = arr
    order = sorted(arrays, key=lambda k: -float(arrays[k].mean()))  # sorted() is stable: ties keep input order
    return {k: arrays[k] for k in order}


def ranked(samples: Samples) -> list[str]:
    """Candidate names in ranked order (mean descending; equal means keep the mapping's order)."""
    return list(_arrays(samples))


def comparable(samples: Samples) -> dict[str, list[float]]:
    """The candidates P(best), the letter groups and the top group compare, in the mapping's order: those with at
    least `MIN_RUNS` accuracies, provided there are at least two of them or they are every candidate; else none.

    A candidate with one accuracy has no spread, so a bootstrap repeats its one value in every draw and no test can
    tell it from anyone: it is left out (its P(best), group and top membership are "unknown", not "best" or
    "indistinguishable"). Of the rest, one candidate alone among others is compared with nobody (the probability of
    being the best of one says nothing), while a ranking of a single candidate with a spread compares trivially.
    """
    arrays = _arrays(samples)  # validates
    spread = {name: arr.tolist() for name, arr in arrays.items() if arr.size >= MIN_RUNS}
    if len(spread) < 2 and len(spread) < len(arrays):
        return {}
    return {str(name): spread[str(name)] for name in samples if str(name) in spread}


def summarize(samples: Samples, confidence: float = 0.95) -> pd.DataFrame:
    """One row per candidate, in ranked order: candidate, n, mean, std, sem, ci_low, ci_high.

    std uses ddof=1 and sem = std / sqrt(n); the interval is Student's t, mean -/+ t.ppf((1 + confidence) / 2, n - 1)
    * sem. With n = 1 there is no spread to estimate, so std, sem and the interval are NaN.
    """
    if not 0.0 < confidence < 1.0:
        raise InvalidValueError(f"confidence must be in (0, 1), got {confidence!r}")
    rows = []
    for name, arr in _arrays(samples).items():
        n = arr.size
        mean = float(arr.mean())
        if n > 1:
            std = float(arr.std(ddof=1))
            sem = std / np.sqrt(n)
            half = float(stats.t.ppf(0.5 + confidence / 2.0, n - 1)) * sem
        else:
            std = sem = half = float("nan")
        rows.append([name, n, mean, std, sem, mean - half, mean + half])
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def prob_best(samples: Samples, n_boot: int = 10_000, seed: int = 0) -> dict[str, float]:
    """Probability that each candidate is the best, by bootstrap over seeds, among the `comparable` candidates;
    NaN for the others.

    Each of the `n_boot` draws resamples every comparable candidate's accuracies with replacement (independently per
    candidate, keeping its own n) and takes the means; the candidate with the highest mean wins the draw, and a tie
    (means within 1e-12) splits the draw equally among the tied. Vectorised: one (n_boot, n) index matrix per
    candidate, no loop over draws. Deterministic for a given `seed`. Keys in ranked order (all candidates).
    The rule at small n: a candidate with fewer than `MIN_RUNS` accuracies would repeat its one value in every
    draw, so one lucky run would win (nearly) every draw: it takes no part and gets NaN, and the others' values are
    the probability of being the best among the candidates with at least `MIN_RUNS` runs (they sum to 1). With
    fewer than two such candidates among several, every value is NaN (see `comparable`).
    """
    if int(n_boot) < 1:
        raise InvalidValueError(f"n_boot must be >= 1, got {n_boot!r}")
    arrays = _arrays(samples)
    chosen = comparable(samples)
    names = [name for name in arrays if name in chosen]  # ranked order
    out = {name: float("nan") for name in arrays}
    if not names:
        return out
    rng = np.random.default_rng(seed)
    means = np.empty((int(n_boot), len(names)))
    for j, name in enumerate(names):
        arr = arrays[name]
        idx = rng.integers(0, arr.size, size=(int(n_boot), arr.size))
        means[:, j] = arr[idx].mean(axis=1)
    best = means.max(axis=1, keepdims=True)
    winners = means >= best - 1e-12
    share = winners / winners.sum(axis=1, keepdims=True)
    out.update({name: float(p) for name, p in zip(names, share.mean(axis=0), strict=True)})
    return out


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values, in the input order.

    Sort ascending p_(1) <= ... <= p_(m); adjusted p_(i) = min(1, max_{j <= i} (m - j + 1) p_(j)), which makes them
    monotone in the sorted order. Rejecting where adjusted p < alpha controls the family-wise error rate at alpha.
    """
    p = np.asarray(pvalues, dtype=float).ravel()
    m = p.size
    if m == 0:
        return p.copy()
    if np.any(np.isnan(p)) or np.any((p < 0) | (p > 1)):
        raise InvalidValueError(f"p-values must be in [0, 1], got {p.tolist()}")
    order = np.argsort(p, kind="stable")
    scaled = (m - np.arange(m)) * p[order]
    adjusted_sorted = np.minimum(1.0, np.maximum.accumulate(scaled))
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    return adjusted


def _welch(x: np.ndarray, y: np.ndarray, alternative: str = "two-sided") -> tuple[float, str]:
    """Welch p-value for x vs y (two-sided, or "greater": mean(x) > mean(y)), with the degenerate cases decided
    by hand (see `pairwise_tests`)."""
    if x.size < 2 or y.size < 2:
        return 1.0, "n<2: no test, treated as indistinguishable"
    if np.ptp(x) == 0 and np.ptp(y) == 0:
        if x[0] == y[0]:
            return 1.0, "zero variance, equal values"
        if alternative == "greater" and x[0] < y[0]:
            return 1.0, "zero variance, the other way"
        return 0.0, "zero variance, different values"
    with warnings.catch_warnings():
        # scipy warns of precision loss when values are nearly identical; the p-value is still right
        # to the precision that matters here (it is ~1), and the user cannot act on the warning.
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(stats.ttest_ind(x, y, equal_var=False, alternative=alternative).pvalue)
    if np.isnan(p):  # cannot happen with a non-zero pooled variance, but never let NaN reach Holm
        return 1.0, "test undefined, treated as indistinguishable"
    return p, ""


def pairwise_tests(samples: Samples, alpha: float = 0.05) -> pd.DataFrame:
    """All pairs of candidates, Welch t-test, Holm-corrected: columns a, b, diff, p, p_holm, significant, note.

    One row per unordered pair with `a` ranked above `b` (rows in ranked order of a, then b); diff = mean(a) -
    mean(b) >= 0. p is the two-sided Welch test (`scipy.stats.ttest_ind(equal_var=False)`); p_holm is Holm-Bonferroni
    over the whole family of k(k-1)/2 pairs (`holm`); significant = p_holm < alpha.
    Degenerate pairs, named in `note`: if either candidate has n = 1 no test is possible and the pair counts as
    indistinguishable (p = 1); if both have zero variance, equal values give p = 1 and different values p = 0.
    """
    if not 0.0 < alpha < 1.0:
        raise InvalidValueError(f"alpha must be in (0, 1), got {alpha!r}")
    arrays = _arrays(samples)
    rows = []
    for a, b in combinations(arrays, 2):
        x, y = arrays[a], arrays[b]
        p, note = _welch(x, y)
        rows.append([a, b, float(x.mean() - y.mean()), p, note])
    frame = pd.DataFrame(rows, columns=["a", "b", "diff", "p", "note"])
    frame["p_holm"] = holm(frame["p"].to_numpy()) if len(frame) else pd.Series(dtype=float)
    frame["significant"] = (frame["p_holm"] < alpha).astype(bool)
    return frame[PAIRWISE_COLUMNS]


def _same(samples: Samples, alpha: float) -> tuple[list[str], set[frozenset[str]]]:
    """Ranked names and the set of pairs that are NOT significantly different."""
    names = ranked(samples)
    tests = pairwise_tests(samples, alpha)
    pairs = zip(tests["a"], tests["b"], tests["significant"], strict=True)
    same = {frozenset((a, b)) for a, b, sig in pairs if not sig}
    return names, same


def indistinguishable(samples: Samples, alpha: float = 0.05) -> dict[str, list[str]]:
    """For each candidate (ranked order), the candidates it is not significantly different from, itself included
    (ranked order), under `pairwise_tests` (Welch + Holm over all pairs)."""
    names, same = _same(samples, alpha)
    return {a: [b for b in names if a == b or frozenset((a, b)) in same] for a in names}


def comparisons_with_best(samples: Samples) -> pd.DataFrame:
    """Each candidate against the best by mean: columns candidate, diff, p, p_holm, note (ranked order, the
    best first with p = 1). One-sided Welch tests (is the candidate worse than the best?), Holm-corrected over
    these k - 1 comparisons only: the family that answers "which candidates could be the best" (comparisons with
    the best, one-sided as in Hsu's MCB), far less conservative than all k(k - 1)/2 two-sided pairs."""
    arrays = _arrays(samples)
    names = list(arrays)
    best = arrays[names[0]]
    rows = [[names[0], 0.0, 1.0, "the best by mean"]]
    for name in names[1:]:
        p, note = _welch(best, arrays[name], alternative="greater")
        rows.append([name, float(best.mean() - arrays[name].mean()), p, note])
    frame = pd.DataFrame(rows, columns=["candidate", "diff", "p", "note"])
    frame["p_holm"] = 1.0
    if len(frame) > 1:
        frame.loc[1:, "p_holm"] = holm(frame["p"].to_numpy()[1:])
    return frame[["candidate", "diff", "p", "p_holm", "note"]]


def top_group(samples: Samples, alpha: float = 0.05) -> list[str]:
    """The best candidate by mean plus every candidate not significantly worse than it, in ranked order.

    Tests are `comparisons_with_best`: one-sided Welch, each candidate against the best, Holm-corrected over
    those k - 1 comparisons. Candidates with n = 1 cannot be tested and so are always in the top group: the answer
    racing needs (they still need seeds), not a finding; a ranking's table passes only the `comparable` candidates,
    so it shows no top group for them.
    """
    if not 0.0 < alpha < 1.0:
        raise InvalidValueError(f"alpha must be in (0, 1), got {alpha!r}")
    tests = comparisons_with_best(samples)
    return [name for name, p in zip(tests["candidate"], tests["p_holm"], strict=True) if p >= alpha]


def indistinguishable_groups(samples: Samples, alpha: float = 0.05) -> list[list[str]]:
    """Groups the data cannot tell apart: the maximal sets of candidates that are pairwise not significantly different.

    Method: pairwise two-sided Welch t-tests between all pairs, Holm-Bonferroni correction over that family, then
    the maximal cliques of the "not significantly different" graph (Bron-Kerbosch with pivoting) - the groups a
    compact letter display (as after Tukey's HSD) gives one letter each. A candidate may belong to several groups
    (non-significance is not transitive). Each group is in ranked order; groups are ordered by their members' ranks
    (lexicographically), so the first group contains the best candidate. Degenerate cases as in `pairwise_tests`:
    n = 1 means no test, so that candidate is indistinguishable from all (a ranking's table passes only the
    `comparable` candidates, so it shows no letters for it); zero variance in both decides by equality.
    `top_group` uses its own, smaller family (comparisons with the best), so it may hold more candidates than the
    first group.
    """
    names, same = _same(samples, alpha)
    rank = {name: i for i, name in enumerate(names)}
    neighbours = {a: {b for b in names if b != a and frozenset((a, b)) in same} for a in names}
    cliques: list[set[str]] = []

    def expand(r: set[str], p: set[str], x: set[str]) -> None:
        if not p and not x:
            cliques.append(r)
            return
        pivot = max(p | x, key=lambda u: len(neighbours[u] & p))
        for v in sorted(p - neighbours[pivot], key=rank.__getitem__):
            expand(r | {v}, p & neighbours[v], x & neighbours[v])
            p = p - {v}
            x = x | {v}

    expand(set(), set(names), set())
    groups = [sorted(c, key=rank.__getitem__) for c in cliques]
    return sorted(groups, key=lambda g: [rank[n] for n in g])


def letters(samples: Samples, alpha: float = 0.05) -> dict[str, str]:
    """Compact letter display: candidate (ranked order) -> letters of the `indistinguishable_groups` it belongs to.

    Two candidates share a letter iff they are in a common group, i.e. they are not significantly different.
    Letters run a..z then aa, ab, ... (one per group, the first gets 'a'), comma-separated past 26 groups.
    """
    groups = indistinguishable_groups(samples, alpha)

    def label(i: int) -> str:
        alphabet = "abcdefghijklmnopqrstuvwxyz"
        return alphabet[i] if i < 26 else label(i // 26 - 1) + alphabet[i % 26]

    sep = "" if len(groups) <= 26 else ","  # multi-letter labels need a separator to stay unambiguous
    owned: dict[str, list[str]] = {name: [] for name in ranked(samples)}
    for i, group in enumerate(groups):
        for name in group:
            owned[name].append(label(i))
    return {name: sep.join(labels) for name, labels in owned.items()}


def kendall(a: Sequence[float] | pd.Series, b: Sequence[float] | pd.Series) -> tuple[int, float, float]:
    """(pairs used, Kendall's tau-b, its two-sided p-value) between two scorings of the same candidates
    (e.g. a brief ranking vs a longer one), by `scipy.stats.kendalltau(variant="b")`.

    Positions where either value is missing (NaN, None, not a number) are dropped first; tau and p are NaN
    when fewer than 3 pairs remain or either side is constant (tau says nothing then). Unequal lengths
    raise InvalidValueError.
    """
    x = np.asarray(pd.to_numeric(pd.Series(list(a), dtype=object), errors="coerce"), dtype=float)
    y = np.asarray(pd.to_numeric(pd.Series(list(b), dtype=object), errors="coerce"), dtype=float)
    if x.shape != y.shape:
        raise InvalidValueError(f"kendall needs equal lengths, got {x.size} and {y.size}")
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return int(x.size), float("nan"), float("nan")
    result = stats.kendalltau(x, y, variant="b")
    return int(x.size), float(result.statistic), float(result.pvalue)
