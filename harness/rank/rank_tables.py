"""A ranking's tables: ended runs -> runs table -> one row per candidate with statistics -> fidelity.

- `runs_frame`: one row per ended run (validation and test accuracy, losses, costs, throughput);
- `rank_table`: per candidate, in ranked order (mean validation accuracy, highest first): mean,
  standard deviation and t interval of validation and test accuracy, the bootstrap probability of
  being the best, the compact letter display of the groups the data cannot tell apart (pairwise
  Welch tests, Holm-corrected), membership of the top group, params, FLOPs, training throughput;
  and the pairwise tests themselves (a candidate with fewer than 2 completed runs gets NaN for its
  interval, P(best), group and top: see `rank_table`);
- `fidelity_table`: Kendall's tau between the ranking and what predicts it cheaply: the search's
  one brief run, params, FLOPs, and the sum of training losses over the first epochs.

Pure pandas and harness.rank.stats: reads tables, trains nothing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from harness.rank.candidates import Candidate
from harness.rank.stats import comparable, kendall, letters, pairwise_tests, prob_best, summarize, top_group
from harness.store.record import keys

RUN_COLUMNS = ["candidate", keys.SEED_INDEX, "seed", "state", "accuracy", "balanced_accuracy", "macro_f1",
               "robust_accuracy", "test_accuracy", "test_balanced_accuracy", "test_macro_f1", "val_loss", "test_loss",
               "latency_ms", "throughput", "memory",
               "train_loss", "params", "flops", "train_seconds", "epochs", keys.IMAGES_PER_SECOND, keys.FAILURE_REASON,
               "label", "spec_id", "number", keys.CURVE]
TABLE_COLUMNS = ["rank", "candidate", "n", "failed", "mean", "std", "ci_low", "ci_high", "test_n", "test_mean",
                 "test_std", "test_ci_low", "test_ci_high", "prob_best", "group", "top", "params", "flops",
                 keys.IMAGES_PER_SECOND, "train_seconds", "search_accuracy", "search_trial", "loss_first",
                 "label", "origin", "spec_id", "budget", keys.FAILURE_REASON]
FIDELITY_COLUMNS = ["predictor", "n", "tau", "p", "meaning"]


def runs_frame(candidates: Sequence[Candidate], ended: dict[str, dict[int, dict[str, Any]]]) -> pd.DataFrame:
    """One row per ended run of `candidates` (in candidate, then seed order); the curve as JSON."""
    rows = []
    for c in candidates:
        for index, run in sorted(ended.get(c.key, {}).items()):
            row = {col: run.get(col) for col in RUN_COLUMNS}
            row.update(candidate=c.name, seed_index=index, label=c.spec.label, spec_id=c.spec.spec_id)
            row[keys.CURVE] = json.dumps(run[keys.CURVE]) if run.get(keys.CURVE) is not None else None
            rows.append(row)
    frame = pd.DataFrame(rows, columns=RUN_COLUMNS)
    for col in ("accuracy", "balanced_accuracy", "macro_f1", "robust_accuracy", "test_accuracy",
                "test_balanced_accuracy", "test_macro_f1", "val_loss", "test_loss", "train_loss", "train_seconds",
                keys.IMAGES_PER_SECOND, "latency_ms", "throughput", "memory"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype(float)
    for col in (keys.SEED_INDEX, "seed", "params", "flops", "epochs", "number"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("Int64")
    return frame


def loss_over_first(curve: Any, epochs: int) -> float:
    """Sum of the training losses of the first `epochs` epochs of a run's curve (JSON or list), or
    of all its epochs when it has fewer; NaN without a curve. Lower predicts a better network (training speed, as in
    Ru et al., "Speedy Performance Estimation for Neural Architecture Search", 2021)."""
    if curve is None or (isinstance(curve, float) and math.isnan(curve)):
        return float("nan")
    points = json.loads(curve) if isinstance(curve, str) else curve
    losses = [float(p["train_loss"]) for p in points[:epochs]]
    return float(sum(losses)) if losses else float("nan")


def _clip(value: float) -> float:
    return value if math.isnan(value) else min(1.0, max(0.0, float(value)))


def _mean_or_nan(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else float("nan")


def rank_table(runs: pd.DataFrame, candidates: Sequence[Candidate], *, alpha: float = 0.05, confidence: float = 0.95,
               seed: int = 0, n_boot: int = 10_000, loss_epochs: int = 2, metric: str = "accuracy"
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per candidate in ranked order, the pairwise tests), ranked by `metric` (the runs'
    validation accuracy, or their robust accuracy). Candidates without a completed run come last,
    unranked, with the reason their runs failed.

    Small n, the rule: a candidate with fewer than 2 completed runs (`rank_stats.MIN_RUNS`: one seed, or its other
    runs failed) has its mean and n but NaN for its interval, P(best), group and top: one run has no spread, and
    neither a bootstrap nor a test can say how it compares. P(best), the letters, the top group and the pairwise
    tests are computed among the other candidates only (`rank_stats.comparable`), and only when at least two
    candidates have 2 runs (or the ranking has one candidate): else they are NaN for everyone, the pairwise table
    empty. The top group is then the best of those candidates and the ones not significantly worse than it, even
    where a one-run candidate has a higher mean."""
    ok = runs[(runs["state"] == "COMPLETE") & runs[metric].notna()]
    samples = {c.name: ok.loc[ok["candidate"] == c.name, metric].tolist() for c in candidates}
    samples = {k: v for k, v in samples.items() if v}
    rows: dict[str, dict[str, Any]] = {}
    for c in candidates:
        mine = runs[runs["candidate"] == c.name]
        done = ok[ok["candidate"] == c.name]
        reasons = mine[keys.FAILURE_REASON].dropna()
        rows[c.name] = {
            "candidate": c.name, "n": len(done), "failed": int((mine["state"] != "COMPLETE").sum()),
            "params": done["params"].dropna().iloc[0] if done["params"].notna().any() else pd.NA,
            "flops": done["flops"].dropna().iloc[0] if done["flops"].notna().any() else pd.NA,
            keys.IMAGES_PER_SECOND: float(done[keys.IMAGES_PER_SECOND].median()) if len(done) else np.nan,
            "train_seconds": float(done["train_seconds"].mean()) if len(done) else np.nan,
            "search_accuracy": c.search_accuracy, "search_trial": c.search_trial,
            "loss_first": _mean_or_nan([loss_over_first(v, loss_epochs) for v in done[keys.CURVE]]),
            "label": c.spec.label, "origin": c.origin, "spec_id": c.spec.spec_id, "budget": c.budget,
            keys.FAILURE_REASON: reasons.iloc[0] if len(reasons) else None,
        }
    pairwise = pd.DataFrame(columns=["a", "b", "diff", "p", "p_holm", "significant", "note"])
    order: list[str] = []
    if samples:
        summary = summarize(samples, confidence).set_index("candidate")
        order = list(summary.index)
        best = prob_best(samples, n_boot=n_boot, seed=seed)  # NaN outside `compared`
        compared = comparable(samples)
        groups = letters(compared, alpha) if compared else {}
        top = set(top_group(compared, alpha)) if compared else set()
        if compared:
            pairwise = pairwise_tests(compared, alpha)
        for name in order:
            s = summary.loc[name]
            # An accuracy lies in [0, 1]: the t interval is cut to it (with 2 seeds it can reach past).
            rows[name].update(mean=s["mean"], std=s["std"], ci_low=_clip(s["ci_low"]), ci_high=_clip(s["ci_high"]),
                              prob_best=best[name])
            if name in compared:  # else group and top stay NaN: unknown, not "indistinguishable"
                rows[name].update(group=groups[name], top=name in top)
            # The test split's figure of the same metric (robust accuracy has none: test accuracy).
            test_col = f"test_{metric}" if f"test_{metric}" in ok else "test_accuracy"
            test = ok.loc[(ok["candidate"] == name) & ok[test_col].notna(), test_col].tolist()
            if test:
                t = summarize({name: test}, confidence).iloc[0]
                rows[name].update(test_n=len(test), test_mean=t["mean"], test_std=t["std"],
                                  test_ci_low=_clip(t["ci_low"]), test_ci_high=_clip(t["ci_high"]))
    rest = [c.name for c in candidates if c.name not in samples]
    table = pd.DataFrame([rows[n] for n in order + rest], columns=TABLE_COLUMNS)
    table["rank"] = pd.array(list(range(1, len(order) + 1)) + [pd.NA] * len(rest), dtype="Int64")
    table["top"] = table["top"].astype("boolean")
    for col in ("n", "failed", "test_n", "params", "flops", "search_trial"):
        table[col] = pd.to_numeric(table[col], errors="coerce").astype("Int64")
    return table, pairwise


def fidelity_table(table: pd.DataFrame, loss_epochs: int = 2) -> pd.DataFrame:
    """Kendall's tau between each predictor and the ranking (mean validation accuracy) over the
    ranked candidates. Every predictor is oriented so that +1 means it orders the candidates as the
    ranking does: the search's brief accuracy, params and FLOPs as they are (bigger predicts
    better), the training-loss sum negated (lower predicts better)."""
    ranked = table[table["rank"].notna()]
    target = ranked["mean"].astype(float)
    predictors = [
        ("search accuracy (one brief run)", ranked["search_accuracy"],
         "the search's own ranking of these trials: how far brief training can be trusted here"),
        ("params", ranked["params"], "bigger networks rank higher"),
        ("FLOPs", ranked["flops"], "costlier networks rank higher"),
        (f"training loss, first {loss_epochs} epoch{'s' if loss_epochs != 1 else ''}",
         -ranked["loss_first"].astype(float),
         "faster-falling training loss ranks higher (sum over the first epochs of these runs, negated)"),
    ]
    rows = []
    for name, values, meaning in predictors:
        n, tau, p = kendall(values, target)
        if n == 0:
            continue
        if math.isnan(tau):
            meaning += " (undefined: fewer than 3 candidates, or all alike on one side)"
        rows.append([name, n, tau, p, meaning])
    return pd.DataFrame(rows, columns=FIDELITY_COLUMNS)
