"""`run_budget(space, BudgetConfig)`: one wall-clock budget from a space to a tested, exported model:
plan -> search (successive halving over epochs of the whole training split) -> ranking of its best
over new seeds -> the winner trained over seeds -> the test split once -> model folder, ONNX, run.html.

Folder (results/<name>/): state.json (plan, seconds spent, each stage's decisions), search/ (the
study: report.html, trials.csv), rank/ (rank.html), final/seed-N/ (each final run's model folder and
checkpoint), model/ (the kept run: weights, model.onnx, model.html), fidelity.csv, run.html.

Every stage resumes: the study and the ranking from their storages, the final runs from their
checkpoints, the stages' decisions from state.json; the budget left is the budget less the seconds
already spent (harness.budget.state). The test split is read once, after every choice is made, and
only for the winner's runs: it chooses nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from harness.budget.outputs import finished_result
from harness.budget.plan import BudgetPlan, fit_final, fit_ranking, minutes, plan_budget
from harness.budget.settings import BudgetConfig, BudgetResult
from harness.budget.state import STATE, BudgetClock, RunState
from harness.data import ImageData
from harness.errors import HarnessError
from harness.search.search_config import dataset_for, search_config, study_name_for
from harness.search.space import SearchSpace
from harness.signals import StopOnSignal
from harness.train.device import resolve_device, resolve_precision

SEARCH, RANK, FINAL = "search", "rank", "final"
MAX_TRIALS = 10_000


def _key(space: SearchSpace, dataset: str, data: ImageData, budget: float, device: str, precision: str) -> dict:
    blob = json.dumps(space.raw, sort_keys=True, default=str)
    return {"space_sha1": hashlib.sha1(blob.encode()).hexdigest()[:12], "dataset": dataset, "split": data.split_id,
            "budget_s": budget, "device_type": device, "precision": precision}


def run_budget(space: SearchSpace, config: BudgetConfig, *, progress: Callable[[str], None] | None = print,
               argv: list[str] | None = None) -> BudgetResult:
    """Run (or resume) the budgeted pipeline; see the module docstring. A budget too small for one
    trial is refused (HarnessError) before anything is written."""
    from harness.budget.probe import epoch_seconds

    started = time.monotonic()  # the budget counts this invocation's loading and probing too
    say = progress or (lambda _: None)
    name = study_name_for(space, config.name, "name")
    folder = Path(config.results_dir) / name
    dataset = dataset_for(space, config.dataset)
    device = resolve_device(config.device)
    precision = resolve_precision(config.precision, device)
    data = config.data_options.load(dataset, progress=progress is not None)
    key = _key(space, dataset, data, config.budget, device.type, precision)
    state_path = folder / STATE
    state = RunState.read(state_path)
    if state is not None and state.key != key:
        changed = ", ".join(f"{k} ({state.key.get(k)} -> {v})" for k, v in key.items() if state.key.get(k) != v)
        raise HarnessError(f"{folder} holds a budgeted run with another {changed}; give this run its own name")
    if state is None:
        plan = plan_budget(config.budget, epoch_seconds(space, data, device, precision))  # may refuse: nothing written
        folder.mkdir(parents=True, exist_ok=True)
        state = RunState(key, plan)
        for line in plan.lines():
            say(line)
    else:
        say(f"resuming the run in {folder}: {minutes(state.spent_s)} of {minutes(state.plan.budget_s)} spent")
    summary = state.stages.get("outputs", {})
    if summary.get("done"):  # a finished run: its answer again, nothing run or written
        return finished_result(folder, summary, state, say)
    say(f"data: {data.describe()}; device {device} in {precision}")
    pipeline = _Pipeline(space, config, state, folder, data, dataset, str(device), precision, say)
    # Ctrl-C or kill between stages stops at the next stage's start; within one, the stage's own
    # safe points (harness.signals) apply. The clock is saved on the way out either way.
    with BudgetClock(state, state_path, started) as clock, StopOnSignal() as stop:
        pipeline.clock = clock
        pipeline.search()
        stop.check()
        candidates, ranking = pipeline.rank()
        stop.check()
        return pipeline.final(candidates, ranking)


class _Pipeline:
    """The stages of one budgeted run, sharing its state, clock, data and settings."""

    def __init__(self, space: SearchSpace, config: BudgetConfig, state: RunState, folder: Path, data: ImageData,
                 dataset: str, device: str, precision: str, say: Callable[[str], None]) -> None:
        self.space, self.config, self.state, self.folder, self.data = space, config, state, folder, data
        self.dataset, self.device, self.precision, self.say = dataset, device, precision, say
        self.plan: BudgetPlan = state.plan
        self.clock: BudgetClock
        self.notes: list[str] = []
        self._attrs: dict[int, dict[str, Any]] | None = None  # the search's trials' attributes, read once

    def _until(self, stage: str) -> float:
        """Seconds left until the end of `stage`'s share, counted from the start of the budget (what
        an earlier stage left unspent is this one's too)."""
        plan = self.plan
        end = {SEARCH: plan.search_s, RANK: plan.search_s + plan.rank_s, FINAL: plan.budget_s - plan.reserve_s}[stage]
        return end - self.clock.spent()

    def _end(self, stage: str) -> None:
        record = self.state.stage(stage)
        record["done"] = True
        record["ended_at_s"] = round(self.clock.spent(), 1)
        self.clock.save()

    # ---------------------------------------------------------------- search
    def search(self) -> None:
        from harness.search.study import run_search

        record = self.state.stage(SEARCH)
        if record.get("done"):
            return
        left = self._until(SEARCH)
        self.say(f"search: {minutes(max(0.0, left))} left of its share")
        if left > self.plan.epoch_s:
            # No trial starts within one typical epoch of the end; a running one stops at the
            # epoch whose successor would pass the deadline (harness.search.objective).
            settings = search_config(
                self.space, dataset=self.dataset, trials=self._trials(), epochs=self.plan.rungs[-1], pruner="sha",
                timeout=max(1.0, left - self.plan.epoch_s), deadline=time.time() + left, device=self.device,
                precision=self.precision, seed=self.config.seed, study_name=SEARCH, results_dir=str(self.folder),
                data_options=self.config.data_options, live=self.config.live)
            # The whole training split (the final use's unit), whatever the space's train.images says.
            settings = dataclasses.replace(settings, data_options=self.config.data_options)
            run_search(self.space, settings, data=self.data, progress=self.say)
        self._end(SEARCH)

    def _trials(self) -> int:
        """The search's trial cap: the space's architectures (each at most once; its time ends it sooner)."""
        return min(self.space.architecture_count() or MAX_TRIALS, MAX_TRIALS)

    def _search_trials(self) -> pd.DataFrame:
        from harness.store.results_folder import load_trials

        return load_trials(self.folder / SEARCH)

    def _epoch_seconds(self, number: int) -> float:
        """Measured wall seconds per epoch of search trial `number`: its training and validation
        (what a final run's epochs do), not its one-off costs (counting, the speed measurement),
        with 5% for what an epoch adds there (a checkpoint's write)."""
        attrs = self._trial_attrs().get(number, {})
        epochs = int(attrs.get("epochs") or 0)
        if not epochs or attrs.get("train_seconds") is None:
            return self.plan.epoch_s
        return 1.05 * (float(attrs["train_seconds"]) + float(attrs.get("eval_seconds") or 0.0)) / epochs

    def _trial_attrs(self) -> dict[int, dict[str, Any]]:
        """The search's trials' recorded attributes by number (read from its storage once)."""
        if self._attrs is None:
            import optuna

            from harness.store.storage import open_storage, resolve_storage

            storage = open_storage(resolve_storage(None, self.folder / SEARCH))
            study = optuna.load_study(study_name=SEARCH, storage=storage)
            self._attrs = {t.number: t.user_attrs for t in study.get_trials(deepcopy=False)}
        return self._attrs

    # ---------------------------------------------------------------- ranking
    def rank(self) -> tuple[list[Any], Any]:
        from harness.rank.candidates import from_study
        from harness.rank.ranking import RankConfig
        from harness.rank.runs import run_rank

        record = self.state.stage(RANK)
        try:
            candidates, info, _ = from_study(self.folder / SEARCH, top=self.plan.top, pruned=True)
        except HarnessError as err:
            raise HarnessError(f"the search ended without a trained trial ({err.template or err}); give a larger "
                               "budget", settings=err.settings) from None
        if "top" not in record:
            per_epoch = [self._epoch_seconds(c.search_trial) for c in candidates]
            top, seeds = fit_ranking(self._until(RANK), per_epoch, self.plan.rungs[-1], self.plan.rank_seeds)
            record.update(top=top, seeds=seeds, epochs=self.plan.rungs[-1],
                          epoch_s=[round(s, 2) for s in per_epoch[:top]])
            self.clock.save()
        top, seeds, epochs = int(record["top"]), int(record["seeds"]), int(record["epochs"])
        if top < 2:
            self.notes.append("no ranking: the search trained fewer than 2 architectures, or their runs would not "
                              "fit the ranking's share; the winner is the search's best (furthest trained, then "
                              "most accurate)")
            self._end(RANK)
            return candidates[:1], None
        self.say(f"ranking: the best {top} of the search, {seeds} new seed(s) each, {epochs} epoch(s) a run; "
                 f"{minutes(max(0.0, self._until(RANK)))} left of its share")
        ranking = run_rank(candidates[:top], RankConfig(seeds=seeds, epochs=epochs, test=False, name=RANK,
                                                        results_dir=str(self.folder), device=self.device,
                                                        precision=self.precision, seed=self.config.seed,
                                                        live=self.config.live, dataset=self.dataset,
                                                        deadline=time.time() + self._until(RANK)),
                           study=info, data=self.data, progress=self.say)
        if not record.get("done"):
            self._end(RANK)
        return candidates[:top], ranking

    # ---------------------------------------------------------------- final training, test, outputs
    def final(self, candidates: list[Any], ranking: Any) -> BudgetResult:
        from harness.budget.outputs import finish

        record = self.state.stage(FINAL)
        winner = candidates[0]
        if ranking is not None:
            first = str(ranking.table.iloc[0]["candidate"])
            winner = next(c for c in candidates if c.name == first)
        if "epochs" not in record:
            per_epoch = self._epoch_seconds(winner.search_trial)  # measured on its search trial
            seconds = self._until(FINAL)
            epochs, seeds = fit_final(seconds, per_epoch, self.plan.final_seeds, self.plan.rungs[-1])
            record.update(winner=winner.name, epochs=max(1, epochs), seeds=max(1, seeds), epoch_s=round(per_epoch, 2))
            if epochs == 0:
                self.notes.append(f"the final training got one epoch: {minutes(max(0.0, seconds))} were left for "
                                  f"an epoch of {per_epoch:.0f} s")
            self.clock.save()
        epochs, seeds = int(record["epochs"]), int(record["seeds"])
        self.say(f"final: {winner.name} ({winner.spec.label}), {seeds} seed(s) of {epochs} epoch(s); "
                 f"{minutes(max(0.0, self._until(FINAL)))} left of its share")
        if record.get("done"):
            folders = [self.folder / FINAL / f"seed-{i}" for i in range(int(record.get("trained", record["seeds"])))]
        else:
            folders = self._train_final(winner, epochs, seeds)
            record["trained"] = len(folders)
            self._end(FINAL)
        return finish(self, winner, folders, candidates, ranking)

    def _train_final(self, winner: Any, epochs: int, seeds: int) -> list[Path]:
        from harness.data.loader import place_dataset
        from harness.final.train import FinalConfig, train_final

        train = dataclasses.replace(winner.train, epochs=epochs, seconds=None)
        data, _ = place_dataset(self.data, self.device)  # on a GPU, where it fits
        folders = []
        per_run = float(self.state.stage(FINAL).get("epoch_s", 0.0)) * epochs
        for index in range(seeds):
            folder = self.folder / FINAL / f"seed-{index}"
            started = (folder / "checkpoint").is_dir()
            if index > 0 and not started and per_run > self._until(FINAL):
                self.notes.append(f"the final training ran {index} of {seeds} seeds: the next would not end in time")
                break
            self.say(f"final run {index + 1}/{seeds}: seed {index}")
            final = FinalConfig(seed=self.config.seed * 1000 + index, device=self.device, precision=self.precision,
                                dataset=self.dataset, origin=f"{self.folder.name}: {winner.name}",
                                live=self.config.live, test=False)
            train_final(winner.spec, data, train, folder, final, progress=self.say)
            folders.append(folder)
        return folders

