"""
Private PostgreSQL and Redis servers for the production tier, on loopback and free ports.

Debian's packages provide the binaries (``scripts/production_services.sh`` installs them); each
server here runs from a directory of its own that the harness creates, and :meth:`stop` ends it
whatever state it is in. The system's own services, if any, are never touched.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from airflow_stack import StackError, end_process_group, free_port, wait_for

POSTGRES_USER = "postgres"


def postgres_bin() -> Path:
    """The newest PostgreSQL server binaries Debian installed."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda path: int(path.parts[-3]))
    if not found:
        raise StackError("No PostgreSQL server under /usr/lib/postgresql: run scripts/production_services.sh")
    return found[-1].parent


def as_postgres(command: list[str]) -> list[str]:
    """The command run as the ``postgres`` user: PostgreSQL refuses to run as root."""
    return ["runuser", "-u", POSTGRES_USER, "--", *command] if os.geteuid() == 0 else command


@dataclass
class PostgresServer:
    """
    A PostgreSQL cluster of its own, with one database for Airflow, owned by a password-protected role.

    :param root: a directory the harness owns; the cluster's data, socket and log go inside it.
    """

    root: Path
    port: int = field(default_factory=free_port)
    database: str = "airflow"
    role: str = "airflow"
    # Generated, never printed: only the connection URL carries it, to Airflow's processes.
    password: str = field(default_factory=lambda: secrets.token_hex(16), repr=False)

    @property
    def data_dir(self) -> Path:
        return self.root / "pgdata"

    @property
    def socket_dir(self) -> Path:
        return self.root / "pgsocket"

    @property
    def log_path(self) -> Path:
        return self.root / "postgresql.log"

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of Airflow's database."""
        return (
            f"postgresql+psycopg2://{self.role}:{urllib.parse.quote(self.password)}"
            f"@127.0.0.1:{self.port}/{self.database}"
        )

    def _run(self, command: list[str], timeout: float = 120) -> None:
        result = subprocess.run(
            as_postgres(command), capture_output=True, text=True, timeout=timeout, check=False, cwd="/"
        )
        if result.returncode != 0:
            raise StackError(
                f"{Path(command[0]).name} exited {result.returncode}: {result.stderr[-2000:]} "
                f"(log: {self.log_path})"
            )

    def create(self) -> None:
        """``initdb`` a new cluster owned by ``postgres``, reachable on 127.0.0.1 only, with password auth."""
        user = pwd.getpwnam(POSTGRES_USER) if os.geteuid() == 0 else None
        self.root.mkdir(parents=True, exist_ok=True)
        # The postgres user must reach its directories through ours.
        self.root.chmod(0o755)
        for directory in (self.data_dir, self.socket_dir):
            directory.mkdir(mode=0o700)
            if user is not None:
                os.chown(directory, user.pw_uid, user.pw_gid)
        self.log_path.touch()
        if user is not None:
            os.chown(self.log_path, user.pw_uid, user.pw_gid)
        self._run(
            [
                str(postgres_bin() / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                POSTGRES_USER,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-sync",
            ]
        )
        # Enough connections for every Airflow process's pool and the Celery workers' result backend.
        settings = (
            f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
            f"unix_socket_directories = '{self.socket_dir}'\nmax_connections = 300\n"
            "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
        )
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(settings)
        self.start()
        # The role's password travels in SQL on the local socket, never on a command line.
        self.psql(f"CREATE ROLE {self.role} LOGIN PASSWORD '{self.password}'")
        self.psql(f"CREATE DATABASE {self.database} OWNER {self.role}")

    def psql(self, sql: str) -> None:
        """Run SQL as the superuser over the cluster's socket; the SQL goes on stdin, out of ``ps``."""
        command = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(self.socket_dir)]
        command += ["-p", str(self.port), "-U", POSTGRES_USER, "-d", "postgres"]
        result = subprocess.run(
            as_postgres(command), input=sql, capture_output=True, text=True, timeout=60, check=False, cwd="/"
        )
        if result.returncode != 0:
            raise StackError(f"psql exited {result.returncode}: {result.stderr[-500:]}")

    def start(self) -> None:
        """Start the server and return once it takes connections."""
        self._run(
            [
                str(postgres_bin() / "pg_ctl"),
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_path),
            ]
        )

    def restart(self, down_for: float = 0) -> None:
        """
        Stop the server fast (every client's connection is cut), keep it down ``down_for`` seconds, and
        start it again.
        """
        self._run(
            [str(postgres_bin() / "pg_ctl"), "stop", "-w", "-t", "60", "-m", "fast", "-D", str(self.data_dir)]
        )
        time.sleep(down_for)
        self.start()

    def postmaster(self) -> psutil.Process | None:
        """The server's main process, from its pid file, if it runs."""
        with contextlib.suppress(OSError, ValueError, psutil.Error):
            pid = int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])
            process = psutil.Process(pid)
            if process.is_running():
                return process
        return None

    def stop(self) -> None:
        """Stop the server if it runs: ``pg_ctl stop -m immediate``, then SIGKILL whatever is left."""
        process = self.postmaster()
        if process is None:
            return
        with contextlib.suppress(StackError, subprocess.TimeoutExpired):
            self._run(
                [str(postgres_bin() / "pg_ctl"), "stop", "-m", "immediate", "-D", str(self.data_dir)], 30
            )
        with contextlib.suppress(psutil.Error):
            tree = [process, *process.children(recursive=True)]
            for member in tree:
                with contextlib.suppress(psutil.Error):
                    member.kill()
            psutil.wait_procs(tree, timeout=10)

    def query(self, sql: str, parameters: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        """Run a read-only query on Airflow's database, its parameters written ``?`` as for SQLite."""
        import psycopg2

        connection = psycopg2.connect(
            host="127.0.0.1",
            port=self.port,
            dbname=self.database,
            user=self.role,
            password=self.password,
            connect_timeout=10,
        )
        try:
            connection.set_session(readonly=True, autocommit=True)
            with connection.cursor() as cursor:
                cursor.execute(sql.replace("?", "%s"), tuple(parameters))
                return cursor.fetchall()
        finally:
            connection.close()


@dataclass
class RedisServer:
    """
    A Redis server of its own, on 127.0.0.1, in memory only: the Celery broker.

    :param root: a directory the harness owns, for the server's log.
    """

    root: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.root / "redis.log"

    def start(self) -> None:
        """Start the server in its own process group and return once it answers PING."""
        executable = shutil.which("redis-server")
        if executable is None:
            raise StackError("No redis-server on PATH: run scripts/production_services.sh")
        self.root.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    executable,
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.root),
                    "--daemonize",
                    "no",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        def answers() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise StackError(f"redis-server exited {self.process.returncode}; see {self.log_path}")
            import redis

            with contextlib.suppress(redis.RedisError):
                return bool(redis.Redis(port=self.port, socket_timeout=2).ping())
            return False

        wait_for("Redis to answer PING", answers, timeout=30, interval=0.2, hint=f"Log: {self.log_path}")

    def stop(self) -> None:
        """End the server's process group: SIGTERM, then SIGKILL."""
        end_process_group(self.process)
