"""`harness dashboard FOLDER`: optuna-dashboard on a study's storage, served until Ctrl-C; thin
over harness.store.dashboard, imported when run (the CLI starts without it)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from harness.cli.console import EXIT_INTERRUPTED, quiet_optuna, say


def cmd_dashboard(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """`harness dashboard`: open the folder's storage, take the port, print the URL, serve until
    Ctrl-C or kill (exit 130, quietly: nothing is left unsaved)."""
    from harness.signals import StopOnSignal
    from harness.store.dashboard import DashboardServer, dashboard_source

    quiet_optuna()
    source = dashboard_source(args.folder, args.storage)
    server = DashboardServer(source.storage, host=args.host, port=args.port)
    try:
        with StopOnSignal(immediate=True):  # it only waits; from before the URL, so a kill right after is clean
            say(f"dashboard of {source.ref.display}: {source.summary}")
            say(f"serving at {server.url} (Ctrl-C stops it)")
            server.serve_forever()
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    finally:
        server.close()
    return 0
