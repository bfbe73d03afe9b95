"""A real PostgreSQL for tests: a throwaway cluster (initdb) in a temp dir, served on a free
loopback port, with one fresh database per test.

initdb and postgres refuse to run as root: as root (these machines), the cluster belongs to
the ``postgres`` system user that Debian's package creates, and its files live in a temp dir
of that user's (pytest's own temp dirs are closed to other users).
"""

from __future__ import annotations

import itertools
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.prometheus_server import ServerProcess, missing_part, tail

INSTALL_HINT = "install Debian's package: apt-get install -y postgresql (or run bash tests/run.sh)"
DRIVER_HINT = "install the test dependencies: .venv/bin/pip install -e '.[dev]'"
USER = "perfbot"  # the cluster's superuser; local connections are trusted
# Speed over durability: the cluster is thrown away after the session.
_SETTINGS = {
    "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
    # An odd session zone, so that times coming back in it must be normalised to UTC.
    "TimeZone": "Pacific/Chatham",
}


@dataclass(frozen=True)
class Binaries:
    initdb: Path
    postgres: Path


def find_binaries() -> Binaries:
    """initdb and postgres (and the psycopg driver), or fail the test under ``CI=true``
    (skip it elsewhere) with the hint."""
    try:
        import psycopg  # noqa: F401  # the tests talk to the server through it
    except ImportError:
        missing_part(f"the psycopg driver is not installed: {DRIVER_HINT}")
    found = {name: shutil.which(name) or _debian_path(name) for name in ("initdb", "postgres")}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        missing_part(f"{' and '.join(missing)} not found: {INSTALL_HINT}")
    return Binaries(initdb=Path(str(found["initdb"])), postgres=Path(str(found["postgres"])))


def _debian_path(name: str) -> str | None:
    """The newest of Debian's /usr/lib/postgresql/VERSION/bin/NAME."""
    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.parts[-3]))

    found = [p for p in Path("/usr/lib/postgresql").glob(f"*/bin/{name}") if os.access(p, os.X_OK)]
    return str(max(found, key=version)) if found else None


class PostgresError(RuntimeError):
    """initdb or start-up failed; the message carries the tool's own output."""


class PostgresServer(ServerProcess):
    """One PostgreSQL cluster on 127.0.0.1 (and a unix socket in its dir).

    ``start`` runs initdb the first time; ``stop`` then ``start`` again is a restart of the
    same cluster, on the same port. ``cleanup`` (or leaving the ``with``) removes it."""

    stop_signal = signal.SIGINT  # a fast shutdown: open connections are cut, as in an outage
    busy_port = "could not bind"

    def __init__(self, binaries: Binaries | None = None) -> None:
        self.binaries = binaries or find_binaries()
        self._owner = _system_user() if os.geteuid() == 0 else None
        self.workdir = Path(tempfile.mkdtemp(prefix="perfbot-pg-"))
        if self._owner is not None:
            os.chown(self.workdir, self._owner.pw_uid, self._owner.pw_gid)
        self.data_dir = self.workdir / "data"
        self.port = 0
        self._log = self.workdir / "postgres.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._databases = itertools.count(1)
        self.init_seconds = 0.0  # initdb's time, measured for the record
        self.start_seconds = 0.0  # the latest start's, until it accepted connections

    def url(self, database: str = "postgres", *, password: str | None = None) -> str:
        """The SQLAlchemy URL of ``database`` (any password is accepted: trust auth)."""
        secret = f":{password}" if password else ""
        return f"postgresql+psycopg://{USER}{secret}@127.0.0.1:{self.port}/{database}"

    @property
    def conninfo(self) -> str:
        return f"host=127.0.0.1 port={self.port} user={USER} dbname=postgres"

    def start(self, ready_timeout: float = 30.0) -> PostgresServer:
        if not self.data_dir.exists():
            began = time.monotonic()
            self._initdb()
            self.init_seconds = time.monotonic() - began
        began = time.monotonic()
        failed = self._launch(ready_timeout)  # on the port it had: a restart of the cluster
        if failed is not None:
            raise PostgresError(f"postgres did not accept connections on port {self.port} {failed}")
        self.start_seconds = time.monotonic() - began
        return self

    def _initdb(self) -> None:
        result = subprocess.run(
            [str(self.binaries.initdb), "-D", str(self.data_dir), "-U", USER, "-A", "trust",
             "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions"],
            capture_output=True, text=True, timeout=120, check=False, **self._as_owner(),
        )
        if result.returncode != 0:
            raise PostgresError(f"initdb failed (exit {result.returncode}):\n"
                                f"{tail(result.stderr + result.stdout)}")

    def _spawn(self) -> None:
        args = [str(self.binaries.postgres), "-D", str(self.data_dir), "-p", str(self.port),
                "-h", "127.0.0.1", "-k", str(self.workdir)]
        for name, value in _SETTINGS.items():
            args += ["-c", f"{name}={value}"]
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, **self._as_owner())

    def _as_owner(self) -> dict[str, Any]:
        """Popen arguments that run the tool as the cluster's owner, from its own dir."""
        options: dict[str, Any] = {"cwd": self.workdir}
        if self._owner is not None:
            options |= {"user": self._owner.pw_uid, "group": self._owner.pw_gid,
                        "extra_groups": []}
        return options

    def _wait_ready(self, timeout: float) -> bool:
        import psycopg

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            try:
                psycopg.connect(self.conninfo, connect_timeout=2).close()
                return True
            except psycopg.OperationalError:  # not listening yet, or still starting up
                time.sleep(0.05)
        return False

    def create_database(self, password: str | None = None) -> str:
        """A new, empty database; its URL."""
        import psycopg

        name = f"t_{next(self._databases)}"
        with psycopg.connect(self.conninfo, autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")  # a generated name: no injection
        return self.url(name, password=password)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()


def _system_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresError(
            "running as root, and there is no 'postgres' user to own the cluster (initdb "
            f"refuses root): {INSTALL_HINT}") from None
