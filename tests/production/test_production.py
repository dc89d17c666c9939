"""
The provider's promises on the production topology: PostgreSQL, Celery on Redis with two workers,
two triggerers, the emulator in its own process (see ``conftest.py``).

One topology serves the module, each scenario with its own DAG and workflows. Each test counts what
the service saw from the emulator's request log and what Airflow recorded from the metadata DB,
and records its figures, which the run's summary prints (RELIABILITY.md quotes them).
"""

from __future__ import annotations

import contextlib
import itertools
import textwrap
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from e2e.airflow_processes import (
    NO_WORKER,
    TERMINAL_TASK_STATES,
    AirflowStack,
    StackError,
    started_job_record_key,
    wait_for,
)

from airflow_entityresolution.emulator import Fault, JobScript

from .conftest import FAKE_AWS, TRIGGERERS, WORKER_CONCURRENCY, WORKERS, Production, record

pytestmark = pytest.mark.production

WAITER_DELAY = 2
# Jobs run until the test ends them once the point under test is reached: the outcome is scripted,
# the timing is not left to a loaded machine.
LONG = 3600.0
START_OPERATION = {"map": "StartIdMappingJob", "match": "StartMatchingJob"}
GET_OPERATION = {"map": "GetIdMappingJob", "match": "GetMatchingJob"}
OPERATOR = {
    "map": "EntityResolutionStartIdMappingJobOperator",
    "match": "EntityResolutionStartMatchingJobOperator",
}


@dataclass(frozen=True)
class JobTaskSpec:
    """
    One operator task on a workflow of its own, and how its job ends.

    :param task_id: the task's ID; ``map_*`` for ID mapping, ``match_*`` for matching.
    :param workflow_name: the workflow it starts a job of.
    :param error_message: the service's ``errorDetails.errorMessage`` if the job is to fail.
    """

    task_id: str
    workflow_name: str
    error_message: str | None = None

    @property
    def family(self) -> str:
        return self.task_id.split("_", 1)[0]

    @property
    def outcome(self) -> str:
        return "FAILED" if self.error_message else "SUCCEEDED"

    @property
    def task_state(self) -> str:
        return "failed" if self.error_message else "success"

    def script(self) -> JobScript:
        if self.error_message:
            return JobScript.failed(self.error_message, running_seconds=LONG)
        return JobScript.succeeded({"inputRecords": 10}, running_seconds=LONG)

    def operator_source(self, **arguments: object) -> str:
        options = "".join(f", {name}={value!r}" for name, value in arguments.items())
        return (
            f"{OPERATOR[self.family]}(task_id={self.task_id!r}, workflow_name={self.workflow_name!r}, "
            f"deferrable=True, waiter_delay={WAITER_DELAY}{options})\n"
        )


def dag_source(dag_id: str, body: str, **dag_arguments: object) -> str:
    """A DAG file: ``body`` (statements, one per line) inside ``with DAG(dag_id, ...)``."""
    options = "".join(f", {name}={value!r}" for name, value in dag_arguments.items())
    return textwrap.dedent(
        f"""\
            import datetime

            from airflow.sdk import DAG

            from airflow_entityresolution.operators import (
                EntityResolutionStartIdMappingJobOperator,
                EntityResolutionStartMatchingJobOperator,
            )
            from airflow_entityresolution.sensors import (
                EntityResolutionIdMappingJobCompletedSensor,
                EntityResolutionMatchingJobCompletedSensor,
            )

            with DAG(
                {dag_id!r},
                schedule=None,
                start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc),
                catchup=False{options},
            ):
            """
    ) + textwrap.indent(body, "    ")


# Scenario 1: 25 ID mapping and 25 matching tasks, one job in five failing with its own message.
FAILOVER_DAG = "prod_triggerer_failover"
FAILOVER_TASKS = tuple(
    JobTaskSpec(
        f"{family}_{index:02d}",
        f"prod-failover-{family}-{index:02d}",
        f"PROD-{family}-{index:02d}: input table customers has no column named email_address"
        if index % 5 == 4
        else None,
    )
    for family in ("map", "match")
    for index in range(25)
)

# Scenario 5: 5 ID mapping and 5 matching sensors started in the triggerer, on jobs started outside
# Airflow; the job IDs come as run conf, which the triggerer renders.
SENSOR_DAG = "prod_sensors_from_triggerer"
SENSOR_TASKS = tuple(
    JobTaskSpec(
        f"{family}_{index}",
        f"prod-sensor-{family}-{index}",
        f"PROD-sensor-{family}-{index}: output bucket is not writable" if index == 4 else None,
    )
    for family in ("map", "match")
    for index in range(5)
)
SENSOR = {
    "map": "EntityResolutionIdMappingJobCompletedSensor",
    "match": "EntityResolutionMatchingJobCompletedSensor",
}


def sensor_source(spec: JobTaskSpec) -> str:
    job_id = "{{ params.jobs." + spec.task_id + " }}"
    return (
        f"{SENSOR[spec.family]}(task_id={spec.task_id!r}, workflow_name={spec.workflow_name!r}, "
        f"job_id={job_id!r}, start_from_trigger=True, poke_interval={WAITER_DELAY}, timeout=1800)\n"
    )


# Scenario 3: 10 runs of one task, each starting an ID mapping job of one workflow, under the quota.
QUOTA_DAG = "prod_quota_contention"
QUOTA_WORKFLOW = "prod-quota"
QUOTA_RUNS = 10
# Long beside a task's trip through a worker, so that waiting tasks spend most of their time deferred.
QUOTA_WAITER_DELAY = 6
QUOTA_TASK = (
    f"EntityResolutionStartIdMappingJobOperator(task_id='map_quota', workflow_name={QUOTA_WORKFLOW!r}, "
    f"aws_conn_id='aws_quota', deferrable=True, when_busy='wait', waiter_delay={QUOTA_WAITER_DELAY})\n"
)

# Scenario 4: 20 deferred tasks while PostgreSQL restarts: at once (``pg_ctl restart -m fast``), and,
# as a managed database's failover would, down for longer than the triggerers' health threshold.
DB_RESTARTS = {"restart": 0, "outage": 10}
# Airflow 3.3.2's job processes end when their loop meets a broken or refused connection (the
# scheduler's, the DAG processor's, and the triggerer's, in Trigger.assign_unassigned): a deployment's
# supervisor starts them again. The API server and the Celery workers ride the outage out.
MAY_EXIT_ON_DB_LOSS = frozenset({"scheduler", "dag-processor", *TRIGGERERS})


def db_restart_dag(case: str) -> str:
    return f"prod_metadata_db_{case}"


def db_restart_tasks(case: str) -> tuple[JobTaskSpec, ...]:
    return tuple(
        JobTaskSpec(
            f"{family}_{index:02d}",
            f"prod-db-{case}-{family}-{index:02d}",
            f"PROD-db-{case}-{family}-{index:02d}: role cannot read the input bucket"
            if index % 5 == 4
            else None,
        )
        for family in ("map", "match")
        for index in range(10)
    )


# Scenario 2: a start on a worker that dies, with retries; not deferrable, so the try waits on the
# worker, whose death is what is under test.
WORKER_KILL_DAGS = {
    "in_flight": ("prod_worker_kill_start_in_flight", "prod-worker-kill-in-flight"),
    "returned": ("prod_worker_kill_start_returned", "prod-worker-kill-returned"),
}


def worker_kill_task(workflow_name: str) -> str:
    return (
        f"EntityResolutionStartIdMappingJobOperator(task_id='map_ids', workflow_name={workflow_name!r}, "
        f"deferrable=False, waiter_delay={WAITER_DELAY}, retries=1, "
        "retry_delay=datetime.timedelta(seconds=2))\n"
    )


DAG_FILES = {
    FAILOVER_DAG: dag_source(FAILOVER_DAG, "".join(spec.operator_source() for spec in FAILOVER_TASKS)),
    SENSOR_DAG: dag_source(
        SENSOR_DAG,
        "".join(sensor_source(spec) for spec in SENSOR_TASKS),
        params={"jobs": {}},
    ),
    QUOTA_DAG: dag_source(QUOTA_DAG, QUOTA_TASK, max_active_runs=QUOTA_RUNS),
    **{
        db_restart_dag(case): dag_source(
            db_restart_dag(case), "".join(t.operator_source() for t in db_restart_tasks(case))
        )
        for case in DB_RESTARTS
    },
    **{
        dag_id: dag_source(dag_id, worker_kill_task(workflow))
        for dag_id, workflow in WORKER_KILL_DAGS.values()
    },
}


@pytest.fixture(scope="module")
def topology(production: Production) -> Production:
    """The running topology with the module's DAGs parsed."""
    for dag_id, source in DAG_FILES.items():
        production.stack.write_dag_file(f"{dag_id}.py", source)
    for dag_id in DAG_FILES:
        production.stack.wait_for_dag(dag_id, timeout=180)
    return production


def task_rows(stack: AirflowStack, dag_id: str, run_id: str) -> dict[str, tuple[str | None, int, int | None]]:
    """Every task instance of a run: its state, try number and trigger."""
    rows = stack.query(
        "SELECT task_id, state, try_number, trigger_id FROM task_instance WHERE dag_id = ? AND run_id = ?",
        (dag_id, run_id),
    )
    return {task_id: (state, try_number, trigger_id) for task_id, state, try_number, trigger_id in rows}


def wait_for_states(
    stack: AirflowStack,
    dag_id: str,
    run_id: str,
    task_ids: Iterable[str],
    accept: Callable[[str | None], bool],
    what: str,
    timeout: float,
    killed: Collection[str] = (),
) -> dict[str, tuple[str | None, int, int | None]]:
    """
    Wait until every one of ``task_ids`` is in a state ``accept`` takes, checking that the stack lives.

    :param killed: processes the test killed on purpose, which need not live.
    """
    wanted = set(task_ids)
    last: dict[str, tuple[str | None, int, int | None]] = {}

    def reached() -> dict[str, tuple[str | None, int, int | None]] | None:
        stack.check_alive([name for name in stack.processes if name not in killed])
        last.clear()
        last.update(task_rows(stack, dag_id, run_id))
        return dict(last) if all(task_id in last and accept(last[task_id][0]) for task_id in wanted) else None

    def pending() -> str:
        waiting = {task_id: last.get(task_id, (None,))[0] for task_id in wanted}
        waiting = {task_id: state for task_id, state in waiting.items() if not accept(state)}
        return f"Not yet {what}: {waiting}. {stack.log_hint()}"

    return wait_for(
        f"{len(wanted)} tasks of {dag_id} to be {what}", reached, timeout, interval=1, hint=pending
    )


def drained_executor_events(stack: AirflowStack, dag_id: str, run_id: str, task_ids: Iterable[str]) -> bool:
    """
    Whether the scheduler has processed the executor event of each task's first try (its deferral).

    Airflow 3.3's scheduler fails a resumed task if its trigger fires, and the task is queued again,
    before the event of the worker's exit is drained (apache/airflow#67287): a job must not end
    before.
    """
    log = stack.process_log("scheduler")
    keys = {
        f"TaskInstanceKey(dag_id='{dag_id}', task_id='{task_id}', run_id='{run_id}', try_number=1, "
        "map_index=-1)"
        for task_id in task_ids
    }
    seen = {
        key for line in log.splitlines() if "Received executor event" in line for key in keys if key in line
    }
    return seen == keys


def triggers_by_triggerer(stack: AirflowStack, trigger_ids: Iterable[int]) -> dict[int, int | None]:
    """The triggerer (its ``job`` row) each trigger is assigned to."""
    wanted = set(trigger_ids)
    rows = stack.query("SELECT id, triggerer_id FROM trigger")
    return {trigger_id: triggerer for trigger_id, triggerer in rows if trigger_id in wanted}


@dataclass(frozen=True)
class Failover:
    """
    What a triggerer's SIGKILL left: who died, who took its triggers, which, and how fast.

    :param victim: the killed triggerer's name in the layout.
    :param survivor: the other one.
    :param share: how many of the tasks' triggers each triggerer ran before the kill.
    :param orphans: the killed triggerer's triggers, by ID.
    :param seconds: from the kill until the survivor polled every orphaned job.
    """

    victim: str
    survivor: str
    share: dict[str, int]
    orphans: frozenset[int]
    seconds: float


def declare(emulator: Any, specs: Iterable[JobTaskSpec]) -> None:
    """Declare each spec's workflow, with its script, in the emulator's process."""
    for spec in specs:
        if spec.family == "map":
            emulator.add_id_mapping_workflow(spec.workflow_name, spec.script())
        else:
            emulator.add_matching_workflow(spec.workflow_name, spec.script())


def polls(emulator: Any, spec: JobTaskSpec) -> int:
    return emulator.count(GET_OPERATION[spec.family], spec.workflow_name)


def kill_the_busier_triggerer(
    topology: Production,
    dag_id: str,
    run_id: str,
    specs: Mapping[str, JobTaskSpec],
    trigger_of: dict[str, int],
) -> Failover:
    """
    SIGKILL the triggerer running more of the tasks' triggers, with its trigger runner; wait until the
    other one holds the orphaned triggers, logs starting each, and polls each orphaned job again.
    """
    stack, emulator = topology.stack, topology.emulator.emulator
    jobs = dict(topology.triggerer_jobs)
    assignment = triggers_by_triggerer(stack, trigger_of.values())
    share = {name: sum(1 for t in assignment.values() if t == job_id) for name, job_id in jobs.items()}
    assert sum(share.values()) == len(specs), f"every trigger runs on a triggerer: {share}, {assignment}"
    victim = max(share, key=lambda name: share[name])
    survivor = next(name for name in TRIGGERERS if name != victim)
    orphans = frozenset(trigger for trigger, triggerer in assignment.items() if triggerer == jobs[victim])
    task_of = {trigger_id: task_id for task_id, trigger_id in trigger_of.items()}
    polls_before = {trigger: polls(emulator, specs[task_of[trigger]]) for trigger in orphans}

    def started_on(triggerer: str) -> set[int]:
        return {
            trigger_id
            for trigger_id in orphans
            if f"(ID {trigger_id}) starting"
            in stack.trigger_log(dag_id, run_id, task_of[trigger_id], jobs[triggerer])
        }

    assert started_on(victim) == orphans, "each orphan ran on the killed triggerer first"
    killed = stack.kill(victim)
    assert len(killed) >= 2, f"the triggerer and its trigger runner process, killed: {killed}"
    killed_at = time.monotonic()

    def picked_up() -> bool:
        stack.check_alive([name for name in stack.processes if name != victim])
        now = triggers_by_triggerer(stack, orphans)
        return set(now) == orphans and all(triggerer == jobs[survivor] for triggerer in now.values())

    wait_for(
        f"{survivor} (job {jobs[survivor]}) to take the {len(orphans)} triggers of {victim}",
        picked_up,
        timeout=120,
        hint=lambda: f"{triggers_by_triggerer(stack, orphans)}. {stack.log_hint()}",
    )
    # The survivor runs each orphan: its trigger log says it started it, and the job sees its polls again.
    wait_for(
        f"the trigger logs of {survivor} (job {jobs[survivor]}) to show it starting each orphaned trigger",
        lambda: started_on(survivor) == orphans,
        timeout=60,
        hint=lambda: f"Not started: {sorted(orphans - started_on(survivor))}. Logs: {stack.task_log_folder}",
    )
    wait_for(
        "a poll of every orphaned job from the surviving triggerer",
        lambda: all(polls(emulator, specs[task_of[t]]) > polls_before[t] for t in orphans),
        timeout=60,
        hint=stack.log_hint(),
    )
    return Failover(victim, survivor, share, orphans, time.monotonic() - killed_at)


def end_jobs(emulator: Any, specs: Iterable[JobTaskSpec]) -> dict[str, str]:
    """End each spec's one job as its script says; return the job IDs by task."""
    job_of = {}
    for spec in specs:
        [job] = emulator.jobs(spec.workflow_name)
        assert job.status == "RUNNING", job
        job_of[spec.task_id] = job.job_id
        emulator.finish_job(job.job_id, spec.outcome)
    return job_of


@pytest.mark.timeout(900)
def test_triggerer_failover_every_deferred_task_ends_with_its_jobs_outcome(
    topology: Production, request: pytest.FixtureRequest
) -> None:
    stack, emulator = topology.stack, topology.emulator.emulator
    specs = {spec.task_id: spec for spec in FAILOVER_TASKS}
    declare(emulator, FAILOVER_TASKS)
    started = time.monotonic()
    run_id = stack.trigger_dag(FAILOVER_DAG, f"prod__{uuid.uuid4().hex[:12]}")

    rows = wait_for_states(
        stack, FAILOVER_DAG, run_id, specs, lambda state: state == "deferred", "deferred", timeout=600
    )
    deferred_after = time.monotonic() - started
    trigger_of = {task_id: row[2] for task_id, row in rows.items()}
    assert all(trigger_of.values()), trigger_of
    # Each trigger polls its job: the triggerers really run them all.
    wait_for(
        "a poll of every job",
        lambda: all(polls(emulator, spec) >= 1 for spec in FAILOVER_TASKS),
        timeout=120,
        hint=stack.log_hint(),
    )
    wait_for(
        "the scheduler to process every deferral",
        lambda: drained_executor_events(stack, FAILOVER_DAG, run_id, specs),
        timeout=120,
        hint=stack.log_hint(),
    )
    failover = kill_the_busier_triggerer(topology, FAILOVER_DAG, run_id, specs, trigger_of)
    assert all(failover.share.values()), f"the triggers are not spread over both triggerers: {failover.share}"

    job_of = end_jobs(emulator, FAILOVER_TASKS)
    finished_at = time.monotonic()
    rows = wait_for_states(
        stack, FAILOVER_DAG, run_id, specs, TERMINAL_TASK_STATES.__contains__, "ended", 300, {failover.victim}
    )
    ended_after = time.monotonic() - finished_at
    states = {task_id: row[0] for task_id, row in rows.items()}
    assert states == {task_id: spec.task_state for task_id, spec in specs.items()}
    assert {row[1] for row in rows.values()} == {1}, "every task ended in its first try"
    starts = {t: emulator.count(START_OPERATION[s.family], s.workflow_name) for t, s in specs.items()}
    assert starts == dict.fromkeys(specs, 1), "one start per task, however the triggerer died"
    for spec in FAILOVER_TASKS:
        [job] = emulator.jobs(spec.workflow_name)
        assert job.status == spec.outcome
        if spec.error_message:
            log = stack.task_log(FAILOVER_DAG, run_id, spec.task_id, attempt=1, triggers=False)
            assert spec.error_message in log, f"{spec.task_id} failed without the service's message"
            assert job_of[spec.task_id] in log
    topology.restart_triggerer(failover.victim)
    record(
        request,
        tasks=len(specs),
        id_mapping=sum(1 for s in FAILOVER_TASKS if s.family == "map"),
        matching=sum(1 for s in FAILOVER_TASKS if s.family == "match"),
        failed_jobs=sum(1 for s in FAILOVER_TASKS if s.error_message),
        triggers_per_triggerer=failover.share,
        orphaned_triggers=len(failover.orphans),
        starts=sum(starts.values()),
        ended_with_their_jobs_outcome=sum(1 for t, s in specs.items() if states[t] == s.task_state),
        seconds_to_all_deferred=round(deferred_after, 1),
        seconds_kill_to_survivor_polling_all=round(failover.seconds, 1),
        seconds_jobs_ended_to_tasks_ended=round(ended_after, 1),
    )


def start_job_outside_airflow(topology: Production, spec: JobTaskSpec) -> str:
    """Start a job of the spec's workflow as another system would, with boto3 over HTTP."""
    client = boto3.client(
        "entityresolution",
        endpoint_url=topology.emulator.endpoint_url,
        region_name=FAKE_AWS["AWS_DEFAULT_REGION"],
        aws_access_key_id=FAKE_AWS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_AWS["AWS_SECRET_ACCESS_KEY"],
    )
    if spec.family == "map":
        return client.start_id_mapping_job(workflowName=spec.workflow_name)["jobId"]
    return client.start_matching_job(workflowName=spec.workflow_name)["jobId"]


@pytest.mark.timeout(600)
def test_sensors_started_in_the_triggerer_survive_a_triggerer_sigkill_without_a_worker(
    topology: Production, request: pytest.FixtureRequest
) -> None:
    stack, emulator = topology.stack, topology.emulator.emulator
    specs = {spec.task_id: spec for spec in SENSOR_TASKS}
    declare(emulator, SENSOR_TASKS)
    job_of = {spec.task_id: start_job_outside_airflow(topology, spec) for spec in SENSOR_TASKS}
    started = time.monotonic()
    run_id = stack.trigger_dag(SENSOR_DAG, f"prod__{uuid.uuid4().hex[:12]}", {"jobs": job_of})

    rows = wait_for_states(
        stack, SENSOR_DAG, run_id, specs, lambda state: state == "deferred", "deferred", timeout=180
    )
    deferred_after = time.monotonic() - started
    trigger_of = {task_id: row[2] for task_id, row in rows.items()}
    wait_for(
        "a poll of every job",
        lambda: all(polls(emulator, spec) >= 1 for spec in SENSOR_TASKS),
        timeout=120,
        hint=stack.log_hint(),
    )
    # The triggerer rendered the templated job IDs: the service saw each sensor ask for its own job.
    asked = {
        (r.workflow_name, r.job_id) for r in emulator.request_log() if r.operation in GET_OPERATION.values()
    }
    assert {(specs[t].workflow_name, job_id) for t, job_id in job_of.items()} <= asked

    failover = kill_the_busier_triggerer(topology, SENSOR_DAG, run_id, specs, trigger_of)
    end_jobs(emulator, SENSOR_TASKS)
    finished_at = time.monotonic()
    rows = wait_for_states(
        stack, SENSOR_DAG, run_id, specs, TERMINAL_TASK_STATES.__contains__, "ended", 180, {failover.victim}
    )
    ended_after = time.monotonic() - finished_at
    states = {task_id: row[0] for task_id, row in rows.items()}
    assert states == {task_id: spec.task_state for task_id, spec in specs.items()}
    # No worker ran any of them: no queued time, host, pid or try log, no executor event, and neither
    # Celery worker's log names the DAG.
    assert {t: stack.worker_traces(SENSOR_DAG, run_id, t) for t in specs} == dict.fromkeys(specs, NO_WORKER)
    assert not [
        line for line in stack.process_log("scheduler").splitlines()
        if "Received executor event" in line and f"dag_id='{SENSOR_DAG}'" in line
    ]  # fmt: skip
    for worker in WORKERS:
        assert SENSOR_DAG not in stack.process_log(worker), f"{worker} ran a sensor started in the triggerer"
    for spec in SENSOR_TASKS:
        if spec.error_message:
            assert spec.error_message in stack.task_log(SENSOR_DAG, run_id, spec.task_id)
    starts = sum(emulator.count(START_OPERATION[s.family], s.workflow_name) for s in SENSOR_TASKS)
    assert starts == len(SENSOR_TASKS), "only the jobs the test started: a sensor starts nothing"
    topology.restart_triggerer(failover.victim)
    record(
        request,
        sensors=len(specs),
        failed_jobs=sum(1 for s in SENSOR_TASKS if s.error_message),
        triggers_per_triggerer=failover.share,
        orphaned_triggers=len(failover.orphans),
        reached_a_worker=0,
        executor_events=0,
        seconds_to_all_deferred=round(deferred_after, 1),
        seconds_kill_to_survivor_polling_all=round(failover.seconds, 1),
        seconds_jobs_ended_to_tasks_ended=round(ended_after, 1),
    )


def task_states_of_dag(stack: AirflowStack, dag_id: str) -> list[str | None]:
    return [state for (state,) in stack.query("SELECT state FROM task_instance WHERE dag_id = ?", (dag_id,))]


@pytest.mark.timeout(900)
def test_quota_contention_jobs_run_one_after_another_and_waiting_holds_no_worker_slot(
    topology: Production, request: pytest.FixtureRequest
) -> None:
    stack, emulator = topology.stack, topology.quota_emulator.emulator
    emulator.add_id_mapping_workflow(
        QUOTA_WORKFLOW, JobScript.succeeded({"inputRecords": 5}, running_seconds=3)
    )
    started = time.monotonic()
    run_ids = [stack.trigger_dag(QUOTA_DAG, f"prod__quota_{index:02d}") for index in range(QUOTA_RUNS)]

    # Sample the tasks' states while they contend: a task waiting for its turn must be deferred.
    samples: list[dict[str, int]] = []

    def all_ended() -> bool:
        stack.check_alive()
        states = task_states_of_dag(stack, QUOTA_DAG)
        samples.append({state or "none": states.count(state) for state in set(states)})
        if any(state in ("failed", "upstream_failed") for state in states):
            raise AssertionError(f"a task of {QUOTA_DAG} failed: {states}")
        return len(states) == QUOTA_RUNS and all(state == "success" for state in states)

    wait_for(f"the {QUOTA_RUNS} runs of {QUOTA_DAG} to succeed", all_ended, 600, 0.5, stack.log_hint())
    wall = time.monotonic() - started

    rows = stack.query("SELECT try_number, state FROM task_instance WHERE dag_id = ?", (QUOTA_DAG,))
    assert rows == [(1, "success")] * QUOTA_RUNS, "every task succeeded in its first try"
    jobs = sorted(emulator.jobs(QUOTA_WORKFLOW), key=lambda job: job.start_time)
    assert len(jobs) == QUOTA_RUNS and {job.status for job in jobs} == {"SUCCEEDED"}
    overlaps = [(a.job_id, b.job_id) for a, b in itertools.pairwise(jobs) if b.start_time < a.end_time]
    assert overlaps == [], "the service never ran two jobs at once"
    log = emulator.request_log()
    starts = [r for r in log if r.operation == "StartIdMappingJob"]
    conflicts = [r for r in starts if r.error_code == "ConflictException"]
    assert len(starts) - len(conflicts) == QUOTA_RUNS
    assert conflicts, "the runs contended: the service refused starts while a job ran"
    slots = len(WORKERS) * WORKER_CONCURRENCY
    most_deferred = max(sample.get("deferred", 0) for sample in samples)
    most_running = max(sample.get("running", 0) for sample in samples)
    # More tasks waited at once than there are worker slots: they waited deferred, holding none.
    assert most_deferred > slots, f"at most {most_deferred} tasks deferred at once, with {slots} slots"
    for run_id in run_ids:
        text = stack.task_log(QUOTA_DAG, run_id, "map_quota", attempt=1)
        assert "Task failed" not in text
    record(
        request,
        runs=QUOTA_RUNS,
        jobs=len(jobs),
        starts_refused_with_conflict=len(conflicts),
        jobs_running_at_once_max=1 if not overlaps else 2,
        worker_slots=slots,
        tasks_deferred_at_once_max=most_deferred,
        tasks_running_at_once_max=most_running,
        failed_tasks=0,
        seconds_all_runs=round(wall, 1),
    )


def supervise_until_healthy(
    topology: Production, may_exit: Collection[str], quiet_for: float = 10, timeout: float = 240
) -> list[str]:
    """
    Restart the processes of ``may_exit`` that exited, as a deployment's supervisor would, until every
    component reports healthy and none has exited for ``quiet_for`` seconds (a process meets the lost
    connection at its next query, a loop later); any other process that exited fails the test.
    Returns those restarted, in order.
    """
    stack = topology.stack
    restarted: list[str] = []
    last_exit = [time.monotonic()]

    def settled() -> bool:
        exited = [name for name, process in stack.processes.items() if process.poll() is not None]
        if unexpected := [name for name in exited if name not in may_exit]:
            stack.check_alive(unexpected)
        for name in exited:
            restarted.append(name)
            last_exit[0] = time.monotonic()
            if name in TRIGGERERS:
                topology.restart_triggerer(name, check_others=False)
            else:
                stack.start(name)
        if time.monotonic() - last_exit[0] < quiet_for:
            return False
        with contextlib.suppress(StackError):
            stack.wait_until_healthy(timeout=5)
            return True
        return False

    wait_for("every component to be healthy again", settled, timeout, interval=1, hint=stack.log_hint())
    return restarted


@pytest.mark.parametrize("case", list(DB_RESTARTS))
@pytest.mark.timeout(900)
def test_metadata_db_restart_every_deferred_task_still_ends_with_its_jobs_outcome(
    topology: Production, request: pytest.FixtureRequest, case: str
) -> None:
    stack, emulator = topology.stack, topology.emulator.emulator
    dag_id, tasks = db_restart_dag(case), db_restart_tasks(case)
    down_for = DB_RESTARTS[case]
    specs = {spec.task_id: spec for spec in tasks}
    declare(emulator, tasks)
    run_id = stack.trigger_dag(dag_id, f"prod__{uuid.uuid4().hex[:12]}")
    wait_for_states(stack, dag_id, run_id, specs, lambda state: state == "deferred", "deferred", 600)
    wait_for(
        "a poll of every job",
        lambda: all(polls(emulator, spec) >= 1 for spec in tasks),
        timeout=120,
        hint=stack.log_hint(),
    )
    wait_for(
        "the scheduler to process every deferral",
        lambda: drained_executor_events(stack, dag_id, run_id, specs),
        timeout=120,
        hint=stack.log_hint(),
    )
    postmaster_before = topology.postgres.postmaster()
    restart_started = time.monotonic()
    topology.postgres.restart(down_for=down_for)
    restart_seconds = time.monotonic() - restart_started
    postmaster_after = topology.postgres.postmaster()
    assert postmaster_before is not None and postmaster_after is not None
    assert postmaster_after.pid != postmaster_before.pid, "PostgreSQL really restarted"
    restarted = supervise_until_healthy(topology, MAY_EXIT_ON_DB_LOSS)
    polls_after_restart = {t: polls(emulator, spec) for t, spec in specs.items()}
    wait_for(
        "the triggers to poll every job after the restart",
        lambda: all(polls(emulator, spec) > polls_after_restart[t] for t, spec in specs.items()),
        timeout=120,
        hint=stack.log_hint(),
    )
    still_deferred = task_rows(stack, dag_id, run_id)
    assert {row[0] for row in still_deferred.values()} == {"deferred"}, still_deferred

    end_jobs(emulator, tasks)
    finished_at = time.monotonic()
    rows = wait_for_states(stack, dag_id, run_id, specs, TERMINAL_TASK_STATES.__contains__, "ended", 300)
    ended_after = time.monotonic() - finished_at
    states = {task_id: row[0] for task_id, row in rows.items()}
    assert states == {task_id: spec.task_state for task_id, spec in specs.items()}
    assert {row[1] for row in rows.values()} == {1}, "every task ended in its first try"
    starts = {t: emulator.count(START_OPERATION[s.family], s.workflow_name) for t, s in specs.items()}
    assert starts == dict.fromkeys(specs, 1), "no start repeated across the DB restart"
    for spec in tasks:
        if spec.error_message:
            log = stack.task_log(dag_id, run_id, spec.task_id, attempt=1, triggers=False)
            assert spec.error_message in log
    record(
        request,
        tasks=len(specs),
        failed_jobs=sum(1 for s in tasks if s.error_message),
        starts=sum(starts.values()),
        ended_with_their_jobs_outcome=sum(1 for t, s in specs.items() if states[t] == s.task_state),
        seconds_db_down=down_for,
        seconds_stop_to_started=round(restart_seconds, 1),
        exited_and_restarted=sorted(restarted),
        seconds_jobs_ended_to_tasks_ended=round(ended_after, 1),
    )


@pytest.mark.parametrize("moment", ["in_flight", "returned"])
@pytest.mark.timeout(600)
def test_a_celery_worker_killed_during_or_after_the_start_the_retry_takes_the_job_over(
    topology: Production, request: pytest.FixtureRequest, moment: str
) -> None:
    stack, emulator = topology.stack, topology.emulator.emulator
    dag_id, workflow_name = WORKER_KILL_DAGS[moment]
    emulator.add_id_mapping_workflow(
        workflow_name, JobScript.succeeded({"inputRecords": 7}, running_seconds=LONG)
    )
    if moment == "in_flight":
        # The service takes the start at once but answers 20 s later: the worker dies before the answer.
        emulator.inject(
            Fault.latency(20, count=1, operation="StartIdMappingJob", workflow_name=workflow_name)
        )
    run_id = stack.trigger_dag(dag_id, f"prod__{uuid.uuid4().hex[:12]}")
    ti = stack.wait_for_task_state(dag_id, run_id, "map_ids", {"running"}, timeout=120)
    if moment == "in_flight":
        wait_for("the job to exist", lambda: emulator.jobs(workflow_name), timeout=60, interval=0.1)
    else:
        key = started_job_record_key(dag_id, run_id, "map_ids")
        # The operator records the job right after the start returns: kill as soon as the record is there.
        wait_for("the started job's record", lambda: stack.has_variable(key), timeout=60, interval=0.1)
    worker = stack.running_task(ti.id)
    assert worker in WORKERS, f"try 1 of {ti.id} runs on a Celery worker, not {worker}"
    killed = stack.kill(worker)
    killed_at = time.monotonic()
    [job] = emulator.jobs(workflow_name)

    # The scheduler notices the missing heartbeats, fails try 1, and the other worker runs try 2.
    words = f"Job {job.job_id} that an earlier try started is RUNNING: taking it over"

    def took_over() -> bool:
        stack.check_alive([name for name in stack.processes if name != worker])
        if emulator.count("StartIdMappingJob", workflow_name) != 1:
            raise AssertionError(f"try 2 started another job: {emulator.jobs(workflow_name)}")
        return words in stack.task_log(dag_id, run_id, "map_ids", attempt=2, triggers=False)

    wait_for("try 2 to take the job over", took_over, timeout=240, hint=stack.log_hint())
    takeover_seconds = time.monotonic() - killed_at
    # Each try has a task instance ID of its own.
    try_2 = stack.task_instance(dag_id, run_id, "map_ids")
    assert try_2 is not None and try_2.try_number == 2
    retried_on = stack.running_task(try_2.id)
    assert retried_on in WORKERS and retried_on != worker, f"try 2 runs on the live worker, not {retried_on}"
    # The lost node comes back, as a deployment's supervisor would bring it, before the next scenario.
    stack.restart(worker)
    emulator.finish_job(job.job_id, "SUCCEEDED")
    stack.wait_for_task_state(dag_id, run_id, "map_ids", {"success"}, timeout=120, try_number=2)
    assert emulator.count("StartIdMappingJob", workflow_name) == 1, "the emulator saw one start"
    [job] = emulator.jobs(workflow_name)
    assert job.status == "SUCCEEDED"
    record(
        request,
        killed_worker_processes=len(killed),
        starts=1,
        tries=2,
        retry_ran_on=retried_on,
        seconds_kill_to_takeover=round(takeover_seconds, 1),
    )
