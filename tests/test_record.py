"""The trial record written down once (harness.store.record): no module but the record and its two
writers spells out a record key; a metric added to the catalogue alone reaches trials.csv, the
report's tables and figures, and MLflow; a trial's values go down in one transaction on SQLite;
the one set of filters agrees with the figures' counts."""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from pathlib import Path

import optuna
import pandas as pd
import pytest

from harness.data import DataOptions
from harness.store.record import Metric, catalogue, filters, keys, register, unregister, write_attrs

PACKAGE = Path(__file__).resolve().parents[1] / "harness"
RECORD = PACKAGE / "store" / "record"
WRITERS = {PACKAGE / "search" / "objective.py", PACKAGE / "rank" / "run.py"}
GENERIC_KEYS = {value for name, value in vars(keys).items() if name.isupper() and isinstance(value, str)}

SPACE = """\
name: made-up
stem: {width: 8}
stages:
  count: 2
  width: {each: [8, 16]}
  stride: 2
  kernel_size: {choices: [3, 5]}
train: {epochs: 1, batch_size: 128}
"""


def _readers() -> Iterator[Path]:
    for path in sorted(PACKAGE.rglob("*.py")):
        if RECORD not in path.parents and path not in WRITERS:
            yield path


def _attr_key_strings(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Literal strings that index a trial's or a study's attributes: x.user_attrs["k"],
    x.user_attrs.get("k"), "k" in x.user_attrs, x.set_user_attr("k", ...), user_attrs={"k": ...}."""
    def is_attrs(node: ast.AST) -> bool:
        return isinstance(node, ast.Attribute) and node.attr == "user_attrs"

    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and is_attrs(node.value) and isinstance(node.slice, ast.Constant):
            yield node.lineno, node.slice.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            func = node.func
            if ((func.attr == "get" and is_attrs(func.value)) or func.attr == "set_user_attr") and node.args \
                    and isinstance(node.args[0], ast.Constant):
                yield node.lineno, node.args[0].value
            for kw in node.keywords:
                if kw.arg == "user_attrs" and isinstance(kw.value, ast.Dict):
                    yield from ((k.lineno, k.value) for k in kw.value.keys if isinstance(k, ast.Constant))
        elif isinstance(node, ast.Compare) and isinstance(node.left, ast.Constant) \
                and any(is_attrs(c) for c in node.comparators):
            yield node.lineno, node.left.value


def test_no_module_but_the_record_and_its_writers_spells_out_a_record_key() -> None:
    found = []
    for path in _readers():
        tree = ast.parse(path.read_text())
        name = path.relative_to(PACKAGE.parent)
        found += [f"{name}:{node.lineno}: {node.value!r}" for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in keys.MARKERS]
        found += [f"{name}:{line}: user attribute {key!r}" for line, key in _attr_key_strings(tree)]
    assert not found, "record keys outside harness.store.record:\n" + "\n".join(found)


def test_the_ast_check_finds_what_it_looks_for() -> None:
    tree = ast.parse('a = t.user_attrs["spec"]\nb = t.user_attrs.get("seed")\nc = "seed" in t.user_attrs\n'
                     't.set_user_attr("note", 1)\ns.enqueue_trial({}, user_attrs={"warm_start_from": "x"})\n')
    assert [key for _, key in _attr_key_strings(tree)] == ["spec", "seed", "seed", "note", "warm_start_from"]
    assert keys.MARKERS <= GENERIC_KEYS


def test_a_metric_added_to_the_catalogue_alone_reaches_the_table_the_report_and_mlflow(
        tmp_path: Path) -> None:
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    from harness.search.search_config import SearchConfig
    from harness.search.space import load_space
    from harness.search.study import run_search

    made_up = Metric("kparams", "parameters (thousands)", "kparams", "thousands of parameters", unit="1000",
                     direction="min", kind="cost", plot=True, board=True, derive=lambda r: r["params"] / 1000)
    register(made_up)
    try:
        space_file = tmp_path / "space.yaml"
        space_file.write_text(SPACE)
        config = SearchConfig(trials=2, sampler="grid", epochs=1, device="cpu", results_dir=str(tmp_path),
                              study_name="made-up", data_options=DataOptions(train_images=256), mlflow="folder")
        frame = run_search(load_space(space_file), config, progress=None)
    finally:
        unregister("kparams")
    folder = tmp_path / "made-up"
    table = pd.read_csv(folder / "trials.csv")
    done = table[table["state"] == "COMPLETE"]
    assert len(done) == 2 and list(done["kparams"]) == pytest.approx(list(done["params"] / 1000))
    assert table.columns.get_loc("kparams") > table.columns.get_loc("robust_accuracy")  # after the built-in ones
    assert list(frame["kparams"].dropna()) == pytest.approx(list(done["kparams"]))
    board = (folder / "leaderboard.md").read_text()
    header = next(line for line in board.splitlines() if line.startswith("| rank"))
    assert "| kparams |" in header
    page = (folder / "report.html").read_text()
    assert (folder / "plots" / "accuracy_vs_kparams.png").is_file()
    assert "Validation accuracy against parameters (thousands)" in page  # the figure's caption: its label
    client = MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("made-up")
    children = [r for r in client.search_runs([experiment.experiment_id]) if "harness.trial" in r.data.tags]
    assert len(children) == 2
    for run in children:
        assert run.data.metrics["kparams"] == pytest.approx(run.data.metrics["params"] / 1000)


def test_a_metric_name_taken_or_a_record_key_is_refused() -> None:
    from harness.errors import HarnessError

    with pytest.raises(HarnessError, match="'flops' is already in the catalogue"):
        register(Metric("flops", "x"))
    with pytest.raises(HarnessError, match="'curve' is a key of the trial record"):
        register(Metric("curve", "x"))
    with pytest.raises(HarnessError, match="unknown metric 'nope'; valid: accuracy, balanced_accuracy"):
        catalogue.metric("nope")


def test_the_catalogue_holds_every_column_a_trial_writes() -> None:
    """What training and counting produce (harness.train.evaluate.metrics_row) is all in the catalogue."""
    from harness.train.evaluate import metrics_row
    from harness.train.loop import TrainResult
    from harness.zoo.measure import Costs
    from harness.zoo.presets import PRESETS

    spec = PRESETS.get("resnet18")()
    costs = Costs(params=10, flops=20, receptive_field=3, latency_ms=1.0, throughput=2.0, memory=3)
    result = TrainResult(val_accuracy=0.5, val_loss=1.0, train_loss=1.0, train_seconds=1.0)
    row = metrics_row(spec, costs, result)
    assert set(row) <= set(catalogue.columns()), set(row) - set(catalogue.columns())


def _count_commits(storage: optuna.storages.RDBStorage) -> list[int]:
    from sqlalchemy import event

    commits = [0]
    event.listen(storage.engine, "commit", lambda _conn: commits.__setitem__(0, commits[0] + 1))
    return commits


def test_a_trials_values_go_down_in_one_transaction_on_sqlite(tmp_path: Path) -> None:
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'study.db'}")
    study = optuna.create_study(storage=storage, study_name="s")
    trial = study.ask()
    values = {f"value_{i}": i for i in range(30)} | {"curve": [{"epoch": 1, "val_accuracy": 0.5}], "label": "x"}
    commits = _count_commits(storage)
    write_attrs(trial, values)
    assert commits[0] == 1
    write_attrs(trial, values)  # again: the same rows updated, not added
    assert commits[0] == 2
    assert trial.user_attrs == values  # the running trial's own copy
    again = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'study.db'}")
    assert again.trials[0].user_attrs == values  # any Optuna reads the same rows
    write_attrs(trial, {"label": "y"})  # a later value replaces the earlier one
    assert optuna.load_study(study_name="s", storage=storage).trials[0].user_attrs["label"] == "y"


def test_a_trials_values_go_down_in_one_statement_on_postgres(postgres_url: str) -> None:
    storage = optuna.storages.RDBStorage(postgres_url)
    study = optuna.create_study(storage=storage, study_name=f"record{os.getpid()}")
    trial = study.ask()
    values = {f"value_{i}": i for i in range(30)} | {"note": "it's \"quoted\"", "curve": [{"epoch": 1}]}
    commits = _count_commits(storage)
    write_attrs(trial, values)
    write_attrs(trial, {"note": "replaced"})
    assert commits[0] == 2
    again = optuna.load_study(study_name=study.study_name, storage=postgres_url).trials[0].user_attrs
    assert again == values | {"note": "replaced"}
    study.tell(trial, 0.5)
    with pytest.raises(RuntimeError):  # a finished trial is Optuna's to refuse, as for one value
        write_attrs(trial, {"late": 1})


def test_other_storages_get_the_values_one_by_one(tmp_path: Path) -> None:
    from optuna.storages.journal import JournalFileBackend

    journal = optuna.storages.JournalStorage(JournalFileBackend(str(tmp_path / "journal.log")))
    for storage in (journal, None):  # a journal, and an in-memory study
        study = optuna.create_study(storage=storage)
        trial = study.ask()
        write_attrs(trial, {"a": 1, "b": [1, 2]})
        assert study.trials[0].user_attrs == {"a": 1, "b": [1, 2]}


def test_a_search_trial_writes_its_record_in_a_few_transactions(tmp_path: Path) -> None:
    """A trial of one epoch: its identity and costs, its epoch, its results (3 writes), not one per value."""
    from harness.search.search_config import SearchConfig
    from harness.search.space import load_space
    from harness.search.study import run_search

    space_file = tmp_path / "space.yaml"
    space_file.write_text(SPACE)
    config = SearchConfig(trials=1, sampler="grid", epochs=1, device="cpu", results_dir=str(tmp_path),
                          study_name="few", data_options=DataOptions(train_images=256), report=False)
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    commits = [0]  # every engine's commits so far
    attr_writes: list[int] = []  # per statement writing user attributes: the commits before it (its transaction)

    def executed(_conn, _cursor, statement: str, *_args) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith(("INSERT", "UPDATE")) and "trial_user_attributes" in statement:
            attr_writes.append(commits[0])

    def committed(_connection) -> None:  # type: ignore[no-untyped-def]
        commits[0] += 1

    event.listen(Engine, "before_cursor_execute", executed)
    event.listen(Engine, "commit", committed)
    try:
        run_search(load_space(space_file), config, progress=None)
    finally:
        event.remove(Engine, "before_cursor_execute", executed)
        event.remove(Engine, "commit", committed)
    frame = pd.read_csv(tmp_path / "few" / "trials.csv")
    assert frame["state"].tolist() == ["COMPLETE"]
    assert len(set(attr_writes)) == 3  # three transactions: identity + counted costs, epoch 1, the results
    assert len(attr_writes) == 3  # one statement each, whatever the number of values


def test_blank_reasons_are_feasible_in_every_count() -> None:
    from harness.report.plots.style import completed, counts_line, normalise

    frame = pd.DataFrame({"number": [0, 1, 2, 3], "state": ["COMPLETE"] * 4, "accuracy": [0.5, 0.6, 0.0, 0.7],
                          keys.INFEASIBLE: [None, "", "too many FLOPs", " "],
                          keys.REUSED_FROM: [None, None, None, 0]})
    assert filters.infeasible_rows(frame).tolist() == [False, False, True, False]
    assert len(filters.trained(frame)) == 3 and len(filters.first_runs(filters.trained(frame))) == 2
    assert filters.state_counts(frame) == {"COMPLETE": 4, "infeasible": 1, "reused": 1}
    assert completed(frame)["number"].tolist() == [0, 1]
    assert counts_line(normalise(frame)) == "4 trials: 2 completed; 1 infeasible, 1 reused"
