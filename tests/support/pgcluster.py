"""A throw-away PostgreSQL server for tests and benchmarks: `temporary_cluster()` makes a cluster
in a temporary folder with Debian's binaries, starts it on loopback with password authentication,
yields its URL and removes it all afterwards."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

PASSWORD = "s3cret-Pw-91x"


def pg_bin() -> Path | None:
    """The folder holding initdb and pg_ctl (the newest Debian version), or None."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").exists() and Path(candidate, "pg_ctl").exists():
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def temporary_cluster(bin_dir: Path | None = None) -> Iterator[str]:
    """A running server's URL (user harness, PASSWORD, database postgres); RuntimeError without
    the binaries."""
    bin_dir = bin_dir or pg_bin()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL's initdb and pg_ctl were not found (apt-get install postgresql)")
    # Not under pytest's temporary folder, which only root may enter.
    root = Path(tempfile.mkdtemp(prefix="harness-pg-"))
    os.chmod(root, 0o755)
    data, pwfile = root / "data", root / "pw"
    pwfile.write_text(PASSWORD + "\n")
    # initdb refuses to run as root: run the server as the postgres user the package creates.
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(root, "postgres")
        shutil.chown(pwfile, "postgres")
    port = _free_port()
    try:
        subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", "harness",
                        "--auth=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8"], check=True, capture_output=True)
        # Enough connections for many workers, each with a pool (SQLAlchemy's default: 5 + 10).
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-l", str(root / "log"), "-o",
                        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=200", "start"],
                       check=True, capture_output=True)
        yield f"postgresql://harness:{PASSWORD}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
