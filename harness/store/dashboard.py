"""optuna-dashboard on a study's storage: `dashboard_source` (a results folder or a --storage value
-> the opened storage and what it holds, refusing one without a study) and `DashboardServer`
(optuna-dashboard's WSGI app behind a quiet, threaded wsgiref server on one port).

The dashboard reads the same storage a search writes, so it can watch a search that runs; it
takes no SQLite lock (harness.store.storage.SQLiteLock), which would stop that search.
"""

from __future__ import annotations

import errno
import os
import socket
import socketserver
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import optuna

from harness.errors import HarnessError, InvalidValueError
from harness.store.storage import ENV_STORAGE, StorageRef, open_storage, scrub

INSTALL = "pip install 'harness[dashboard]'"
DEFAULT_HOST = "127.0.0.1"  # loopback: the dashboard can change a study (notes, tell), so not on the network
DEFAULT_PORT = 8080  # optuna-dashboard's own default
URL_PATH = "/dashboard/"  # where optuna-dashboard's pages start (its "/" redirects there)


@dataclass
class DashboardSource:
    """An opened storage for the dashboard: where it is, the Optuna storage, and its studies
    (name -> number of trials), in the storage's order."""

    ref: StorageRef
    storage: optuna.storages.BaseStorage
    studies: dict[str, int]

    @property
    def summary(self) -> str:
        """The studies in words: "study 'tiny' (3 trials)", or several, comma-separated."""
        return ", ".join(f"study {name!r} ({n} trial{'' if n == 1 else 's'})" for name, n in self.studies.items())


def dashboard_source(folder: str | Path, storage: str | None = None) -> DashboardSource:
    """The storage of results folder `folder`: `storage` (a --storage value) when given, else
    $HARNESS_STORAGE, else folder/study.db, else folder/study.journal. HarnessError (one line,
    no password) when there is none, it cannot be opened, or it holds no study."""
    from harness.store.results_folder import folder_storage

    folder = Path(folder)
    storage = storage if storage is not None else os.environ.get(ENV_STORAGE) or None
    if storage is None and not folder.is_dir():
        raise HarnessError(f"{folder}: no such results folder")
    ref = folder_storage(folder, storage)
    if ref is None:
        raise HarnessError(f"{folder}: no study.db or study.journal here, so no study to show "
                           "(trials.csv alone is not a storage); give {storage URL} if it lives elsewhere",
                           settings=("storage",))
    try:
        opened = open_storage(ref, heartbeat=None)  # the dashboard runs no trials: no heartbeats
        studies = {s.study_name: s.n_trials
                   for s in optuna.get_all_study_summaries(opened, include_best_trial=False)}
    except HarnessError:
        raise
    except Exception as err:  # a file that is not a database, a server that went away
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise HarnessError(f"cannot open the storage {ref.display}: {scrub(first, ref.url)}") from None
    if not studies:
        raise HarnessError(f"{ref.display} holds no study yet; run `harness search` into it first")
    return DashboardSource(ref, opened, studies)


class _QuietHandler(WSGIRequestHandler):
    """wsgiref's handler without its line per request, which would bury the URL."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    """wsgiref's server, one thread per request: a browser opens several at once."""

    daemon_threads = True  # an open request does not keep Ctrl-C from ending the process

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):  # a closed browser tab is no error
            super().handle_error(request, client_address)


class _Server6(_Server):
    address_family = socket.AF_INET6


def dashboard_app(storage: optuna.storages.BaseStorage | str) -> Any:
    """optuna-dashboard's WSGI application on `storage`; HarnessError naming the extra to install
    when optuna-dashboard is missing."""
    try:
        import optuna_dashboard
    except ModuleNotFoundError as err:
        raise HarnessError(f"the dashboard needs optuna-dashboard, which is not installed ({err.name} is "
                           f"missing): {INSTALL}") from None
    return optuna_dashboard.wsgi(storage)


class DashboardServer:
    """optuna-dashboard on `storage` at http://HOST:PORT/dashboard/ (port 0: a free one, chosen by
    the system). The port is taken when the server is made, so a port in use is a HarnessError
    before anything is printed; `serve_forever` blocks, `start` serves from a daemon thread."""

    def __init__(self, storage: optuna.storages.BaseStorage | str, host: str = DEFAULT_HOST,
                 port: int = DEFAULT_PORT) -> None:
        if not 0 <= port <= 65535:
            raise InvalidValueError(f"{{port}} must be 0 to 65535 (0: any free port), not {port}", settings=("port",))
        app = dashboard_app(storage)
        server_class = _Server6 if ":" in host else _Server
        try:
            self._server = make_server(host, port, app, server_class=server_class, handler_class=_QuietHandler)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise HarnessError(f"port {port} on {host} is in use (another dashboard?); "
                                   "choose another with {port}", settings=("port",)) from None
            raise HarnessError(f"cannot serve on {host}:{port}: {err.strerror or err}") from None
        self.host = host
        self.port = int(self._server.server_address[1])
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The address of the dashboard's pages (an IPv6 host in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{URL_PATH}"

    def serve_forever(self) -> None:
        """Serve until interrupted (KeyboardInterrupt) or `close`d from another thread."""
        self._server.serve_forever(poll_interval=0.2)  # s between checks for a shutdown request

    def start(self) -> DashboardServer:
        """Serve from a daemon thread (a notebook, a test) and return at once."""
        self._thread = threading.Thread(target=self.serve_forever, name="harness-dashboard", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving (if started with `start`) and free the port."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> DashboardServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
