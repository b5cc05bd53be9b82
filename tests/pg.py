"""A PostgreSQL server for the tests: the one named by ``MODELTOWER_TEST_DATABASE_URL``, or a
throw-away cluster started with the PostgreSQL binaries (``initdb``, ``pg_ctl``) found on PATH or
under /usr/lib/postgresql/*/bin. Every test gets a database of its own.

Without either, the PostgreSQL tests fail (they are never skipped) and say how to get a server.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from modeltower.testing import free_port

ENV_URL = "MODELTOWER_TEST_DATABASE_URL"
_INSTALL_HINT = (
    "The PostgreSQL tests need a PostgreSQL server: set MODELTOWER_TEST_DATABASE_URL to a "
    "server URL whose user may create databases (postgresql://user:pass@host:5432/postgres), "
    "or install the PostgreSQL server binaries (Debian: `apt-get install postgresql`) so that "
    "the tests start a throw-away cluster with initdb and pg_ctl."
)


class PostgresUnavailable(RuntimeError):
    """Neither a server URL nor PostgreSQL binaries: the tests cannot run."""


def find_bindir() -> str | None:
    """The directory holding initdb and pg_ctl, or None."""
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return str(Path(initdb).parent)
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(os.path.join(d, "initdb"), os.X_OK) and os.access(
            os.path.join(d, "pg_ctl"), os.X_OK
        ):
            return d
    return None


class Cluster:
    """A throw-away cluster in a temporary directory, listening on a unix socket there."""

    def __init__(self, bindir: str) -> None:
        self.bindir = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="modeltower-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self._prefix: list[str] = []
        self.user = pwd.getpwuid(os.getuid()).pw_name
        if os.getuid() == 0:
            # initdb refuses to run as root: the cluster belongs to an unprivileged user.
            self.user = "postgres"
            try:
                pwd.getpwnam(self.user)
            except KeyError:
                subprocess.run(
                    [
                        "useradd",
                        "--system",
                        "--no-create-home",
                        "--shell",
                        "/bin/false",
                        "postgres",
                    ],
                    check=True,
                    capture_output=True,
                )
            shutil.chown(self.dir, self.user, self.user)
            self._prefix = ["runuser", "-u", self.user, "--"]

    def _run(self, *args: str) -> None:
        proc = subprocess.run(
            [*self._prefix, *args], capture_output=True, text=True, cwd=str(self.dir)
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {proc.stdout}\n{proc.stderr}")

    def start(self) -> str:
        self._run(
            os.path.join(self.bindir, "initdb"),
            "-D",
            str(self.data),
            "-U",
            self.user,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        self.start_server()
        atexit.register(self.stop)
        return f"postgresql://{quote(self.user)}@/postgres?host={quote(str(self.dir))}&port={self.port}"

    def start_server(self) -> None:
        """Start the (initialised) cluster's server; also after :meth:`stop_server`."""
        options = (
            f"-c listen_addresses='' -c unix_socket_directories='{self.dir}' -p {self.port} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=400 -c shared_buffers=128MB"
        )
        self._run(
            os.path.join(self.bindir, "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.dir / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop_server(self, mode: str = "fast") -> None:
        """``pg_ctl stop -m MODE``, keeping the data (a restart test starts it again)."""
        self._run(
            os.path.join(self.bindir, "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"
        )

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run(
                os.path.join(self.bindir, "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"
            )
        shutil.rmtree(self.dir, ignore_errors=True)


class Server:
    """A PostgreSQL server the tests may create databases on."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url

    def _admin(self) -> psycopg.Connection:
        return psycopg.connect(self.admin_url, autocommit=True)

    def url_of(self, name: str) -> str:
        """The server's URL with another database name."""
        return urlunsplit(urlsplit(self.admin_url)._replace(path="/" + quote(name)))

    def create_database(self) -> str:
        """A new, empty database; returns its connection URL."""
        name = f"mt_test_{uuid.uuid4().hex[:16]}"
        with self._admin() as con:
            con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url_of(name)

    def drop_database(self, url: str) -> None:
        name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
        with contextlib.suppress(psycopg.Error), self._admin() as con:
            con.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(str(name)))
            )


_server: Server | None = None
_lock = threading.Lock()


def server() -> Server:
    """The tests' PostgreSQL server (started on first use, for the whole session)."""
    global _server
    with _lock:
        if _server is None:
            url = os.environ.get(ENV_URL)
            if url and not url.startswith(("postgresql://", "postgres://")):
                raise PostgresUnavailable(f"{ENV_URL} must be a postgresql:// URL")
            if not url:
                bindir = find_bindir()
                if bindir is None:
                    raise PostgresUnavailable(_INSTALL_HINT)
                url = Cluster(bindir).start()
            try:
                psycopg.connect(url, connect_timeout=10).close()
            except psycopg.Error as exc:
                raise PostgresUnavailable(
                    f"cannot connect to {url}: {exc}\n{_INSTALL_HINT}"
                ) from exc
            _server = Server(url)
        return _server
