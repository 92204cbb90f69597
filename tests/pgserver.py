"""A throwaway PostgreSQL server for the tests and the trigger benchmark.

``initdb`` + ``pg_ctl`` in a temporary directory, listening on 127.0.0.1 only,
on a free port, with a password (so tests can check it is never logged) and no
Unix socket. As root (CI), the server runs as the ``postgres`` system user,
because initdb refuses root.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Final

USER: Final = "tickwork"
PASSWORD: Final = "s3cret-Pa55word"  # noqa: S105 - a throwaway test server's


class PostgresUnavailableError(RuntimeError):
    """No PostgreSQL server binaries on this machine (or no way to run them)."""


def find_bindir() -> Path:
    """Where initdb and pg_ctl are: $TICKWORK_PG_BINDIR, PATH, or Debian's place."""
    candidates = []
    if configured := os.environ.get("TICKWORK_PG_BINDIR"):
        candidates.append(Path(configured))
    if on_path := shutil.which("pg_ctl"):
        candidates.append(Path(on_path).parent)

    def version(path: Path) -> int:
        return int(path.parent.name) if path.parent.name.isdigit() else 0

    debian = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(debian, key=version, reverse=True)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    msg = (
        "no PostgreSQL server binaries (initdb, pg_ctl) found on PATH, in "
        "/usr/lib/postgresql/*/bin or in $TICKWORK_PG_BINDIR; install Debian's "
        "'postgresql' package to run these tests"
    )
    raise PostgresUnavailableError(msg)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PostgresServer:
    """One throwaway server: `start`, `stop` (and `start` again), `destroy`."""

    def __init__(self, *, durable: bool = False) -> None:
        """Create the cluster; *durable* keeps fsync on (benchmarks want it)."""
        self.bindir = find_bindir()
        self.as_root = os.geteuid() == 0
        if self.as_root and shutil.which("runuser") is None:
            msg = "running as root needs runuser to start PostgreSQL as 'postgres'"
            raise PostgresUnavailableError(msg)
        self.root = Path(tempfile.mkdtemp(prefix="tickwork-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.durable = durable
        password_file = self.root / "password"
        password_file.write_text(PASSWORD)
        if self.as_root:
            self.root.chmod(0o755)
            shutil.chown(self.root, "postgres")
            shutil.chown(password_file, "postgres")
        self._pg(
            "initdb",
            "--pgdata",
            str(self.data),
            "--username",
            USER,
            f"--pwfile={password_file}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--no-sync",
        )

    @property
    def dsn(self) -> str:
        """A URI with the password in it, as users write one."""
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        """Start (or restart) the server on the same port; wait until it accepts."""
        options = [
            f"-p {self.port}",
            "-c listen_addresses=127.0.0.1",
            "-c unix_socket_directories=''",
            "-c max_connections=100",
        ]
        if not self.durable:
            options += ["-c fsync=off", "-c synchronous_commit=off"]
        self._pg(
            "pg_ctl",
            "start",
            "--wait",
            "--timeout=60",
            "--pgdata",
            str(self.data),
            "--log",
            str(self.log),
            "-o",
            " ".join(options),
        )

    @property
    def running(self) -> bool:
        """Whether the server's pid file is there (it was started, not stopped)."""
        return (self.data / "postmaster.pid").exists()

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: *fast* disconnects clients, as an outage does."""
        self._pg("pg_ctl", "stop", "--wait", "--pgdata", str(self.data), "-m", mode)

    def destroy(self) -> None:
        """Stop the server if it runs and delete its files."""
        if self.running:
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def version(self) -> str:
        """The server's major version, from its binaries."""
        out = subprocess.run(  # noqa: S603 - our own argument list
            [str(self.bindir / "pg_ctl"), "--version"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        found = re.search(r"[0-9]+(\.[0-9]+)?", out)
        return found.group(0) if found else out.strip()

    def _pg(self, program: str, *args: str) -> None:
        command = [str(self.bindir / program), *args]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(  # noqa: S603 - our own argument list
            command, capture_output=True, text=True, check=False, cwd=self.root
        )
        if done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            msg = (
                f"{program} failed ({done.returncode}): {done.stderr}{done.stdout}{log}"
            )
            raise PostgresUnavailableError(msg)
