"""Benchmark: harness's per-trial time outside training, and `harness report`, as a study grows
to 100, 1,000 and 10,000 finished trials, on SQLite, a journal and PostgreSQL.

For each storage a study is filled through Optuna's own `add_trials` with trials as a search
records them (parameters and distributions sampled from the space, the spec, fvcore's params and
FLOPs of that spec, a learning curve per epoch with its intermediate values, the overheads, the
budget key), then `run_search` runs a few real trials on it in this process (the default sampler
and pruner, one epoch on the default dataset) and the parts of each trial outside training are
timed by wrapping the functions that do them:

  - sampling: the sampler's calls (TPE reads every finished trial);
  - surplus check and reuse lookup: TrialObjective._surplus and ._reuse;
  - results folder: ResultsWriter (the trial's line, trials.csv, the plot when due);
  - the rest: Optuna's and harness's storage writes, the loop between trials, the pruner;

"outside training" is the whole loop less evaluate_spec (building, counting, measuring speed,
training and evaluating the network: the same at any size). Then `harness report` runs end to
end as a user runs it (a new process; the study read from its storage). Each size adds to the
study of the size before.

    python bench/study_growth.py [--sizes 100,1000,10000] [--trials 5] [--storages sqlite,journal,postgres]
        [--json OUT]

Run it with the code to compare on PYTHONPATH (a worktree of an earlier commit) for "before".
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

SPACE = """
stem: {width: 8}
stages:
  count: 2
  width: {choices: [8, 16, 32], per_stage: true}
  stride: 2
  kernel_size: {choices: [3, 5, 7], per_stage: true}
train: {epochs: 1, batch_size: 128}
"""
EPOCHS = 3  # the filled trials' curves: three epochs each (the real ones train one)

TIMES: dict[str, float] = defaultdict(float)  # seconds per part, this run
PER_TRIAL: list[dict[str, float]] = []  # per trial of this run: its wall time and each part's
SETTLES: list[float] = []  # this run's settle_garbage calls (s)


def _timed(part: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            TIMES[part] += time.perf_counter() - start
    return wrapper


def instrument() -> None:
    """Wrap the functions whose time is measured (module attributes, looked up at call time)."""
    import optuna

    import harness.search.objective as objective
    import harness.search.study as study
    import harness.search.writer as writer

    objective.evaluate_spec = _timed("training", objective.evaluate_spec)
    objective.TrialObjective._surplus = _timed("surplus check", objective.TrialObjective._surplus)
    objective.TrialObjective._reuse = _timed("reuse lookup", objective.TrialObjective._reuse)
    write = _timed("results folder", writer.ResultsWriter.__call__)

    def writing(*args: Any, **kwargs: Any) -> Any:  # the drawings after a trial, apart from the end's
        before = TIMES["plot"]
        try:
            return write(*args, **kwargs)
        finally:
            TIMES["plot in loop"] += TIMES["plot"] - before

    writer.ResultsWriter.__call__ = writing
    study.run_trials = _timed("loop", study.run_trials)
    if hasattr(study, "settle_garbage"):
        settle = study.settle_garbage

        def settling() -> None:  # the first one of a run walks every trial read: start-up, apart
            start = time.perf_counter()
            settle()
            SETTLES.append(time.perf_counter() - start)

        study.settle_garbage = settling
    optimize = optuna.Study.optimize

    def one_trial(*args: Any, **kwargs: Any) -> Any:  # run_trials runs one trial per call
        before = dict(TIMES)
        start = time.perf_counter()
        try:
            return optimize(*args, **kwargs)
        finally:
            PER_TRIAL.append({"wall": time.perf_counter() - start,
                              **{k: v - before.get(k, 0.0) for k, v in TIMES.items()}})

    optuna.Study.optimize = one_trial
    import harness.report.plots as plots  # the writer imports the plot function when it draws

    plots.plot_accuracy_vs_flops = _timed("plot", plots.plot_accuracy_vs_flops)
    sampler = optuna.samplers.TPESampler
    for name in ("infer_relative_search_space", "sample_relative", "sample_independent", "before_trial",
                 "after_trial"):
        setattr(sampler, name, _timed("sampling", getattr(sampler, name)))


def filled_trials(space: Any, start: int, stop: int, rng: random.Random, costs: dict[str, dict[str, Any]]
                  ) -> list[Any]:
    """Trials numbered start..stop-1 as a search records them (finished: complete, some pruned)."""
    import optuna
    from optuna.trial import TrialState

    from harness.zoo.measure import profile_spec

    sampler_study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=start))
    out = []
    for number in range(start, stop):
        trial = sampler_study.ask()
        spec, _ = space.suggest(trial)
        if spec.spec_id not in costs:
            costs[spec.spec_id] = profile_spec(spec, (1, 28, 28), 10)
        c = costs[spec.spec_id]
        pruned = rng.random() < 0.3
        epochs = 1 if pruned else EPOCHS
        history = [round(min(0.95, 0.3 + 0.2 * e + rng.gauss(0, 0.05)), 4) for e in range(epochs)]
        curve = [{"epoch": e + 1, "train_loss": 2.0 - 0.3 * e, "val_loss": 2.1 - 0.3 * e, "val_accuracy": v,
                  "seconds": 2.4 * (e + 1), "val_balanced_accuracy": v - 0.01, "val_macro_f1": v - 0.02}
                 for e, v in enumerate(history)]
        attrs = {"spec": spec.to_dict(), "seed": number, "device": "cpu", "precision": "fp32",
                 "worker": {"host": "fill", "pid": 1, "index": 0},
                 "budget_key": f"{spec.spec_id}/fill{number}",  # not the real trials' key: they train
                 "label": spec.label, "spec_id": spec.spec_id, "params": c["params"], "flops": c["flops"],
                 "receptive_field": c["receptive_field"], "uncounted_ops": "", "latency_ms": 0.9,
                 "throughput": 7000.0, "memory": 29_000_000, "batch_size": 128,
                 "history": history, "curve": curve, "train_seconds": 2.4 * epochs, "epochs": epochs,
                 "accuracy": history[-1], "balanced_accuracy": history[-1] - 0.01, "macro_f1": history[-1] - 0.02,
                 "val_loss": curve[-1]["val_loss"], "train_loss": curve[-1]["train_loss"],
                 "build_seconds": 0.004, "count_seconds": 0.02, "speed_seconds": 0.8, "warmup_seconds": 0.07,
                 "eval_seconds": 0.16, "robust_seconds": 0.0}
        if pruned:
            attrs["pruned_reason"] = "pruned after epoch 1 by the median pruner"
        out.append(optuna.trial.create_trial(
            state=TrialState.PRUNED if pruned else TrialState.COMPLETE,
            value=None if pruned else history[-1], params=trial.params, distributions=trial.distributions,
            user_attrs=attrs, intermediate_values={e + 1: v for e, v in enumerate(history[:-1] if not pruned
                                                                                 else history)}))
    return out


def storage_value(kind: str, folder: Path, pg_url: str | None) -> str | None:
    return {"sqlite": None, "journal": "journal", "postgres": pg_url}[kind]


def _pg_tool(name: str) -> str:
    from tests.support.pgcluster import pg_bin

    bin_dir = pg_bin()
    return str(bin_dir / name) if bin_dir else name


def save_filled(kind: str, folder: Path, pg_url: str | None, path: Path) -> None:
    """The study as filled, kept at `path` (the fill is most of a run: 13 and 26 minutes at 10,000
    trials on SQLite and PostgreSQL), so that the code before and after a change is timed on the
    same study: SQLite through its backup API, a journal as a copy, PostgreSQL through pg_dump."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "sqlite":
        import sqlite3

        with sqlite3.connect(folder / "study.db") as source, sqlite3.connect(path) as target:
            source.backup(target)
    elif kind == "journal":
        shutil.copyfile(folder / "study.journal", path)
    else:
        subprocess.run([_pg_tool("pg_dump"), "-Fc", "-d", pg_url, "-f", str(path)], check=True)


def restore_filled(kind: str, folder: Path, pg_url: str | None, path: Path) -> None:
    """The study kept by save_filled in place of this run's (nothing of the run's may be open)."""
    if kind == "sqlite":
        shutil.copyfile(path, folder / "study.db")
    elif kind == "journal":
        shutil.copyfile(path, folder / "study.journal")
    else:
        subprocess.run([_pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "-d", pg_url, str(path)],
                       check=True)


def measure(kind: str, root: Path, sizes: list[int], trials: int, pg_url: str | None,
            cache: Path | None = None) -> list[dict[str, Any]]:
    """Fill, search and report at each size on one storage; one row of figures per size. With a
    `cache` folder, a study filled before to this size is restored from it instead (and a new fill
    is kept there)."""
    import optuna

    from harness.report.plots import plot_accuracy_vs_flops
    try:
        from harness.search.search_config import SearchConfig
    except ImportError:  # before the module names said what they hold
        from harness.search.config import SearchConfig
    from harness.search.study import run_search
    from harness.search.writer import PLOT_EVERY_S
    from harness.store.trials import trials_frame

    try:
        from harness.search.writer import PLOT_SHARE
    except ImportError:  # before the share rule: every PLOT_EVERY_S
        PLOT_SHARE = 0.0  # noqa: N806
    from harness.search.space import load_space
    from harness.store.storage import open_storage, resolve_storage

    space_path = root / "growth.yaml"
    space_path.write_text(SPACE)
    space = load_space(space_path)
    results = root / kind
    folder = results / "growth"
    folder.mkdir(parents=True, exist_ok=True)
    value = storage_value(kind, folder, pg_url)
    ref = resolve_storage(value, folder)
    def opened() -> optuna.Study:
        return optuna.create_study(study_name="growth", storage=open_storage(ref, heartbeat=None),
                                   direction="maximize", load_if_exists=True)

    study = opened()
    rng, costs, rows = random.Random(0), {}, []
    have = 0
    for size in sizes:
        start = time.perf_counter()
        kept = cache / f"{kind}-{size}.{ {'sqlite': 'db', 'journal': 'journal', 'postgres': 'dump'}[kind]}" \
            if cache else None
        if kept is not None and kept.is_file():
            engine = getattr(getattr(study._storage, "_backend", study._storage), "engine", None)
            if engine is not None:
                engine.dispose()  # nothing of this run's may hold the file or the database
            del study
            restore_filled(kind, folder, pg_url, kept)
            study = opened()
            fill_s = float("nan")  # restored: see the run that filled it
        else:
            study.add_trials(filled_trials(space, have, size, rng, costs))
            fill_s = time.perf_counter() - start
            if kept is not None:
                save_filled(kind, folder, pg_url, kept)
        have = size
        TIMES.clear()
        PER_TRIAL.clear()
        SETTLES.clear()
        config = SearchConfig(trials=size + trials, epochs=1, device="cpu", results_dir=str(results),
                              study_name="growth", storage=value, report=False, live=False)
        start = time.perf_counter()
        run_search(space, config, progress=None, argv=["bench"])
        search_s = time.perf_counter() - start
        have += trials
        # Per trial, the median over the run's trials: outside training is the trial's wall time
        # (Study.optimize for one trial, its callbacks included) less evaluate_spec and any plot
        # drawn after it, plus the loop's time between trials. The plot is redrawn every
        # `interval` seconds of the search, not after every trial: its cost per trial is one
        # drawing's share over the trials of an interval.
        drawn = Path(tempfile.mkdtemp(prefix="harness-growth-plot-"))
        frame = trials_frame(study)  # read first: the drawing alone is timed
        start = time.perf_counter()
        plot_accuracy_vs_flops(frame, drawn / "p.png")
        plot_s = time.perf_counter() - start
        shutil.rmtree(drawn)
        interval = max(PLOT_EVERY_S, plot_s / PLOT_SHARE) if PLOT_SHARE else PLOT_EVERY_S
        walls = [t["wall"] for t in PER_TRIAL]
        between = max(0.0, TIMES["loop"] - sum(walls) - (SETTLES[0] if SETTLES else 0.0)) / len(walls)
        plot_share = plot_s * min(1.0, statistics.median(walls) / interval)

        def median(part: str) -> float:
            return statistics.median(t.get(part, 0.0) for t in PER_TRIAL)

        outside = statistics.median(t["wall"] - t.get("training", 0.0) - t.get("plot in loop", 0.0)
                                    for t in PER_TRIAL) + between + plot_share
        parts = {p: median(p) for p in ("sampling", "surplus check", "reuse lookup")}
        parts["results folder"] = statistics.median(t.get("results folder", 0.0) - t.get("plot in loop", 0.0)
                                                    for t in PER_TRIAL) + plot_share
        parts["rest"] = outside - sum(parts.values())
        env = {**os.environ}
        if value:
            env["HARNESS_STORAGE"] = value
        else:
            env.pop("HARNESS_STORAGE", None)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "harness", "report", str(folder)], env=env,
                              capture_output=True, text=True)
        report_s = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"harness report failed: {done.stderr.strip()[-500:]}")
        row = {"storage": kind, "trials": size, "fill_s": round(fill_s, 1), "search_s": round(search_s, 1),
               "per_trial_outside_training_s": round(outside, 3),
               **{f"{p}_s": round(v, 3) for p, v in parts.items()}, "plot_draw_s": round(plot_s, 2),
               "report_s": round(report_s, 1)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    repo = str(Path(__file__).resolve().parents[1])  # on the path for the test helpers' package
    if repo not in sys.path:
        sys.path.insert(0, repo)
    from tests.support.pgcluster import temporary_cluster

    with temporary_cluster() as url:
        yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--trials", type=int, default=5, help="real trials run at each size")
    parser.add_argument("--storages", default="sqlite,journal,postgres")
    parser.add_argument("--json", help="write the rows here too")
    parser.add_argument("--cache", help="keep each filled study in this folder, and restore it from there when "
                        "it is already kept (time the code before and after a change on the same study)")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import optuna

    import harness
    from harness.report.plots import plot_accuracy_vs_flops
    from harness.store.trials import trials_frame

    print(f"harness from {Path(harness.__file__).parent}, {os.cpu_count()} cores", flush=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # Once per process, not per trial: import and set up matplotlib before anything is timed.
    warm = Path(tempfile.mkdtemp(prefix="harness-growth-warm-"))
    plot_accuracy_vs_flops(trials_frame(optuna.create_study()), warm / "plot.png")
    shutil.rmtree(warm)
    instrument()
    sizes = [int(s) for s in args.sizes.split(",")]
    root = Path(tempfile.mkdtemp(prefix="harness-growth-"))
    cache = Path(args.cache).resolve() if args.cache else None
    rows: list[dict[str, Any]] = []
    try:
        for kind in args.storages.split(","):
            if kind == "postgres":
                with postgres() as url:
                    rows += measure(kind, root, sizes, args.trials, url, cache)
            else:
                rows += measure(kind, root, sizes, args.trials, None, cache)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    for kind in dict.fromkeys(r["storage"] for r in rows):
        mine = [r for r in rows if r["storage"] == kind]
        base = mine[0]["per_trial_outside_training_s"]
        print(f"{kind}: " + ", ".join(f"{r['trials']}: {r['per_trial_outside_training_s']:.3f} s/trial "
                                      f"(x{r['per_trial_outside_training_s'] / base:.2f}), report {r['report_s']} s"
                                      for r in mine))


if __name__ == "__main__":
    main()
