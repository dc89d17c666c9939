"""
The operator under Airflow's own processes: a triggerer SIGKILLed mid-wait, a worker SIGKILLed
after the start (and, a known gap, during it), a task cleared or marked failed while deferred.

One Airflow stack (API server, scheduler, DAG processor, triggerer; LocalExecutor on SQLite)
serves the whole module, each test with its own DAG, run and workflow. The emulator runs in this
process, so each test counts the requests Airflow's processes really sent it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import psutil
import pytest
from airflow_stack import (
    FAKE_AWS,
    NO_WORKER,
    TERMINAL_TASK_STATES,
    AirflowStack,
    StackError,
    dag_file_source,
    fake_client_arguments,
    running_stack,
    wait_for,
)

from airflow_entityresolution.compat import TRIGGERER_RENDERS_TEMPLATES
from airflow_entityresolution.emulator import (
    EmulatorServer,
    EntityResolutionEmulator,
    Fault,
    JobScript,
    JobSnapshot,
)

from .records import started_job_record_key

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
# Jobs run until the test ends them with `finish_job` once the point under test is reached: the
# outcome is scripted, but the timing is not left to chance on a loaded machine.
LONG = 600.0


class DuplicateStartError(AssertionError):
    """The emulator saw a second StartIdMappingJob for one task instance."""


@dataclass(frozen=True)
class DagSpec:
    """One test's DAG: a single operator task on its own workflow."""

    dag_id: str
    workflow_name: str
    deferrable: bool
    retries: int = 0
    retry_delay_seconds: int = 0

    def source(self) -> str:
        return dag_file_source(
            self.dag_id,
            "from airflow_entityresolution.operators import EntityResolutionStartIdMappingJobOperator",
            f"""
            EntityResolutionStartIdMappingJobOperator(
                task_id={TASK_ID!r},
                workflow_name={self.workflow_name!r},
                deferrable={self.deferrable!r},
                waiter_delay={WAITER_DELAY!r},
                retries={self.retries!r},
                retry_delay=datetime.timedelta(seconds={self.retry_delay_seconds!r}),
            )
            """,
        )


TRIGGERER_KILL_SUCCEEDED = DagSpec("e2e_triggerer_kill_succeeded", "e2e-triggerer-kill-succeeded", True)
TRIGGERER_KILL_FAILED = DagSpec("e2e_triggerer_kill_failed", "e2e-triggerer-kill-failed", True)
WORKER_KILL = DagSpec("e2e_worker_kill", "e2e-worker-kill", False, retries=1, retry_delay_seconds=2)
WORKER_KILL_START_IN_FLIGHT = DagSpec(
    "e2e_worker_kill_start_in_flight",
    "e2e-worker-kill-start-in-flight",
    False,
    retries=1,
    retry_delay_seconds=2,
)
CLEARED_WHILE_DEFERRED = DagSpec("e2e_cleared_while_deferred", "e2e-cleared-while-deferred", True)
MARKED_FAILED_WHILE_DEFERRED = DagSpec("e2e_marked_failed_while_deferred", "e2e-marked-failed", True)


@dataclass(frozen=True)
class SensorFromTriggererSpec:
    """A matching-job sensor that starts in the triggerer, its workflow and job given as run conf."""

    dag_id: str = "e2e_sensor_from_triggerer"

    def source(self) -> str:
        return dag_file_source(
            self.dag_id,
            "from airflow_entityresolution.sensors import EntityResolutionMatchingJobCompletedSensor",
            f"""
            EntityResolutionMatchingJobCompletedSensor(
                task_id={TASK_ID!r},
                workflow_name="{{{{ params.workflow }}}}",
                job_id="{{{{ params.job_id }}}}",
                start_from_trigger=True,
                max_records_not_processed=0.1,
                poke_interval=1,
                timeout=300,
            )
            """,
            params={"workflow": "unset", "job_id": "unset"},
        )


SENSOR_FROM_TRIGGERER = SensorFromTriggererSpec()
DAGS = (
    SENSOR_FROM_TRIGGERER,
    TRIGGERER_KILL_SUCCEEDED,
    TRIGGERER_KILL_FAILED,
    WORKER_KILL,
    WORKER_KILL_START_IN_FLIGHT,
    CLEARED_WHILE_DEFERRED,
    MARKED_FAILED_WHILE_DEFERRED,
)


@dataclass
class Deployment:
    """The module's Airflow stack and the emulator its ``aws_default`` connection points at."""

    stack: AirflowStack
    emulator: EntityResolutionEmulator
    emulator_port: int
    runs: list[tuple[DagSpec, str]] = field(default_factory=list)

    def run(self, spec: DagSpec, script: JobScript) -> str:
        """Declare the DAG's workflow with ``script``, trigger a run of the DAG, and return its run ID."""
        self.emulator.add_id_mapping_workflow(spec.workflow_name, script)
        run_id = self.stack.api.trigger_dag(spec.dag_id, f"e2e__{uuid.uuid4().hex[:12]}")
        self.runs.append((spec, run_id))
        return run_id

    def wait_for_requests(
        self, operation: str, workflow_name: str, at_least: int, timeout: float = 60
    ) -> int:
        """Wait until the emulator has answered ``at_least`` requests of an operation for a workflow."""
        return wait_for(
            f"{at_least} {operation} requests for {workflow_name}",
            lambda: (count := self.emulator.count(operation, workflow_name)) >= at_least and count,
            timeout,
            interval=0.2,
            hint=self.stack.logs.hint(),
        )

    def only_job(self, workflow_name: str) -> JobSnapshot:
        jobs = self.emulator.jobs(workflow_name)
        assert len(jobs) == 1, f"expected exactly one job of {workflow_name}, the emulator has {jobs}"
        return jobs[0]

    def wait_for_takeover(self, spec: DagSpec, run_id: str, attempt: int, job_id: str) -> None:
        """Wait until try ``attempt`` logs that it took over ``job_id``; fail at once on a second start."""
        words = f"Job {job_id} that an earlier try started is RUNNING: taking it over"

        def took_over() -> bool:
            if self.emulator.count(START, spec.workflow_name) != 1:
                raise DuplicateStartError(
                    f"try {attempt} started another job: {self.emulator.jobs(spec.workflow_name)}"
                )
            return words in self.stack.logs.task_log(
                spec.dag_id, run_id, TASK_ID, attempt=attempt, triggers=False
            )

        wait_for(
            f"try {attempt} to take over job {job_id}", took_over, timeout=120, hint=self.stack.logs.hint()
        )

    def wait_until_deferred_settles(self, spec: DagSpec, run_id: str, try_number: int) -> None:
        """
        Wait until a try is deferred and the scheduler has drained the executor event of its worker's exit.

        Airflow 3.3's scheduler fails a resumed task if its trigger fires, and the task is queued
        again, before that event is drained: it takes the event for an external kill
        (apache/airflow#67287, #72716; 3.3.2 guards only the ``scheduled`` state). A job that the
        test ends right after a deferral would make the trigger fire that early.
        """
        self.stack.wait_for_task_state(
            spec.dag_id, run_id, TASK_ID, {"deferred"}, timeout=90, try_number=try_number
        )
        wait_for(
            f"the scheduler to process the deferral of try {try_number}",
            lambda: self.stack.logs.executor_events(spec.dag_id, run_id, TASK_ID, try_number) >= 1,
            timeout=60,
            hint=self.stack.logs.hint(),
        )

    def clean_up(self) -> None:
        """Fail what a test left waiting, and end its jobs, so that the next test starts from quiet."""
        for spec, run_id in self.runs:
            ti = self.stack.db.task_instance(spec.dag_id, run_id, TASK_ID)
            if ti is not None and ti.state not in TERMINAL_TASK_STATES:
                self.stack.api.set_task_state(spec.dag_id, run_id, TASK_ID, "failed")
            for job in self.emulator.jobs(spec.workflow_name):
                if job.status not in ("SUCCEEDED", "FAILED"):
                    self.emulator.finish_job(job.job_id)
        self.runs.clear()


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
    home = Path(tmp_path_factory.mktemp("airflow-home"))
    dags = {spec.dag_id: spec.source() for spec in DAGS}
    with EmulatorServer(emulator) as server:
        env = {"AIRFLOW_CONN_AWS_DEFAULT": emulator.airflow_connection(), **FAKE_AWS}
        with running_stack(home, env, dags) as stack:
            yield Deployment(stack, emulator, server.port)


@pytest.fixture
def e2e(deployment: Deployment) -> Iterator[Deployment]:
    """The module's deployment, cleaned up after each test whatever the test's outcome."""
    yield deployment
    deployment.clean_up()


START_FROM_TRIGGER_SKIP_REASON = (
    "starting a sensor in the triggerer needs Airflow 3.3, which renders templates there"
)

# The provider's own line, in every Airflow: 3.0 to 3.2 log nothing when they cancel a trigger.
CANCELLED_LINE = "the triggerer cancelled the wait"


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


def kill_triggerer_mid_wait(e2e: Deployment, spec: DagSpec, run_id: str) -> str:
    """
    Once the triggerer polls the deferred task's job, SIGKILL it and its trigger runner, start a new
    triggerer, and wait until that one polls the job. Returns the job's ID.
    """
    stack, emulator = e2e.stack, e2e.emulator
    e2e.wait_until_deferred_settles(spec, run_id, try_number=1)
    # A deferred operator never polls itself, so a Get means the first triggerer really runs the trigger.
    e2e.wait_for_requests(GET, spec.workflow_name, at_least=2)
    job = e2e.only_job(spec.workflow_name)
    assert job.status == "RUNNING"

    killed = stack.processes.kill("triggerer")
    assert len(killed) >= 2, f"the triggerer and its trigger runner process, killed: {killed}"
    polls_before_kill = emulator.count(GET, spec.workflow_name)
    stack.processes.restart("triggerer")

    # Airflow hands the dead triggerer's triggers to the new one once its heartbeat is stale.
    e2e.wait_for_requests(GET, spec.workflow_name, at_least=polls_before_kill + 1, timeout=90)
    assert stack.db.task_instance(spec.dag_id, run_id, TASK_ID).state == "deferred"
    return job.job_id


def kill_worker(stack: AirflowStack, ti_id: str) -> None:
    """
    SIGKILL the supervisor (a LocalExecutor worker process, which heartbeats for the task) and the task
    runner it forked, both at once, like a lost worker node: nobody reports how the try ended.
    """
    processes = stack.processes.task_processes(ti_id)
    if len(processes) != 2 or "LocalExecutor" not in " ".join(processes[0].cmdline()):
        raise StackError(f"expected the supervisor and the task runner of {ti_id}, found {processes}")
    for process in processes:
        process.kill()
    _, alive = psutil.wait_procs(processes, timeout=10)
    if alive:
        raise StackError(f"{alive} survived SIGKILL")


@pytest.mark.timeout(240)
def test_a_deferred_wait_survives_a_triggerer_sigkill(e2e: Deployment) -> None:
    spec, stack, emulator = TRIGGERER_KILL_SUCCEEDED, e2e.stack, e2e.emulator
    metrics = {"inputRecords": 42, "totalMappedRecords": 40}
    run_id = e2e.run(spec, JobScript.succeeded(metrics, running_seconds=LONG))
    triggerer_before = stack.db.latest_job_id("TriggererJob")

    job_id = kill_triggerer_mid_wait(e2e, spec, run_id)
    new_triggerer = stack.db.latest_job_id("TriggererJob")
    emulator.finish_job(job_id, "SUCCEEDED")

    ti = stack.wait_for_task_state(spec.dag_id, run_id, TASK_ID, {"success"}, timeout=90)
    assert emulator.count(START, spec.workflow_name) == 1
    assert e2e.only_job(spec.workflow_name).status == "SUCCEEDED"
    assert ti.try_number == 1, "the same try resumed from its trigger; no retry was needed"
    assert new_triggerer is not None and triggerer_before is not None and new_triggerer > triggerer_before
    trigger_log = stack.logs.trigger_log(spec.dag_id, run_id, TASK_ID, new_triggerer)
    assert f"{job_id} of workflow '{spec.workflow_name}' is SUCCEEDED" in trigger_log
    assert stack.db.xcom_value(spec.dag_id, run_id, TASK_ID) == job_id
    # Final metrics appear only once the job ended: the task got the new triggerer's last poll.
    assert stack.db.xcom_value(spec.dag_id, run_id, TASK_ID, "job_description")["metrics"] == metrics


@pytest.mark.timeout(240)
def test_b_a_failed_job_fails_the_task_with_its_message_after_a_triggerer_sigkill(e2e: Deployment) -> None:
    spec, stack, emulator = TRIGGERER_KILL_FAILED, e2e.stack, e2e.emulator
    run_id = e2e.run(spec, JobScript.failed(FAILURE_MESSAGE, running_seconds=LONG))

    job_id = kill_triggerer_mid_wait(e2e, spec, run_id)
    emulator.finish_job(job_id, "FAILED")  # with the scripted message

    ti = stack.wait_for_task_state(spec.dag_id, run_id, TASK_ID, {"failed"}, timeout=90)
    assert e2e.only_job(spec.workflow_name).status == "FAILED"
    assert emulator.count(START, spec.workflow_name) == 1
    assert ti.try_number == 1
    # The try's own log (not the trigger's) holds the error the task failed with.
    task_log = stack.logs.task_log(spec.dag_id, run_id, TASK_ID, attempt=1, triggers=False)
    assert FAILURE_MESSAGE in task_log
    assert "EntityResolutionJobFailedError" in task_log
    assert job_id in task_log
    assert stack.db.xcom_value(spec.dag_id, run_id, TASK_ID, "job_description")["status"] == "FAILED"


def retry_takes_over_after_a_worker_kill(e2e: Deployment, spec: DagSpec, run_id: str, ti_id: str) -> str:
    """
    SIGKILL try 1's worker, then check that try 2 takes the one job over and succeeds with it.

    :return: the job's ID.
    """
    kill_worker(e2e.stack, ti_id)
    job_id = e2e.only_job(spec.workflow_name).job_id
    # The scheduler notices the missing heartbeats, fails try 1 and retries.
    e2e.wait_for_takeover(spec, run_id, attempt=2, job_id=job_id)
    e2e.emulator.finish_job(job_id, "SUCCEEDED")
    e2e.stack.wait_for_task_state(spec.dag_id, run_id, TASK_ID, {"success"}, timeout=90, try_number=2)
    assert e2e.emulator.count(START, spec.workflow_name) == 1
    return job_id


@pytest.mark.timeout(240)
def test_c_a_retry_after_the_worker_is_sigkilled_takes_over_the_started_job(e2e: Deployment) -> None:
    spec, stack = WORKER_KILL, e2e.stack
    run_id = e2e.run(spec, JobScript.succeeded({"inputRecords": 7}, running_seconds=LONG))
    key = started_job_record_key(spec.dag_id, run_id, TASK_ID)
    ti = stack.wait_for_task_state(spec.dag_id, run_id, TASK_ID, {"running"}, timeout=90)
    e2e.wait_for_requests(START, spec.workflow_name, at_least=1)
    # The operator records the job right after the start returns; kill as soon as the record is there.
    wait_for("the started job's record", lambda: stack.db.has_variable(key), timeout=30, interval=0.1)

    job_id = retry_takes_over_after_a_worker_kill(e2e, spec, run_id, ti.id)
    assert e2e.only_job(spec.workflow_name).status == "SUCCEEDED"
    assert stack.db.xcom_value(spec.dag_id, run_id, TASK_ID) == job_id
    assert not stack.db.has_variable(key), "the record is removed once the outcome is known"


@pytest.mark.timeout(240)
def test_c_a_retry_after_the_worker_dies_during_the_start_request_starts_no_second_job(
    e2e: Deployment,
) -> None:
    spec, stack, emulator = WORKER_KILL_START_IN_FLIGHT, e2e.stack, e2e.emulator
    # The service takes the start at once but answers 10 s later: a lost answer, as on a network fault.
    emulator.inject(Fault.latency(10, count=1, operation=START, workflow_name=spec.workflow_name))
    run_id = e2e.run(spec, JobScript.succeeded({"inputRecords": 9}, running_seconds=LONG))
    ti = stack.wait_for_task_state(spec.dag_id, run_id, TASK_ID, {"running"}, timeout=90)
    wait_for("the job to exist", lambda: emulator.jobs(spec.workflow_name), timeout=60, interval=0.1)

    retry_takes_over_after_a_worker_kill(e2e, spec, run_id, ti.id)


@pytest.mark.timeout(240)
def test_c_a_task_cleared_while_deferred_takes_over_the_started_job(e2e: Deployment) -> None:
    spec, stack, emulator = CLEARED_WHILE_DEFERRED, e2e.stack, e2e.emulator
    run_id = e2e.run(spec, JobScript.succeeded({"inputRecords": 3}, running_seconds=LONG))
    e2e.wait_until_deferred_settles(spec, run_id, try_number=1)
    e2e.wait_for_requests(GET, spec.workflow_name, at_least=1)
    job_id = e2e.only_job(spec.workflow_name).job_id

    cleared = stack.api.clear_task(spec.dag_id, run_id, TASK_ID)
    assert [ti["task_id"] for ti in cleared] == [TASK_ID]

    e2e.wait_for_takeover(spec, run_id, attempt=2, job_id=job_id)
    e2e.wait_until_deferred_settles(spec, run_id, try_number=2)
    # Before the job ends: Airflow 3.0's triggerer removes a cleared task's trigger only on a later
    # pass of its loop, and a job that ends first lets that trigger fire instead of being cancelled.
    wait_for(
        "try 1's trigger log to say the wait was cancelled",
        lambda: CANCELLED_LINE in stack.logs.task_log(spec.dag_id, run_id, TASK_ID, attempt=1),
        timeout=60,
    )
    emulator.finish_job(job_id, "SUCCEEDED")

    stack.wait_for_task_state(spec.dag_id, run_id, TASK_ID, {"success"}, timeout=90, try_number=2)
    assert emulator.count(START, spec.workflow_name) == 1
    assert e2e.only_job(spec.workflow_name).status == "SUCCEEDED"
    assert stack.db.xcom_value(spec.dag_id, run_id, TASK_ID) == job_id


@pytest.mark.timeout(240)
def test_d_marking_a_deferred_task_failed_cancels_its_trigger_cleanly(e2e: Deployment) -> None:
    spec, stack, emulator = MARKED_FAILED_WHILE_DEFERRED, e2e.stack, e2e.emulator
    run_id = e2e.run(spec, JobScript.never_finishing())
    e2e.wait_until_deferred_settles(spec, run_id, try_number=1)
    e2e.wait_for_requests(GET, spec.workflow_name, at_least=2)
    # While it waits, the trigger's client keeps a pooled connection to the service open.
    assert wait_for(
        "the triggerer's connection to the emulator",
        lambda: established_connections(stack.processes.process_tree("triggerer"), e2e.emulator_port),
        timeout=10,
        interval=0.2,
    )

    stack.api.set_task_state(spec.dag_id, run_id, TASK_ID, "failed")

    stack.wait_for_task_state(spec.dag_id, run_id, TASK_ID, {"failed"}, timeout=30)
    wait_for(
        "the trigger to be cancelled",
        lambda: CANCELLED_LINE in stack.logs.task_log(spec.dag_id, run_id, TASK_ID),
        timeout=30,
    )
    # With no other wait sharing its client, the cancelled wait must close it: no connection stays open.
    wait_for("the triggers to be removed", lambda: stack.db.trigger_count() == 0, timeout=30)
    wait_for(
        "the triggerer to close its connections to the emulator",
        lambda: not established_connections(stack.processes.process_tree("triggerer"), e2e.emulator_port),
        timeout=10,
        interval=0.2,
        hint=lambda: str(
            established_connections(stack.processes.process_tree("triggerer"), e2e.emulator_port)
        ),
    )
    polls_after_cancel = emulator.count(GET, spec.workflow_name)
    time.sleep(4 * WAITER_DELAY)
    assert emulator.count(GET, spec.workflow_name) == polls_after_cancel, "the cancelled wait still polls"

    assert emulator.count(START, spec.workflow_name) == 1
    job = e2e.only_job(spec.workflow_name)
    assert job.status == "RUNNING", "the service has no call to stop a job"
    wait_for("the run to end failed", lambda: stack.db.dag_run_state(spec.dag_id, run_id) == "failed", 30)
    logs = stack.logs.process_log("triggerer") + stack.logs.task_log(spec.dag_id, run_id, TASK_ID)
    assert leak_lines(logs) == []

    # The run can be cleaned: clearing the task runs it again, and since the job its cancelled try
    # started still runs (holding the account's one-job quota), the new try waits for that job.
    stack.api.clear_task(spec.dag_id, run_id, TASK_ID)
    e2e.wait_for_takeover(spec, run_id, attempt=2, job_id=job.job_id)
    e2e.wait_until_deferred_settles(spec, run_id, try_number=2)
    emulator.finish_job(job.job_id, "SUCCEEDED")
    stack.wait_for_task_state(spec.dag_id, run_id, TASK_ID, {"success"}, timeout=90, try_number=2)
    wait_for("the run to end success", lambda: stack.db.dag_run_state(spec.dag_id, run_id) == "success", 30)
    assert emulator.count(START, spec.workflow_name) == 1


def start_matching_job(e2e: Deployment, workflow_name: str, script: JobScript) -> str:
    """Declare a matching workflow and start a job of it, as another system would, outside Airflow."""
    e2e.emulator.add_matching_workflow(workflow_name, script)
    client = boto3.client(
        "entityresolution", **fake_client_arguments(f"http://127.0.0.1:{e2e.emulator_port}")
    )
    return client.start_matching_job(workflowName=workflow_name)["jobId"]


@pytest.mark.skipif(not TRIGGERER_RENDERS_TEMPLATES, reason=START_FROM_TRIGGER_SKIP_REASON)
@pytest.mark.timeout(240)
def test_e_a_sensor_started_in_the_triggerer_renders_its_templates_and_never_reaches_a_worker(
    e2e: Deployment,
) -> None:
    stack, spec = e2e.stack, SENSOR_FROM_TRIGGERER
    metrics = {"inputRecords": 100, "totalRecordsProcessed": 98, "recordsNotProcessed": 2, "matchIDs": 40}
    job_id = start_matching_job(e2e, "e2e-from-triggerer", JobScript.succeeded(metrics, running_seconds=4))
    run_id = stack.api.trigger_dag(
        spec.dag_id, f"e2e__{uuid.uuid4().hex[:12]}", {"workflow": "e2e-from-triggerer", "job_id": job_id}
    )

    stack.wait_for_task_state(spec.dag_id, run_id, TASK_ID, {"deferred"}, timeout=90)
    # The triggerer rendered both templates: the service saw the real workflow and job.
    e2e.wait_for_requests("GetMatchingJob", "e2e-from-triggerer", at_least=1)
    assert {r.job_id for r in e2e.emulator.requests if r.operation == "GetMatchingJob"} == {job_id}

    stack.wait_for_task_state(spec.dag_id, run_id, TASK_ID, {"success"}, timeout=90)
    assert stack.logs.worker_traces(spec.dag_id, run_id, TASK_ID) == NO_WORKER
    assert stack.db.xcom_value(spec.dag_id, run_id, TASK_ID)["jobId"] == job_id
    assert stack.db.xcom_value(spec.dag_id, run_id, TASK_ID, "metrics") == metrics
    assert stack.db.xcom_value(spec.dag_id, run_id, TASK_ID, "_link_EntityResolutionJobLink") == (
        "https://console.aws.amazon.com/entityresolution/home?region=us-east-1"
        f"#/matchingworkflows/e2e-from-triggerer/jobs/{job_id}"
    )
    log = stack.logs.task_log(spec.dag_id, run_id, TASK_ID)
    assert f"matching job {job_id} of workflow 'e2e-from-triggerer' is SUCCEEDED" in log


@pytest.mark.skipif(not TRIGGERER_RENDERS_TEMPLATES, reason=START_FROM_TRIGGER_SKIP_REASON)
@pytest.mark.timeout(240)
def test_e_a_failed_job_fails_a_sensor_started_in_the_triggerer_with_the_service_message(
    e2e: Deployment,
) -> None:
    stack, spec = e2e.stack, SENSOR_FROM_TRIGGERER
    job_id = start_matching_job(e2e, "e2e-from-triggerer-failing", JobScript.failed(FAILURE_MESSAGE))
    run_id = stack.api.trigger_dag(
        spec.dag_id,
        f"e2e__{uuid.uuid4().hex[:12]}",
        {"workflow": "e2e-from-triggerer-failing", "job_id": job_id},
    )

    stack.wait_for_task_state(spec.dag_id, run_id, TASK_ID, {"failed"}, timeout=90)
    assert stack.logs.worker_traces(spec.dag_id, run_id, TASK_ID) == NO_WORKER
    assert FAILURE_MESSAGE in stack.logs.task_log(spec.dag_id, run_id, TASK_ID)
    wait_for("the run to end failed", lambda: stack.db.dag_run_state(spec.dag_id, run_id) == "failed", 30)
