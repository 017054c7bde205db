"""The plain names a training setting may take, four tuples in a module that imports nothing:
`METRICS` (the validation figures a search or a final training ranks by), `RANK_METRICS` (those and
the robust accuracy, what a ranking ranks by), `DEVICES` and `PRECISIONS` (where and in what
precision a run trains).

The command line offers them as choices without loading torch; rank.ranking takes RANK_METRICS from
here, and tests/test_startup.py holds train.metrics.METRICS and train.device.PRECISIONS equal to these.
"""

from __future__ import annotations

METRICS = ("accuracy", "balanced_accuracy", "macro_f1")
RANK_METRICS = (*METRICS, "robust_accuracy")  # with robustness: the mean accuracy on shifted copies
DEVICES = ("auto", "cpu", "cuda")  # auto: CUDA when available (harness.train.device.resolve_device)
PRECISIONS = ("auto", "fp32", "bf16")  # auto: bf16 where it runs natively (harness.train.device.resolve_precision)
