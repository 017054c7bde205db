"""Everything that reaches a page is escaped: a real Optuna study (SQLite) whose name, parameter
values, labels, notes, failure, pruning and constraint reasons, dataset, command line and space file
hold HTML and script (tests/support/hostile.py), reported by `harness report` and opened in headless
Chromium: no element injected, no script run, a clean console, the literal text on the page; its
trials.csv read back by pandas with the same strings."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from tests.support.browser import check_reads_well, open_page
from tests.support.hostile import SCRIPTS, tree
from tests.support.inprocess import run_cli

IMG, SCRIPT, BOLD, QUOTES = SCRIPTS
STUDY = f"{IMG} {BOLD} {QUOTES}"  # path-safe: no separator
DISTRIBUTIONS = {"activation": CategoricalDistribution([IMG, "relu"]), "kernel_size": IntDistribution(3, 7, step=2)}


def trial(state: TrialState, number: int, activation: str, accuracy: float | None, **attrs: object):  # noqa: ANN201
    """A finished trial as a search records it: parameters, costs, curve, and `attrs`."""
    kernel = 3 + 2 * (number % 3)
    curve = [{"epoch": 1, "train_loss": 1.0, "val_loss": 1.1, "val_accuracy": accuracy or 0.1, "seconds": 1.0}]
    user = {"flops": 1e5 * kernel * (1 + number), "params": 1000 + 100 * number, "label": f"{SCRIPT} k{kernel}",
            "spec_id": f"id{number}", "epochs": 1, "train_seconds": 1.0, "history": [accuracy or 0.1], "curve": curve,
            **({"accuracy": accuracy} if accuracy is not None else {}), **attrs}
    return create_trial(state=state, params={"activation": activation, "kernel_size": kernel},
                        distributions=DISTRIBUTIONS, value=accuracy if state == TrialState.COMPLETE else None,
                        user_attrs=user,
                        intermediate_values={1: accuracy or 0.1} if state == TrialState.PRUNED else None)


def hostile_study(folder: Path, all_failed: bool = False) -> Path:
    """A results folder as a search leaves it, every text in it hostile."""
    folder.mkdir(parents=True)
    study = optuna.create_study(study_name=STUDY, storage=f"sqlite:///{folder / 'study.db'}", direction="maximize")
    study.set_user_attr("fingerprint", {"dataset": f"folder:/data/{IMG}", "epochs": 1, "objectives": "accuracy"})
    if all_failed:
        for reason in SCRIPTS:
            study.add_trial(create_trial(state=TrialState.FAIL, params={"activation": IMG, "kernel_size": 3},
                                         distributions=DISTRIBUTIONS, user_attrs={"failure_reason": reason}))
    else:
        for n in range(6):
            study.add_trial(trial(TrialState.COMPLETE, n, IMG if n % 2 else "relu", 0.5 + 0.05 * n,
                                  **({"note": f"note {IMG}"} if n == 0 else {})))
        study.add_trial(trial(TrialState.PRUNED, 6, IMG, 0.3, pruned_reason=f"pruned {SCRIPT}"))
        study.add_trial(trial(TrialState.COMPLETE, 7, "relu", 0.0, infeasible=f"flops {BOLD} > max"))
        study.add_trial(create_trial(state=TrialState.FAIL, params={"activation": IMG, "kernel_size": 5},
                                     distributions=DISTRIBUTIONS, user_attrs={"failure_reason": f"failed: {IMG}"}))
    run = {"started": "2025-01-01T00:00:00+00:00", "study": STUDY, "trials": 9, "epochs": 1, "seed": 0,
           "command": ["harness", "search", f"{SCRIPT}.yaml", "--study", STUDY, "--dataset", f"folder:/data/{IMG}"],
           "space": f"{SCRIPT}.yaml",
           "dataset": {"ref": f"folder:/data/{IMG}", "summary": f"folder:/data/{IMG}: 24 train / 6 val images",
                       "source": f"/data/{IMG}", "classes": [QUOTES, BOLD, "new\nline"],
                       "augment": {"crop_padding": 1, "flip": True}},
           "device": {"type": "cpu", "name": BOLD}, "versions": {"python": "3.11"}}
    (folder / "run.json").write_text(json.dumps({"runs": [run], "latest": run}))
    (folder / "space.yaml").write_text(f"# {SCRIPT} {IMG}\nstages: {{count: 1, width: 4}}\n")
    return folder


def shown(page: Path, work: Path) -> str:
    """The page opened in Chromium, checked: every image renders (an injected <img src=x> would not),
    a clean console (an injected handler or script would log), no injected element; its visible text."""
    facts = open_page(page, work, ("[onerror]", "body script", "body i"))
    if facts.images:
        check_reads_well(facts)
    else:  # a study whose every trial failed has nothing to plot
        assert not facts.console and facts.scroll_width <= facts.window_width, facts.console
    assert facts.tops["[onerror]"] is None and facts.tops["body script"] is None and facts.tops["body i"] is None
    return " ".join(facts.text.split())


@pytest.mark.parametrize("all_failed", [False, True], ids=["mixed", "all failed"])
def test_a_report_shows_hostile_strings_as_text(all_failed: bool, tmp_path: Path) -> None:
    folder = hostile_study(tmp_path / "results" / STUDY, all_failed)
    before = tree(tmp_path)
    done = run_cli("report", str(folder))
    assert done.returncode == 0, done.stderr
    assert {p for p in tree(tmp_path) - before if not p.startswith(f"results/{STUDY}/")} == set()
    text = shown(folder / "report.html", tmp_path / "browser")
    assert f"Study {STUDY}" in text
    if all_failed:
        assert "Every trial failed" in text
        for reason in SCRIPTS:
            assert reason in text
        return
    for literal in (IMG, f"{SCRIPT} k3", f"folder:/data/{IMG}", QUOTES, f"harness search {SCRIPT}.yaml",
                    f"# {SCRIPT} {IMG}", "new line"):
        assert literal in text, literal
    # trials.csv keeps the same strings, quoted where they need it.
    trials = pd.read_csv(folder / "trials.csv")
    assert trials.loc[trials["number"] == 8, "failure_reason"].item() == f"failed: {IMG}"
    assert trials.loc[trials["number"] == 0, "note"].item() == f"note {IMG}"
    assert trials.loc[trials["number"] == 6, "pruned_reason"].item() == f"pruned {SCRIPT}"
    assert set(trials["activation"]) == {IMG, "relu"} and set(trials["label"].dropna().str[: len(SCRIPT)]) == {SCRIPT}
