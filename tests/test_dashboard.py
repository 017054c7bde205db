"""`harness dashboard FOLDER`: optuna-dashboard on a real study's storage.

Two tiny real searches (3 trials, 1 epoch on 256 images) make a study in SQLite (one objective)
and one in a journal file (accuracy and FLOPs). `python -m harness dashboard` is started on each
on a loopback port; its JSON API (/api/studies, /api/studies/<id>) must hold the study and every
trial with its state, parameters, values and the user attributes accuracy, flops and params,
equal to what Optuna reads from the storage; SIGTERM ends it with 130 and nothing on stderr.
Refusals (a port in use, a folder without a study, a storage that cannot be opened, no
optuna-dashboard) are one line and exit 2, in this process.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

import optuna
import pytest

from harness.store.dashboard import INSTALL, DashboardServer, dashboard_source
from harness.store.storage import ENV_STORAGE, open_storage, resolve_storage
from tests.support.inprocess import run_cli

SPACE = """
stem: {width: 8}
stages:
  count: 2
  width: {each: [8, 16]}
  stride: 2
  kernel_size: {choices: [3, 5, 7], per_stage: true}
train: {epochs: 1, batch_size: 128}
"""
URL_LINE = re.compile(r"serving at (http://\S+/dashboard/)")
START_TIMEOUT_S = 60  # a Python start with optuna and the dashboard takes 3 to 10 s on 2 busy cores


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Kind ("sqlite", "journal") -> the results folder of a real 3-trial study stored that way."""
    from harness.data import DataOptions
    from harness.search.search_config import SearchConfig
    from harness.search.space import load_space
    from harness.search.study import run_search

    root = tmp_path_factory.mktemp("dashboard")
    space_file = root / "tiny.yaml"
    space_file.write_text(SPACE)
    space = load_space(space_file)
    folders = {}
    for kind, storage, objectives in (("sqlite", None, "accuracy"), ("journal", "journal", "accuracy,flops")):
        config = SearchConfig(trials=3, epochs=1, device="cpu", sampler="random", pruner="none", seed=1,
                              results_dir=str(root / kind), storage=storage, objectives=objectives,
                              report=False, data_options=DataOptions(train_images=256))
        run_search(space, config, progress=None)
        folders[kind] = root / kind / "tiny"
    assert (folders["sqlite"] / "study.db").is_file() and (folders["journal"] / "study.journal").is_file()
    return folders


def _stored_trials(folder: Path, storage: str | None) -> list[optuna.trial.FrozenTrial]:
    ref = resolve_storage(storage, folder)
    return optuna.load_study(study_name="tiny", storage=open_storage(ref, heartbeat=None)).get_trials()


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200
        body = response.read()
    return json.loads(body) if response.headers.get_content_type() == "application/json" else body


def _check_served(base: str, trials: list[optuna.trial.FrozenTrial]) -> None:
    """The dashboard at `base` (http://host:port) holds study 'tiny' with exactly `trials`."""
    summaries = _get(f"{base}/api/studies")["study_summaries"]
    assert [s["study_name"] for s in summaries] == ["tiny"]
    detail = _get(f"{base}/api/studies/{summaries[0]['study_id']}")
    assert detail["name"] == "tiny"
    served = {t["number"]: t for t in detail["trials"]}
    assert sorted(served) == sorted(t.number for t in trials) and len(trials) == 3
    for trial in trials:
        shown = served[trial.number]
        assert shown["state"] == trial.state.name.capitalize()
        assert {p["name"]: p["param_external_value"] for p in shown["params"]} == {
            name: str(value) for name, value in trial.params.items()}
        assert shown.get("values") == trial.values
        attrs = {a["key"]: a["value"] for a in shown["user_attrs"]}
        for key in ("accuracy", "flops", "params"):
            assert float(attrs[key]) == trial.user_attrs[key], key  # str(float) reads back exactly


def _start(folder: Path, *extra: str) -> tuple[subprocess.Popen[str], str, str]:
    """`python -m harness dashboard FOLDER --port 0 EXTRA...`, the URL it printed and its output until then."""
    proc = subprocess.Popen([sys.executable, "-m", "harness", "dashboard", str(folder), "--port", "0", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    watchdog = threading.Timer(START_TIMEOUT_S, proc.kill)  # a server that never prints is killed
    watchdog.start()
    lines = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            found = URL_LINE.search(line)
            if found:
                return proc, found.group(1), "".join(lines)
    finally:
        watchdog.cancel()
    proc.kill()
    raise AssertionError(f"no URL line: {lines} {proc.communicate()}")


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_the_dashboard_serves_every_trial_of_the_study(studies: dict[str, Path], kind: str) -> None:
    folder = studies[kind]
    # SQLite: found in the folder; the journal: named by --storage.
    storage = None if kind == "sqlite" else f"journal:{folder / 'study.journal'}"
    proc, url, head = _start(folder, *([] if storage is None else ["--storage", storage]))
    try:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/dashboard/")
        base = url[: -len("/dashboard/")]
        page = _get(url)
        assert b"<html" in page.lower()
        _check_served(base, _stored_trials(folder, storage))
    finally:
        proc.terminate()  # SIGTERM: a clean stop, as Ctrl-C
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and err == ""
    assert head.startswith("dashboard of ") and "study 'tiny' (3 trials)" in head and out == ""


def test_the_api_finds_a_journal_in_the_folder_and_serves_from_a_thread(studies: dict[str, Path]) -> None:
    folder = studies["journal"]
    source = dashboard_source(folder)
    assert source.ref.kind == "journal" and source.studies == {"tiny": 3}
    with DashboardServer(source.storage, port=0).start() as server:
        assert server.url == f"http://127.0.0.1:{server.port}/dashboard/"
        _check_served(f"http://127.0.0.1:{server.port}", _stored_trials(folder, "journal"))
    with socket.socket() as again:  # closed: nothing listens there (its old connections may linger in TIME_WAIT)
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", server.port))


def _one_line_error(result: Any) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == "" and result.stderr.count("\n") == 1 and result.stderr.startswith("harness: error: ")
    return result.stderr


def test_a_port_in_use_is_one_line(studies: dict[str, Path]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        err = _one_line_error(run_cli("dashboard", str(studies["sqlite"]), "--port", str(port)))
    assert f"port {port} on 127.0.0.1 is in use" in err and "--port" in err


def test_a_folder_without_a_study_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_STORAGE, raising=False)
    assert "no such results folder" in _one_line_error(run_cli("dashboard", str(tmp_path / "nope")))
    (tmp_path / "trials.csv").write_text("number,state\n0,COMPLETE\n")
    assert "no study.db or study.journal here" in _one_line_error(run_cli("dashboard", str(tmp_path)))
    optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'study.db'}")  # the tables, no study
    assert "holds no study" in _one_line_error(run_cli("dashboard", str(tmp_path)))
    missing = _one_line_error(run_cli("dashboard", str(tmp_path), "--storage", f"journal:{tmp_path / 'x.journal'}"))
    assert "no such file" in missing and not (tmp_path / "x.journal").exists()


def test_a_storage_that_cannot_be_opened_keeps_its_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql://harness:pw-Secret-77@127.0.0.1:1/db"  # port 1: refused at once
    for given in ("--storage", "env"):
        if given == "env":
            monkeypatch.setenv(ENV_STORAGE, url)
        err = _one_line_error(run_cli("dashboard", str(tmp_path), *(["--storage", url] if given != "env" else [])))
        assert "postgresql://harness:***@127.0.0.1:1/db" in err and "pw-Secret-77" not in err


def test_without_optuna_dashboard_it_names_the_extra(studies: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "optuna_dashboard", None)  # `import optuna_dashboard` fails
    assert INSTALL in _one_line_error(run_cli("dashboard", str(studies["sqlite"]), "--port", "0"))


def test_a_port_out_of_range_is_one_line(studies: dict[str, Path]) -> None:
    assert "--port must be 0 to 65535" in _one_line_error(run_cli("dashboard", str(studies["sqlite"]),
                                                                  "--port", "70000"))


def test_the_command_is_listed_in_help() -> None:
    out = run_cli("--help")
    assert out.returncode == 0 and "dashboard" in out.stdout
