"""Results: study -> trials DataFrame -> trials.csv, Pareto front, leaderboard, plot, run.json.

Everything a results folder holds is rebuilt here from the study (or from trials.csv alone), so
it can be redrawn at any time without training.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import yaml

from harness.train.loop import OVERHEAD_COLUMNS

if TYPE_CHECKING:
    import optuna
    import torch
    from optuna.trial import FrozenTrial

    from harness.data import ImageData
    from harness.data.loader import Placement
    from harness.search.space import SearchSpace
    from harness.search.study import SearchConfig

# Metric columns, in the order trials.csv shows them after the searched parameters.
METRIC_COLUMNS = ["accuracy", "val_loss", "params", "flops", "receptive_field", "train_seconds",
                  "epochs", "failure_reason", "infeasible", "reused_from", "pruned_reason", "train_loss",
                  "label", "spec_id", "seed", "uncounted_ops", "batch_size", "note", *OVERHEAD_COLUMNS]
INTERRUPTED = "interrupted (not counted; the next run replaces it)"


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: number, state, each searched parameter, then the metrics."""
    from optuna.trial import TrialState

    rows = []
    param_names: list[str] = []
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get("surplus"):
            continue  # dropped unrun: another worker took the study's last place first
        for name in t.params:
            if name not in param_names:
                param_names.append(name)
        row: dict[str, Any] = {"number": t.number, "state": t.state.name, **t.params}
        attrs = t.user_attrs
        for col in METRIC_COLUMNS:
            if col in attrs:
                row[col] = attrs[col]
        if t.state == TrialState.FAIL and "failure_reason" not in attrs:
            row["failure_reason"] = INTERRUPTED
        for name in ("history", "curve"):  # per-epoch learning curves, as JSON
            if name in attrs:
                row[name] = json.dumps(attrs[name])
        rows.append(row)
    columns = ["number", "state", *param_names, *METRIC_COLUMNS, "history", "curve"]
    frame = pd.DataFrame(rows, columns=columns)
    for col in ("params", "flops", "receptive_field", "epochs", "seed", "reused_from", "batch_size"):
        frame[col] = frame[col].astype("Int64")
    return frame


def searched_columns(frame: pd.DataFrame) -> list[str]:
    """The searched-parameter columns of a trials table (those between state and the metrics)."""
    skip = {"number", "state", "history", "curve", *METRIC_COLUMNS}
    return [c for c in frame.columns if c not in skip]


def pareto_front(frame: pd.DataFrame, cost: str = "flops", metric: str = "accuracy") -> pd.DataFrame:
    """Completed trials that no other beats on both counts (higher metric at no higher cost),
    sorted by cost."""
    done = _first_runs(trained_trials(frame))
    done = done[done[metric].notna() & done[cost].notna()]
    done = done.sort_values([cost, metric], ascending=[True, False])
    best = float("-inf")
    keep = []
    for index, value in done[metric].items():
        if value > best:
            keep.append(index)
            best = value
    return done.loc[keep]


def leaderboard(frame: pd.DataFrame, top: int = 5) -> pd.DataFrame:
    """The `top` completed trials by accuracy."""
    done = _first_runs(trained_trials(frame))
    return done.sort_values("accuracy", ascending=False).head(top)


def trained_trials(frame: pd.DataFrame) -> pd.DataFrame:
    """Completed trials with an accuracy that were trained (not refused by a hard constraint);
    reused results included (see _first_runs)."""
    done = frame[(frame["state"] == "COMPLETE") & frame["accuracy"].notna()]
    return done[done["infeasible"].isna()] if "infeasible" in done else done


def _first_runs(frame: pd.DataFrame) -> pd.DataFrame:
    """Without the rows that reuse another trial's result (the same experiment, listed once)."""
    return frame[frame["reused_from"].isna()] if "reused_from" in frame else frame


def human(n: float | int | None) -> str:
    """12345678 -> '12.3M'."""
    if n is None or pd.isna(n):
        return "-"
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.3g}{unit}"
    return f"{n:.3g}"


def trial_line(trial: FrozenTrial, done: int, total: int) -> str:
    """One progress line for a finished trial."""
    a = trial.user_attrs
    head = f"[{done:>3}/{total}] trial {trial.number:>3}"
    costs = (f"params {human(a.get('params')):>6}  flops {human(a.get('flops')):>6}  "
             f"rf {a.get('receptive_field', '-')}px")
    if trial.state.name == "FAIL":
        return f"{head} FAILED: {a.get('failure_reason', INTERRUPTED)}  ({a.get('label', '')})"
    if "infeasible" in a:
        return f"{head} infeasible, not trained: {a['infeasible']}  {costs}  {a.get('label', '')}"
    acc = a.get("accuracy")
    acc_s = f"{acc:6.1%}" if acc is not None else "   -  "
    state = " pruned" if trial.state.name == "PRUNED" else ""
    if "reused_from" in a:
        state = f" reused from trial {a['reused_from']}"
    note = f"  [{a['note']}]" if a.get("note") else ""
    return (f"{head} acc {acc_s}  {costs}  {a.get('train_seconds', 0):5.1f}s{state}  "
            f"{a.get('label', '')}{note}")


def overhead_line(frame: pd.DataFrame, write_seconds: Sequence[float] = ()) -> str | None:
    """One line on where the trained trials' time went: mean training seconds per trial, and the
    mean seconds outside training by part (build, count, warm-up, evaluation, and writing the
    results folder when `write_seconds` are given); None when no trial here trained."""
    if "warmup_seconds" not in frame:
        return None
    ran = frame[frame["warmup_seconds"].notna() & frame["reused_from"].isna()]
    if ran.empty:
        return None
    parts = {label: float(ran[col].mean()) for col, label in
             zip(OVERHEAD_COLUMNS, ("build", "count", "warm-up", "evaluation"), strict=True)}
    if len(write_seconds):
        parts["writing"] = sum(write_seconds) / len(write_seconds)
    train = ran["train_seconds"].mean()
    train_s = f"{train:.2f} s" if pd.notna(train) else "-"
    return (f"time per trained trial (mean of {len(ran)}): training {train_s}, outside training "
            f"{sum(parts.values()):.2f} s (" + ", ".join(f"{k} {v:.2f}" for k, v in parts.items()) + ")")


def print_leaderboard(frame: pd.DataFrame, say: Callable[[str], None], top: int = 5) -> None:
    """Print the best trials as a small table."""
    board = leaderboard(frame, top)
    counts = frame["state"].value_counts().to_dict()
    notes = [f"{int(frame[col].notna().sum())} {what}" for col, what in
             (("infeasible", "infeasible (not trained)"), ("reused_from", "reused"))
             if col in frame and frame[col].notna().any()]
    say("trials: " + ", ".join([f"{n} {s.lower()}" for s, n in counts.items()] + notes))
    if board.empty:
        say("no trial completed: see failure_reason in trials.csv")
        return
    say(f"top {len(board)} by validation accuracy:")
    say(f"  {'trial':>5}  {'acc':>6}  {'params':>6}  {'flops':>6}  {'rf':>4}  architecture")
    for _, r in board.iterrows():
        say(f"  {r['number']:>5}  {r['accuracy']:6.1%}  {human(r['params']):>6}  "
            f"{human(r['flops']):>6}  {r['receptive_field']:>4}  {r['label']}")
    front = pareto_front(frame)
    say("Pareto front, accuracy vs FLOPs: " + ", ".join(
        f"trial {r['number']} ({r['accuracy']:.1%} at {human(r['flops'])})" for _, r in front.iterrows()))


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    # Write beside, then rename: a reader (or a kill mid-write) never sees a half-written file.
    # The temporary name is the process's own: several workers may rewrite the same file at once.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{path.suffix}")
    write(tmp)
    os.replace(tmp, path)


def write_results(study: optuna.Study, folder: Path, plot: bool = True) -> pd.DataFrame:
    """Rewrite trials.csv and (with `plot`) acc_vs_flops.png in `folder` from the study; return
    the table."""
    from harness.report.plots import plot_accuracy_vs_flops

    frame = trials_frame(study)
    _atomic_write(folder / "trials.csv", lambda p: frame.to_csv(p, index=False))
    if not plot:
        return frame
    title = f"{study.study_name}: accuracy vs FLOPs"
    _atomic_write(folder / "acc_vs_flops.png",
                  lambda p: plot_accuracy_vs_flops(frame, p, title=title))
    return frame


def safe_command(argv: list[str]) -> list[str]:
    """The command line with any password in a URL (a --storage value) replaced by ***."""
    from harness.store.storage import redact

    return [redact(word) if "://" in word else word for word in argv]


def write_run_info(folder: Path, space: SearchSpace, config: SearchConfig, data: ImageData,
                   device: torch.device, argv: list[str], placement: Placement | None = None,
                   storage: str | None = None) -> None:
    """Copy the space file to space.yaml and append this run's record to run.json (`storage`: the
    storage as it may be shown, password hidden)."""
    target = folder / "space.yaml"
    if space.path:
        if not target.exists() or Path(space.path).resolve() != target.resolve():
            text = Path(space.path).read_text()
            _atomic_write(target, lambda p: p.write_text(text))  # workers may copy it at once
    else:
        _atomic_write(target, lambda p: p.write_text(yaml.safe_dump(space.raw, sort_keys=False)))
    record = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": safe_command(argv),
        "storage": storage,
        "worker": config.worker,
        "space": space.path,
        "study": folder.name,
        "dataset": {"ref": config.dataset, **data.info(), "summary": data.describe(),
                    "options": dataclasses.asdict(config.data_options),
                    "placement": placement.describe() if placement else None},
        "trials": config.trials,
        "epochs": config.epochs,
        "objectives": config.objectives,
        "seed": config.seed,
        "pruner": config.pruner,
        "device": describe_device(device),
        "versions": versions(),
    }
    append_run_record(folder / "run.json", record)


def append_run_record(path: Path, record: dict[str, Any]) -> None:
    """Append `record` to the run.json at `path` (its "runs", and as "latest"), under a file lock:
    several workers may start at once."""
    import fcntl

    with open(path.with_name(f".{path.name}.lock"), "a") as lock:  # hidden: not a result to look at
        fcntl.flock(lock, fcntl.LOCK_EX)
        info: dict[str, Any] = {"runs": []}
        if path.exists():
            try:
                info = json.loads(path.read_text())
            except (json.JSONDecodeError, OSError):
                info = {"runs": []}
        info["runs"] = [*info.get("runs", []), record]
        info["latest"] = record
        _atomic_write(path, lambda p: p.write_text(json.dumps(info, indent=2, default=str)))


def versions() -> dict[str, str]:
    """Versions of Python and the libraries that shape results."""
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for package in ("harness", "torch", "torchvision", "optuna", "fvcore", "numpy", "pandas"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "not installed"
    return out


def describe_device(device: torch.device) -> dict[str, Any]:
    """The device a run trains on: type, name, and for CPUs the core and thread counts."""
    import torch

    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return {"type": "cuda", "name": props.name, "memory_gib": round(props.total_memory / 2**30, 1),
                "cuda": torch.version.cuda}
    return {"type": "cpu", "name": platform.processor() or platform.machine(),
            "cores": os.cpu_count(), "torch_threads": torch.get_num_threads()}
