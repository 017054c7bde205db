"""Where a trial's time goes outside its training steps: `Overheads` (seconds per part) and
`OVERHEAD_COLUMNS` (their table columns). Plain data without torch, so that the trials table
(store) and the console lines (search) can name the columns without loading the training loop."""

from __future__ import annotations

from dataclasses import dataclass

# The table columns of Overheads, in its field order (trials.csv, rank's runs.csv).
OVERHEAD_COLUMNS = ("build_seconds", "count_seconds", "speed_seconds", "warmup_seconds", "eval_seconds",
                    "robust_seconds")


@dataclass
class Overheads:
    """Seconds one trial spends outside its training steps, filled in as each part happens (so a
    pruned or failed trial still has its figures): building the network, counting its costs,
    measuring its speed and memory, the first step's warm-up (set-up, autotuning, compilation), the
    evaluations after each epoch, and the evaluation on shifted validation copies at the end
    (robustness; 0 when not asked for)."""

    build: float = 0.0  # filled by harness.train.evaluate.evaluate_spec
    count: float = 0.0  # likewise (fvcore tracing and the receptive field)
    speed: float = 0.0  # likewise (latency, throughput and training memory: harness.train.speed)
    warmup: float = 0.0
    evaluate: float = 0.0
    robust: float = 0.0  # likewise

    def columns(self) -> dict[str, float]:
        """The table columns (OVERHEAD_COLUMNS) and their values."""
        return dict(zip(OVERHEAD_COLUMNS, (self.build, self.count, self.speed, self.warmup, self.evaluate,
                                           self.robust), strict=True))
