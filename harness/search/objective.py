"""The Optuna objective of a search: suggest -> (reuse | check constraints -> train) -> record.
The only place a trial is touched."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import socket
import time
from typing import Any

import optuna
import torch
from optuna.trial import FrozenTrial, TrialState

from harness.data import ImageData
from harness.search.constraints import Constraints
from harness.search.pruning import Curve
from harness.search.search_config import SearchConfig, SurplusTrialError, TrialFailedError
from harness.search.space import SearchSpace
from harness.search.tally import Tally
from harness.signals import StopOnSignal, interrupted_by
from harness.store.faults import find as disk_fault
from harness.store.record import RecordWriter, catalogue, filters, keys
from harness.store.record.failure import describe_failure
from harness.train.device import DeviceBrokenError
from harness.train.evaluate import evaluate_spec, metrics_row, robust_columns
from harness.train.live import LiveProgress
from harness.train.loop import EpochMetrics, Overheads, TrainConfig
from harness.train.train_config import budget_key
from harness.zoo.measure import Costs
from harness.zoo.spec import ArchSpec


class _Infeasible(Exception):
    """The built model breaks a hard constraint: it is recorded, never trained."""



class TrialObjective:
    """The Optuna objective: suggest -> (reuse | check constraints -> train) -> record; the only
    place a trial is touched."""

    def __init__(self, space: SearchSpace, data: ImageData, device: torch.device, config: SearchConfig,
                 epochs: int | None, multi: bool, stop: StopOnSignal, stream: bool = False,
                 constraints: Constraints | None = None, shifted: dict[str, torch.Tensor] | None = None) -> None:
        self.space, self.data, self.device, self.stream, self.shifted = space, data, device, stream, shifted
        self.config, self.epochs, self.multi, self.stop = config, epochs, multi, stop
        self.constraints = constraints or Constraints()
        self.cost_name = catalogue.objective_cost(config.objectives)
        self.pareto = config.pareto if config.pruner_name() == "pareto" and multi else None
        self._tally = Tally()  # the study's finished trials, counted once (surplus check, reuse)

    def train_config(self, train_config: TrainConfig) -> TrainConfig:
        """The space's training config with this search's overrides (--epochs, --seconds, augmentation)."""
        changes: dict[str, Any] = {}
        if self.epochs is not None:
            changes["epochs"] = self.epochs
        for name in ("seconds", "crop_padding", "flip"):
            if getattr(self.config, name) is not None:
                changes[name] = getattr(self.config, name)
        return dataclasses.replace(train_config, **changes) if changes else train_config

    def _values(self, accuracy: float, costs: dict[str, Any], robust: float | None = None
                ) -> float | tuple[float, float]:
        if self.config.objectives == "accuracy,robust_accuracy":
            return accuracy, (0.0 if robust is None else robust)  # an infeasible trial: no good on both
        if self.cost_name is None:
            return accuracy
        # An infeasible trial refused before its speed was measured: no good on the cost either.
        return accuracy, float(costs.get(self.cost_name, math.inf))

    def values_from_attrs(self, attrs: dict[str, Any]) -> float | tuple[float, float]:
        """The objective values of a trial from its recorded attributes (a warm start's copies)."""
        return self._values(float(attrs[self.config.metric]), attrs, attrs.get("robust_accuracy"))

    def _reuse(self, trial: optuna.Trial, record: RecordWriter, key: str, trials: list[FrozenTrial]
               ) -> float | tuple[float, float] | None:
        """The result of a completed trial of the same experiment (among `trials`, the study's),
        copied into `trial`'s record; None when there is none (or --repeat)."""
        if self.config.repeat:
            return None
        old = self._tally.completed(trials, key)
        if old is None:
            return None
        record.stage({name: value for name, value in old.user_attrs.items() if catalogue.reused(name)})
        for name, value in old.constraints.items():
            trial.set_constraint(name, value)
        record.stage({keys.REUSED_FROM: old.user_attrs.get(keys.REUSED_FROM, old.number)})
        return old.values[0] if self.cost_name is None else (old.values[0], old.values[1])

    def finished_curves(self, trial: optuna.Trial) -> list[Curve]:
        """The completed trials that trained (not reused, not infeasible) as Curves for the Pareto policy."""
        curves = []
        for old in trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            history = filters.history_of(old)
            if history is not None and filters.trained_trial(old):
                curves.append(Curve(float(old.user_attrs[self.cost_name]), tuple(history), old.number))
        return curves

    def _surplus(self, trial: optuna.Trial, trials: list[FrozenTrial]) -> bool:
        """Whether the trials before this one (among `trials`, the study's) already hold every
        place (another worker started the last one a moment earlier)."""
        return self._tally.taken(trials, before=trial.number) >= self.config.trials

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, float]:
        record = RecordWriter(trial)
        try:
            values = self._run(trial, record)
        except BaseException:
            # What the trial staged goes down with its end (a reason, the overheads); a storage that
            # refuses it (a full disk) must not hide the error that ended the trial.
            with contextlib.suppress(Exception):
                record.flush()
            raise
        record.flush()  # the trial's results: one storage call
        return values

    def _run(self, trial: optuna.Trial, record: RecordWriter) -> float | tuple[float, float]:
        self.stop.check()
        trials = trial.study.get_trials(deepcopy=False)  # read once: the storage walks them all
        if self._surplus(trial, trials):
            record.stage({keys.SURPLUS: True})
            raise SurplusTrialError(f"trial {trial.number}: the study's {self.config.trials} places are taken")
        spec, train_config = self.space.suggest(trial)
        train_config = self.train_config(train_config)
        seed = self.config.seed * 100_003 + trial.number  # distinct per trial, reproducible
        key = budget_key(spec.spec_id, train_config, self.device.type, self.config.precision)
        record.stage({keys.SPEC: spec.to_dict(), keys.SEED: seed, keys.DEVICE: str(self.device),
                      keys.PRECISION: self.config.precision,
                      keys.WORKER: {"host": socket.gethostname(), "pid": os.getpid(), "index": self.config.worker},
                      keys.BUDGET_KEY: key})
        reused = self._reuse(trial, record, key, trials)
        if reused is not None:
            return reused
        recorder = _TrialRecorder(self, trial, record, spec, train_config)
        overheads = Overheads()
        live = LiveProgress(f"trial {trial.number}", None if train_config.seconds else train_config.epochs,
                            train_config.seconds, enabled=self.config.live)
        try:
            # A stop is raised at once while the model builds, trains and evaluates; the
            # callbacks that write to the storage finish first (harness.signals).
            with live, self.stop.interruptible():  # the line is cleared before the trial's own line is printed
                ev = evaluate_spec(spec, self.data, train_config, device=self.device, seed=seed,
                                   on_costs=self.stop.deferred(recorder.on_costs),
                                   on_epoch=self.stop.deferred(recorder.on_epoch), stream=self.stream,
                                   compile=self.config.compile, overheads=overheads,
                                   precision=self.config.precision, shifted=self.shifted, live=live)
        except optuna.TrialPruned:
            record.stage(overheads.columns())
            raise
        except DeviceBrokenError:
            # Not this trial's fault, and every later one would fail the same way: the worker
            # stops (Optuna marks the trial failed, uncounted: a resumed run trains it again).
            raise
        except _Infeasible as err:
            # Recorded with its costs and the reason; complete (not failed), so that the sampler
            # sees the constraint values; its objective value marks it as no good (accuracy 0).
            record.stage({keys.INFEASIBLE: str(err)})
            return self._values(0.0, recorder.costs_row)
        except Exception as err:  # recorded with its reason; the study goes on
            if interrupted_by(err):  # a stop that a library wrapped (an import's RuntimeError): not a failure
                raise KeyboardInterrupt from err
            if disk_fault(err) is not None:
                raise  # a full or read-only disk is not the trial's fault: the search stops, uncounted
            record.stage(overheads.columns())
            reason, trace = describe_failure(err)
            if trace is not None:
                record.stage({keys.TRACEBACK: trace})
            record.stage({keys.FAILURE_REASON: reason})
            raise TrialFailedError(reason)  # noqa: B904 (Optuna records the reason; the cause stays as context)
        # The costs were recorded before training (on_costs); add what training produced.
        results = {**metrics_row(spec, None, ev.result), **overheads.columns()}
        if ev.note:
            results[keys.NOTE] = ev.note
        robust = robust_columns(ev.robust) if ev.robust else {}
        results.update(robust)
        record.stage(results)
        record.stage(catalogue.derived(record.values))  # the catalogue's derived metrics, from all of it
        return self._values(ev.result.metric(self.config.metric), recorder.costs_row, robust.get("robust_accuracy"))


class _TrialRecorder:
    """One trial's record as it trains: its costs before training (checked against the hard
    constraints) and, after each epoch, its learning curve and the pruning decision."""

    def __init__(self, objective: TrialObjective, trial: optuna.Trial, record: RecordWriter, spec: ArchSpec,
                 train_config: TrainConfig) -> None:
        self.objective, self.trial, self.record = objective, trial, record
        self.spec, self.train_config = spec, train_config
        self.history: list[float] = []
        self.curve: list[dict[str, float]] = []
        self.costs_row: dict[str, Any] = {}
        self.constraints_set: set[str] = set()
        self.started = time.time()  # for the deadline: seconds per epoch so far, evaluation included

    def on_costs(self, costs: Costs) -> None:
        """Record the built model's costs; raise _Infeasible when a hard constraint refuses it."""
        trial, constraints = self.trial, self.objective.constraints
        first = not self.costs_row
        self.costs_row.update(metrics_row(self.spec, costs, None))
        # The counted costs go down with what the trial staged before (one storage call); the
        # measured ones (the second call) with the first epoch.
        self.record.stage(self.costs_row)
        if first:
            self.record.flush()
        if constraints.active:
            # Optuna 5's samplers (tpe, nsga2, gp) read these: > 0 is a violation. Each once: the
            # counted bounds come first, the measured ones (latency, memory) with the second call.
            for name, value in constraints.named_violations(costs).items():
                if name not in self.constraints_set:
                    trial.set_constraint(name, value)
                    self.constraints_set.add(name)
        reason = constraints.reason(costs)
        if reason:
            raise _Infeasible(reason)

    def _out_of_time(self, m: EpochMetrics) -> str | None:
        """Why the trial stops here when its next epoch (as long as its epochs so far, with their
        evaluation and the model's set-up) would end after the search's deadline; None otherwise."""
        deadline = self.objective.config.deadline
        now = time.time()
        per_epoch = (now - self.started) / max(1, m.epoch)
        if deadline is None or now + per_epoch <= deadline:
            return None
        return (f"stopped after epoch {m.epoch}: the next epoch (about {per_epoch:.0f} s) would end after the "
                f"search's time is spent")

    def on_epoch(self, m: EpochMetrics) -> None:
        """Record epoch `m`; raise optuna.TrialPruned when the pruner (or the Pareto policy) stops it."""
        objective, trial = self.objective, self.trial
        objective.stop.check()
        value = m.metric(objective.config.metric)  # validation accuracy unless --metric says otherwise
        self.history.append(value)
        self.curve.append(dataclasses.asdict(m))  # epoch, train_loss, val_loss, val_accuracy, seconds
        self.record.write({keys.HISTORY: self.history, keys.CURVE: self.curve, "train_seconds": m.seconds,
                           "epochs": m.epoch})
        # A time budget has no known last epoch: the policies then never see one. Its step is the
        # evaluation's number (one per tenth of the budget, harness.train.loop.EVAL_SLICES): the
        # same share of the budget in every trial, where epoch numbers depend on the network's speed.
        timed = self.train_config.seconds is not None
        step = len(self.history) if timed else m.epoch
        total = step + 1 if timed else self.train_config.epochs
        if step >= total:
            return  # nothing left to save: the trial completes
        reason = self._out_of_time(m)
        if reason is None and not objective.multi:
            trial.report(value, step)
            if trial.should_prune():
                reason = f"pruned after epoch {m.epoch} by the {objective.config.pruner_name()} pruner"
        elif objective.pareto is not None:
            reason = objective.pareto.should_stop(step, total, value,
                                                  float(self.costs_row[objective.cost_name]),
                                                  objective.finished_curves(trial))
        if reason:
            self.record.stage({"accuracy": m.val_accuracy, "val_loss": m.val_loss, keys.PRUNED_REASON: reason})
            raise optuna.TrialPruned(reason)
