"""
The operator under Airflow's own processes: a triggerer SIGKILLed mid-wait, a worker SIGKILLed
after the start, a task cleared or marked failed while deferred.

One Airflow stack (API server, scheduler, DAG processor, triggerer; LocalExecutor on SQLite)
serves the whole module, each test with its own DAG and workflow. The emulator runs in this
process, so each test counts the requests Airflow's processes really sent it.
"""

from __future__ import annotations

import json
import textwrap
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest

from airflow_entityresolution.emulator import EmulatorServer, EntityResolutionEmulator, JobScript, JobSnapshot
from airflow_entityresolution.operators import StartedJobRecord

from .airflow_processes import AirflowStack, wait_for

pytestmark = pytest.mark.e2e

TASK_ID = "map_ids"
WAITER_DELAY = 1
START = "StartIdMappingJob"
GET = "GetIdMappingJob"
# Distinctive, so that finding it in a log can only mean the service's message travelled there.
FAILURE_MESSAGE = "E2E-7f3c: input table e2e_customers has no column named email_address"
LEAK_WORDS = (
    "Unclosed client session",
    "Unclosed connector",
    "Task was destroyed but it is pending",
    "Task exception was never retrieved",
    "was never awaited",
)
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass(frozen=True)
class DagSpec:
    """One test's DAG: a single operator task on its own workflow."""

    dag_id: str
    workflow_name: str
    deferrable: bool
    retries: int = 0
    retry_delay_seconds: int = 0

    def source(self) -> str:
        return textwrap.dedent(
            f"""\
            import datetime

            from airflow.sdk import DAG

            from airflow_entityresolution.operators import EntityResolutionStartIdMappingJobOperator

            with DAG(
                {self.dag_id!r},
                schedule=None,
                start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc),
                catchup=False,
            ):
                EntityResolutionStartIdMappingJobOperator(
                    task_id={TASK_ID!r},
                    workflow_name={self.workflow_name!r},
                    deferrable={self.deferrable!r},
                    waiter_delay={WAITER_DELAY!r},
                    retries={self.retries!r},
                    retry_delay=datetime.timedelta(seconds={self.retry_delay_seconds!r}),
                )
            """
        )


TRIGGERER_KILL_SUCCEEDED = DagSpec("e2e_triggerer_kill_succeeded", "e2e-triggerer-kill-succeeded", True)
TRIGGERER_KILL_FAILED = DagSpec("e2e_triggerer_kill_failed", "e2e-triggerer-kill-failed", True)
WORKER_KILL = DagSpec("e2e_worker_kill", "e2e-worker-kill", False, retries=1, retry_delay_seconds=2)
CLEARED_WHILE_DEFERRED = DagSpec("e2e_cleared_while_deferred", "e2e-cleared-while-deferred", True)
MARKED_FAILED_WHILE_DEFERRED = DagSpec("e2e_marked_failed_while_deferred", "e2e-marked-failed", True)
DAGS = (
    TRIGGERER_KILL_SUCCEEDED,
    TRIGGERER_KILL_FAILED,
    WORKER_KILL,
    CLEARED_WHILE_DEFERRED,
    MARKED_FAILED_WHILE_DEFERRED,
)


@dataclass
class Deployment:
    """The module's Airflow stack and the emulator its ``aws_default`` connection points at."""

    stack: AirflowStack
    emulator: EntityResolutionEmulator
    emulator_port: int

    def run(self, spec: DagSpec, script: JobScript) -> str:
        """Declare the DAG's workflow with ``script``, trigger a run of the DAG, and return its run ID."""
        self.emulator.add_id_mapping_workflow(spec.workflow_name, script)
        return self.stack.trigger_dag(spec.dag_id, f"e2e__{uuid.uuid4().hex[:12]}")

    def wait_for_requests(
        self, operation: str, workflow_name: str, at_least: int, timeout: float = 60
    ) -> int:
        """Wait until the emulator has answered ``at_least`` requests of an operation for a workflow."""
        return wait_for(
            f"{at_least} {operation} requests for {workflow_name}",
            lambda: (count := self.emulator.count(operation, workflow_name)) >= at_least and count,
            timeout,
            interval=0.2,
            hint=self.stack.log_hint(),
        )

    def only_job(self, workflow_name: str) -> JobSnapshot:
        jobs = self.emulator.jobs(workflow_name)
        assert len(jobs) == 1, f"expected exactly one job of {workflow_name}, the emulator has {jobs}"
        return jobs[0]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """
    Start the emulator in this process and Airflow's four processes around it, for the whole module.

    Each test uses its own DAG and workflow, so one stack serves them all: starting one costs
    about 20 s of a 2-core machine, more than most tests.
    """
    # Every job may run beside every other: a test that fails with its job still running must not turn
    # the next test's start into a ConflictException. The one-job quota has tests of its own.
    emulator = EntityResolutionEmulator(concurrency="unlimited")
    with EmulatorServer(emulator) as server:
        home = Path(tmp_path_factory.mktemp("airflow-home"))
        stack = AirflowStack(
            home, env_extra={"AIRFLOW_CONN_AWS_DEFAULT": emulator.airflow_connection(), **FAKE_AWS}
        )
        try:
            for spec in DAGS:
                stack.write_dag_file(f"{spec.dag_id}.py", spec.source())
            stack.migrate_db()
            stack.start_all()
            for spec in DAGS:
                stack.wait_for_dag(spec.dag_id)
            yield Deployment(stack, emulator, server.port)
        finally:
            stack.stop()


def record_key(dag_id: str, run_id: str) -> str:
    """The Variable key under which the operator records the job a try of TASK_ID started."""
    ti = SimpleNamespace(dag_id=dag_id, run_id=run_id, task_id=TASK_ID, map_index=-1)
    return StartedJobRecord.for_task({"ti": ti}).key  # type: ignore[arg-type]


def xcom_value(stack: AirflowStack, dag_id: str, run_id: str, key: str = "return_value") -> object:
    rows = stack.query(
        "SELECT value FROM xcom WHERE dag_id = ? AND run_id = ? AND task_id = ? AND key = ?",
        (dag_id, run_id, TASK_ID, key),
    )
    return json.loads(rows[0][0]) if rows else None


def dag_run_state(stack: AirflowStack, dag_id: str, run_id: str) -> str | None:
    rows = stack.query("SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?", (dag_id, run_id))
    return rows[0][0] if rows else None


def established_connections(processes: list[psutil.Process], port: int) -> list[str]:
    """The open TCP connections from ``processes`` to 127.0.0.1:``port``, described."""
    found = []
    for process in processes:
        try:
            connections = process.net_connections(kind="tcp")
        except psutil.Error:
            continue
        for connection in connections:
            if connection.raddr and connection.raddr.port == port and connection.status == "ESTABLISHED":
                found.append(f"pid {process.pid} {connection.laddr} -> {connection.raddr}")
    return found


def leak_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if any(word in line for word in LEAK_WORDS)]


def kill_triggerer_mid_wait(deployment: Deployment, spec: DagSpec, run_id: str) -> int:
    """
    Once the triggerer is polling the deferred task's job, SIGKILL it (and its trigger runner) and
    start a new one. Returns the number of polls seen up to the kill.
    """
    stack, emulator = deployment.stack, deployment.emulator
    stack.wait_for_task_state(spec.dag_id, run_id, TASK_ID, {"deferred"}, timeout=90)
    # A deferred operator never polls itself, so a Get means the first triggerer really runs the trigger.
    deployment.wait_for_requests(GET, spec.workflow_name, at_least=2)
    assert deployment.only_job(spec.workflow_name).status == "RUNNING", "the kill must interrupt a wait"
    killed = stack.kill("triggerer")
    polls_before_kill = emulator.count(GET, spec.workflow_name)
    assert len(killed) >= 2, f"the triggerer and its trigger runner process, killed: {killed}"
    stack.restart("triggerer")
    return polls_before_kill


@pytest.mark.timeout(240)
def test_a_deferred_wait_survives_a_triggerer_sigkill(deployment: Deployment) -> None:
    spec, stack, emulator = TRIGGERER_KILL_SUCCEEDED, deployment.stack, deployment.emulator
    run_id = deployment.run(spec, JobScript.succeeded({"inputRecords": 42}, running_seconds=25))
    triggerer_before = stack.latest_job_id("TriggererJob")

    polls_before_kill = kill_triggerer_mid_wait(deployment, spec, run_id)

    ti = stack.wait_for_task_state(spec.dag_id, run_id, TASK_ID, {"success"}, timeout=120)
    job = deployment.only_job(spec.workflow_name)
    assert emulator.count(START, spec.workflow_name) == 1
    assert job.status == "SUCCEEDED"
    assert ti.try_number == 1, "the same try resumed from its trigger; no retry was needed"
    assert emulator.count(GET, spec.workflow_name) > polls_before_kill, "the new triggerer polled"
    new_triggerer = stack.latest_job_id("TriggererJob")
    assert new_triggerer is not None and triggerer_before is not None and new_triggerer > triggerer_before
    trigger_log = "".join(
        path.read_text()
        for path in stack.task_log_files(spec.dag_id, run_id, TASK_ID)
        if path.name.endswith(f".trigger.{new_triggerer}.log")
    )
    assert f"{job.job_id}" in trigger_log and "SUCCEEDED" in trigger_log, "the new triggerer saw it end"
    assert xcom_value(stack, spec.dag_id, run_id) == job.job_id
    assert xcom_value(stack, spec.dag_id, run_id, "job_description")["metrics"] == {"inputRecords": 42}


@pytest.mark.timeout(240)
def test_b_a_failed_job_fails_the_task_with_its_message_after_a_triggerer_sigkill(
    deployment: Deployment,
) -> None:
    spec, stack, emulator = TRIGGERER_KILL_FAILED, deployment.stack, deployment.emulator
    run_id = deployment.run(spec, JobScript.failed(FAILURE_MESSAGE, running_seconds=25))

    kill_triggerer_mid_wait(deployment, spec, run_id)

    ti = stack.wait_for_task_state(spec.dag_id, run_id, TASK_ID, {"failed"}, timeout=120)
    job = deployment.only_job(spec.workflow_name)
    assert job.status == "FAILED"
    assert emulator.count(START, spec.workflow_name) == 1
    assert ti.try_number == 1
    # The try's own log (not the trigger's) holds the failure the task ended with.
    task_log = stack.task_log(spec.dag_id, run_id, TASK_ID, attempt=1, triggers=False)
    assert FAILURE_MESSAGE in task_log
    assert "EntityResolutionJobFailedError" in task_log
    assert job.job_id in task_log
    assert xcom_value(stack, spec.dag_id, run_id, "job_description")["status"] == "FAILED"


@pytest.mark.timeout(240)
def test_c_a_retry_after_the_worker_is_sigkilled_takes_over_the_started_job(deployment: Deployment) -> None:
    spec, stack, emulator = WORKER_KILL, deployment.stack, deployment.emulator
    run_id = deployment.run(spec, JobScript.succeeded({"inputRecords": 7}, running_seconds=35))
    key = record_key(spec.dag_id, run_id)
    ti = stack.wait_for_task_state(spec.dag_id, run_id, TASK_ID, {"running"}, timeout=90)
    deployment.wait_for_requests(START, spec.workflow_name, at_least=1)
    # The record is written right after the start returns; kill as soon as it is there.
    wait_for("the started job's record", lambda: key in stack.variable_keys(key), timeout=30, interval=0.1)

    # The supervisor (a LocalExecutor worker process, which heartbeats for the task) and the task
    # runner it forked: both die at once, like a lost worker node, so nobody reports the try's end.
    processes = stack.task_processes(ti.id)
    assert len(processes) == 2, f"expected the supervisor and the task runner, found {processes}"
    assert "LocalExecutor" in " ".join(processes[0].cmdline())
    for process in processes:
        process.kill()
    _, alive = psutil.wait_procs(processes, timeout=10)
    assert not alive
    assert deployment.only_job(spec.workflow_name).status == "RUNNING"

    # The scheduler notices the missing heartbeats, fails try 1 and retries.
    ti = stack.wait_for_task_state(spec.dag_id, run_id, TASK_ID, {"success"}, timeout=150, try_number=2)
    job = deployment.only_job(spec.workflow_name)
    assert emulator.count(START, spec.workflow_name) == 1
    assert job.status == "SUCCEEDED"
    second_try = stack.task_log(spec.dag_id, run_id, TASK_ID, attempt=2)
    assert f"Job {job.job_id} that an earlier try started is RUNNING" in second_try
    assert xcom_value(stack, spec.dag_id, run_id) == job.job_id
    assert key not in stack.variable_keys(key), "the record is removed once the outcome is known"


@pytest.mark.timeout(240)
def test_c_a_task_cleared_while_deferred_takes_over_the_started_job(deployment: Deployment) -> None:
    spec, stack, emulator = CLEARED_WHILE_DEFERRED, deployment.stack, deployment.emulator
    run_id = deployment.run(spec, JobScript.succeeded({"inputRecords": 3}, running_seconds=25))
    stack.wait_for_task_state(spec.dag_id, run_id, TASK_ID, {"deferred"}, timeout=90, try_number=1)
    deployment.wait_for_requests(GET, spec.workflow_name, at_least=1)

    cleared = stack.clear_task(spec.dag_id, run_id, TASK_ID)
    assert [ti["task_id"] for ti in cleared] == [TASK_ID]

    ti = stack.wait_for_task_state(spec.dag_id, run_id, TASK_ID, {"success"}, timeout=150, try_number=2)
    job = deployment.only_job(spec.workflow_name)
    assert emulator.count(START, spec.workflow_name) == 1
    assert job.status == "SUCCEEDED"
    assert ti.try_number == 2
    second_try = stack.task_log(spec.dag_id, run_id, TASK_ID, attempt=2, triggers=False)
    assert f"Job {job.job_id} that an earlier try started is RUNNING" in second_try
    assert xcom_value(stack, spec.dag_id, run_id) == job.job_id


@pytest.mark.timeout(240)
def test_d_marking_a_deferred_task_failed_cancels_its_trigger_cleanly(deployment: Deployment) -> None:
    spec, stack, emulator = MARKED_FAILED_WHILE_DEFERRED, deployment.stack, deployment.emulator
    run_id = deployment.run(spec, JobScript.never_finishing())
    ti = stack.wait_for_task_state(spec.dag_id, run_id, TASK_ID, {"deferred"}, timeout=90)
    trigger_id = ti.trigger_id
    deployment.wait_for_requests(GET, spec.workflow_name, at_least=2)
    # While it waits, the trigger's client keeps a pooled connection to the service open.
    assert wait_for(
        "the triggerer's connection to the emulator",
        lambda: established_connections(stack.process_tree("triggerer"), deployment.emulator_port),
        timeout=10,
        interval=0.2,
    )

    stack.set_task_state(spec.dag_id, run_id, TASK_ID, "failed")

    stack.wait_for_task_state(spec.dag_id, run_id, TASK_ID, {"failed"}, timeout=30)
    wait_for(
        "the trigger to be removed",
        lambda: not stack.query("SELECT id FROM trigger WHERE id = ?", (trigger_id,)),
        timeout=30,
    )
    wait_for(
        "the trigger to be cancelled",
        lambda: "Trigger cancelled by user action" in stack.task_log(spec.dag_id, run_id, TASK_ID),
        timeout=30,
    )
    # No other wait shares the client (each test's run is over), so cancelling this one must close it.
    assert stack.trigger_count() == 0
    wait_for(
        "the triggerer to close its connections to the emulator",
        lambda: not established_connections(stack.process_tree("triggerer"), deployment.emulator_port),
        timeout=10,
        interval=0.2,
        hint=str(established_connections(stack.process_tree("triggerer"), deployment.emulator_port)),
    )
    polls_after_cancel = emulator.count(GET, spec.workflow_name)
    time.sleep(4 * WAITER_DELAY)
    assert emulator.count(GET, spec.workflow_name) == polls_after_cancel, "the cancelled wait still polls"

    assert emulator.count(START, spec.workflow_name) == 1
    assert deployment.only_job(spec.workflow_name).status == "RUNNING", "Airflow cannot stop the job"
    assert wait_for(
        "the run to end failed",
        lambda: dag_run_state(stack, spec.dag_id, run_id) == "failed",
        timeout=30,
    )
    logs = stack.process_log("triggerer") + stack.task_log(spec.dag_id, run_id, TASK_ID)
    assert leak_lines(logs) == []
