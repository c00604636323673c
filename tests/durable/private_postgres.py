"""A private PostgreSQL cluster for tests that restart the database (never the shared one).

Built from the same Debian packages `scripts/services` installs: ``initdb`` into a temporary
directory owned by the ``postgres`` user, listening on a free loopback port.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"{name} not found: install PostgreSQL with `scripts/services up`")
    return found[-1]


def _runuser() -> str:
    """``runuser`` (in /usr/sbin, which a minimal PATH may lack)."""
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    found = shutil.which("runuser", path=search)
    if found is None:
        raise RuntimeError("runuser not found: it is needed to run initdb as postgres")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateCluster:
    """One throw-away cluster: ``start``, ``restart``, ``stop``; ``url`` to connect."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="momentum-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as_postgres = [_runuser(), "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        self._run(_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as_postgres, *args], check=True, capture_output=True, timeout=120)

    def _ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            _bin("pg_ctl"),
            action,
            "-D",
            str(self.data),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "-l",
            str(self.dir / "log"),
            *extra,
        )

    def start(self) -> None:
        self._ctl("start")

    def restart(self) -> None:
        """Fast shutdown (every connection is cut), then start again and wait until ready."""
        self._ctl("restart", "-m", "fast")

    def stop(self) -> None:
        self._ctl("stop", "-m", "immediate")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
