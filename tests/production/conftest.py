"""
The production tier: the provider on the topology teams scale out on, all on this machine's loopback.

PostgreSQL as the metadata DB, the CeleryExecutor with a Redis broker and two workers, the
scheduler, the DAG processor, the API server and two triggerers, and the emulator in a process of
its own. ``make test-production`` runs it in the ``production`` profile, after
``scripts/production_services.sh`` installed Debian's PostgreSQL and Redis; elsewhere its tests
are skipped, saying why.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from airflow_stack import CELERY_WORKER, FAKE_AWS, AirflowStack

from .emulator_process import EmulatorProcess
from .services import PostgresServer, RedisServer

SKIP_REASON = (
    "the production tier (PostgreSQL, Celery on Redis, two triggerers) runs with `make test-production`, "
    "which sets ER_PRODUCTION_TIER=1 in its own profile"
)
TRIGGERERS = ("triggerer-a", "triggerer-b")
WORKERS = ("worker-a", "worker-b")
# Task slots per Celery worker: fewer in all than the quota scenario's 10 runs, so a task waiting for
# its turn that held a slot would starve the others.
WORKER_CONCURRENCY = 2


FIGURES = pytest.StashKey[dict[str, dict[str, object]]]()


def record(request: pytest.FixtureRequest, **figures: object) -> None:
    """Keep a test's measured figures (counts, wall times) for the run's summary."""
    request.config.stash.setdefault(FIGURES, {})[request.node.nodeid] = figures


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    figures = config.stash.get(FIGURES, {})
    if figures:
        terminalreporter.section("production tier figures")
        for nodeid, measured in figures.items():
            terminalreporter.write_line(f"{nodeid}: {json.dumps(measured)}")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "production: starts the production topology (PostgreSQL, Celery, Redis, two triggerers)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("ER_PRODUCTION_TIER") == "1":
        return
    for item in items:
        if item.get_closest_marker("production"):
            item.add_marker(pytest.mark.skip(reason=SKIP_REASON))


@dataclass
class Production:
    """
    The running topology.

    :param stack: Airflow's processes on PostgreSQL and Celery.
    :param postgres: the metadata DB's server.
    :param redis: the Celery broker.
    :param emulator: the emulator that ``aws_default`` points at; every job may run beside the others.
    :param quota_emulator: the emulator that ``aws_quota`` points at, with the service's one-job quota.
    :param triggerer_jobs: the ``job`` row of each triggerer, by its name in the layout.
    """

    stack: AirflowStack
    postgres: PostgresServer
    redis: RedisServer
    emulator: EmulatorProcess
    quota_emulator: EmulatorProcess
    triggerer_jobs: dict[str, int]

    def restart_triggerer(self, name: str, check_others: bool = True) -> int:
        """
        Start a replacement for a killed triggerer, and return its new ``job`` row's ID.

        :param check_others: first fail if another process of the stack has exited.
        """
        if check_others:
            self.stack.processes.check_alive(ignoring={name})
        self.triggerer_jobs[name] = self.stack.start_job_process(name, "TriggererJob")
        return self.triggerer_jobs[name]


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Production]:
    """Start everything, for the whole module; stop everything that started, whatever happens."""
    home = Path(tmp_path_factory.mktemp("airflow-home"))
    # Not under pytest's temporary root: that is private to root, and PostgreSQL runs as `postgres`.
    services_root = Path(tempfile.mkdtemp(prefix="er-production-services-"))
    services_root.chmod(0o755)
    postgres = PostgresServer(services_root / "postgres")
    redis = RedisServer(services_root / "redis")
    emulator = EmulatorProcess(home / "emulator.log", concurrency="unlimited")
    quota_emulator = EmulatorProcess(home / "quota-emulator.log", concurrency="reject")
    stack: AirflowStack | None = None
    try:
        postgres.create()
        redis.start()
        emulator.start()
        quota_emulator.start()
        stack = AirflowStack(
            home,
            env_extra={
                "AIRFLOW_CONN_AWS_DEFAULT": emulator.emulator.airflow_connection(),
                "AIRFLOW_CONN_AWS_QUOTA": quota_emulator.emulator.airflow_connection("aws_quota"),
                **FAKE_AWS,
                "AIRFLOW__CELERY__BROKER_URL": redis.url,
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
                "AIRFLOW__CORE__PARALLELISM": "16",
                "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "64",
            },
            database=postgres,
            executor="CeleryExecutor",
            layout={
                "api-server": "api-server",
                "scheduler": "scheduler",
                "dag-processor": "dag-processor",
                **dict.fromkeys(TRIGGERERS, "triggerer"),
                **dict.fromkeys(WORKERS, CELERY_WORKER),
            },
            worker_concurrency=WORKER_CONCURRENCY,
        )
        stack.migrate_db()
        triggerer_jobs = {}
        for name in stack.layout:
            if name in TRIGGERERS:
                triggerer_jobs[name] = stack.start_job_process(name, "TriggererJob", timeout=180)
            else:
                stack.processes.start(name)
        stack.wait_until_healthy(timeout=180)
        yield Production(stack, postgres, redis, emulator, quota_emulator, triggerer_jobs)
    finally:
        if stack is not None:
            stack.stop()
        for service in (quota_emulator, emulator, redis, postgres):
            service.stop()
        shutil.rmtree(services_root, ignore_errors=True)
