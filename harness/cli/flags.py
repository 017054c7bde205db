"""The API speaks settings, the command line speaks flags: the one table from a setting (a keyword
of the API, as a library error names it: harness.errors.HarnessError.settings) to the flag that
sets it, and `error_line`, an error worded with the flags of the command that met it.

A setting is mostly the flag's own name (`data_dir` is --data-dir), but not always (`study_name`
is --study), and a command may set it with a flag of its own: the folder a ranking reads is its
--from, the folder `harness train` writes its --out.
"""

from __future__ import annotations

from harness.errors import HarnessError

# Setting -> flag, for every command that has the flag.
FLAGS: dict[str, str] = {
    "alpha": "--alpha",
    "budget_factor": "--budget-factor",
    "candidate": "--candidate",
    "data_dir": "--data-dir",
    "download": "--download",
    "epochs": "--epochs",
    "from_folder": "--from",
    "gpus": "--gpus",
    "max_seeds": "--max-seeds",
    "metric": "--metric",
    "name": "--name",
    "objectives": "--objectives",
    "pareto": "--pareto",
    "patience": "--patience",
    "port": "--port",
    "preset": "--preset",
    "pruner": "--pruner",
    "results_dir": "--results",
    "robustness": "--robustness",
    "sampler": "--sampler",
    "seconds": "--seconds",
    "seeds": "--seeds",
    "spec": "--spec",
    "storage": "--storage",
    "study_name": "--study",
    "top": "--top",
    "train_images": "--train-images",
    "trial": "--trial",
    "trials": "--trials",
    "verify": "--verify",
    "warm_start": "--warm-start",
    "warm_top": "--warm-top",
}

# Command -> the settings its flags name otherwise, or that only it has.
COMMAND_FLAGS: dict[str, dict[str, str]] = {
    "rank": {"folder": "--from", "paths": "--spec"},  # candidates_from_study(folder), ..._from_spec_files(paths)
    "train": {"folder": "--out"},  # train_final(..., folder): the model folder
    "run": {"study_name": "--name"},  # the run's name is its search's study name
}

# Settings of the API that no flag sets: an error names them as the API does, on the command line too.
NO_FLAG = frozenset({"confidence", "loss_epochs"})


def flags_for(command: str | None) -> dict[str, str]:
    """Setting -> flag for `command` (None: the flags every command shares)."""
    return {**FLAGS, **COMMAND_FLAGS.get(command or "", {})}


def error_line(err: HarnessError, command: str | None) -> str:
    """`err`'s message with each setting it names worded as `command`'s flag (--storage, not storage)."""
    return err.worded(flags_for(command))
