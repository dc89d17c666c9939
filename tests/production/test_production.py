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
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from airflow_stack import (
    NO_WORKER,
    TERMINAL_TASK_STATES,
    AirflowStack,
    StackError,
    dag_file_source,
    fake_client_arguments,
    wait_for,
)
from e2e.records import started_job_record_key

from airflow_entityresolution.emulator import Fault, JobScript

from .conftest import TRIGGERERS, WORKER_CONCURRENCY, WORKERS, Production, record

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


PROVIDER_IMPORTS = """\
from airflow_entityresolution.operators import (
    EntityResolutionStartIdMappingJobOperator,
    EntityResolutionStartMatchingJobOperator,
)
from airflow_entityresolution.sensors import (
    EntityResolutionIdMappingJobCompletedSensor,
    EntityResolutionMatchingJobCompletedSensor,
)"""


def dag_source(dag_id: str, body: str, **dag_arguments: object) -> str:
    """A DAG file that may use every operator and sensor of the provider: ``body`` inside ``with DAG``."""
    return dag_file_source(dag_id, PROVIDER_IMPORTS, body, **dag_arguments)


def job_tasks(name: str, per_family: int, failure: str) -> tuple[JobTaskSpec, ...]:
    """
    ``per_family`` ID mapping tasks, then as many matching ones, each on a workflow of its own; one job
    in five fails, with the service's ``failure`` message prefixed by its task's name.

    :param name: the scenario's name, in every workflow's name and failure message.
    """
    return tuple(
        JobTaskSpec(
            f"{family}_{index:02d}",
            f"prod-{name}-{family}-{index:02d}",
            f"PROD-{name}-{family}-{index:02d}: {failure}" if index % 5 == 4 else None,
        )
        for family in ("map", "match")
        for index in range(per_family)
    )


# Scenario 1: 25 ID mapping and 25 matching tasks, one job in five failing with its own message.
FAILOVER_DAG = "prod_triggerer_failover"
FAILOVER_TASKS = job_tasks("failover", 25, "input table customers has no column named email_address")

# Scenario 5: 5 ID mapping and 5 matching sensors started in the triggerer, on jobs started outside
# Airflow; the job IDs come as run conf, which the triggerer renders.
SENSOR_DAG = "prod_sensors_from_triggerer"
SENSOR_TASKS = job_tasks("sensor", 5, "output bucket is not writable")
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
    return job_tasks(f"db-{case}", 10, "role cannot read the input bucket")


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
    production.stack.deploy_dags(DAG_FILES, timeout=180)
    return production


def task_rows(stack: AirflowStack, dag_id: str, run_id: str) -> dict[str, tuple[str | None, int, int | None]]:
    """Every task instance of a run: its state, try number and trigger."""
    rows = stack.db.query(
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
        stack.processes.check_alive(ignoring=killed)
        last.clear()
        last.update(task_rows(stack, dag_id, run_id))
        return dict(last) if all(task_id in last and accept(last[task_id][0]) for task_id in wanted) else None

    def pending() -> str:
        waiting = {task_id: last.get(task_id, (None,))[0] for task_id in wanted}
        waiting = {task_id: state for task_id, state in waiting.items() if not accept(state)}
        return f"Not yet {what}: {waiting}. {stack.logs.hint()}"

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
    log = stack.logs.process_log("scheduler")
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
    rows = stack.db.query("SELECT id, triggerer_id FROM trigger")
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
            in stack.logs.trigger_log(dag_id, run_id, task_of[trigger_id], jobs[triggerer])
        }

    assert started_on(victim) == orphans, "each orphan ran on the killed triggerer first"
    killed = stack.processes.kill(victim)
    assert len(killed) >= 2, f"the triggerer and its trigger runner process, killed: {killed}"
    killed_at = time.monotonic()

    def picked_up() -> bool:
        stack.processes.check_alive(ignoring={victim})
        now = triggers_by_triggerer(stack, orphans)
        return set(now) == orphans and all(triggerer == jobs[survivor] for triggerer in now.values())

    wait_for(
        f"{survivor} (job {jobs[survivor]}) to take the {len(orphans)} triggers of {victim}",
        picked_up,
        timeout=120,
        hint=lambda: f"{triggers_by_triggerer(stack, orphans)}. {stack.logs.hint()}",
    )
    # The survivor runs each orphan: its trigger log says it started it, and the job sees its polls again.
    wait_for(
        f"the trigger logs of {survivor} (job {jobs[survivor]}) to show it starting each orphaned trigger",
        lambda: started_on(survivor) == orphans,
        timeout=60,
        hint=lambda: (
            f"Not started: {sorted(orphans - started_on(survivor))}. Logs: {stack.logs.task_log_folder}"
        ),
    )
    wait_for(
        "a poll of every orphaned job from the surviving triggerer",
        lambda: all(polls(emulator, specs[task_of[t]]) > polls_before[t] for t in orphans),
        timeout=60,
        hint=stack.logs.hint(),
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


@dataclass(frozen=True)
class DeferredRun:
    """
    A run whose every task is deferred, each trigger polling its job.

    :param run_id: the run's ID.
    :param trigger_of: each task's trigger, by task ID.
    :param seconds: from the run's creation until every task was deferred.
    """

    run_id: str
    trigger_of: dict[str, int]
    seconds: float


def defer_a_run(
    topology: Production,
    dag_id: str,
    specs: Mapping[str, JobTaskSpec],
    timeout: float,
    conf: Mapping[str, Any] | None = None,
    from_workers: bool = True,
) -> DeferredRun:
    """
    Trigger a run of ``dag_id``; wait until each of its tasks is deferred and its trigger polls its job.

    :param specs: the run's tasks, by task ID; their workflows declared.
    :param timeout: seconds for every task to defer.
    :param conf: the run's conf.
    :param from_workers: the tasks deferred from a worker, whose exit the scheduler must process
        before a job may end (see :func:`drained_executor_events`); a sensor started in the triggerer
        never reaches a worker.
    """
    stack, emulator = topology.stack, topology.emulator.emulator
    started = time.monotonic()
    run_id = stack.api.trigger_dag(dag_id, f"prod__{uuid.uuid4().hex[:12]}", conf)
    rows = wait_for_states(
        stack, dag_id, run_id, specs, lambda state: state == "deferred", "deferred", timeout
    )
    deferred_after = time.monotonic() - started
    # Each trigger polls its job: the triggerers really run them all.
    wait_for(
        "a poll of every job",
        lambda: all(polls(emulator, spec) >= 1 for spec in specs.values()),
        timeout=120,
        hint=stack.logs.hint(),
    )
    if from_workers:
        wait_for(
            "the scheduler to process every deferral",
            lambda: drained_executor_events(stack, dag_id, run_id, specs),
            timeout=120,
            hint=stack.logs.hint(),
        )
    return DeferredRun(run_id, {task_id: row[2] for task_id, row in rows.items()}, deferred_after)


@dataclass(frozen=True)
class EndedRun:
    """
    A run whose every task ended with its job's outcome.

    :param job_of: each task's job, by task ID.
    :param rows: each task's state, try number and trigger, by task ID.
    :param with_their_jobs_outcome: how many tasks ended in the state their job's outcome calls for.
    :param seconds: from the jobs' end until every task had ended.
    """

    job_of: dict[str, str]
    rows: dict[str, tuple[str | None, int, int | None]]
    with_their_jobs_outcome: int
    seconds: float


def end_jobs_and_wait(
    topology: Production,
    dag_id: str,
    run_id: str,
    specs: Mapping[str, JobTaskSpec],
    timeout: float,
    killed: Collection[str] = (),
) -> EndedRun:
    """
    End each task's job as its script says, wait until every task has ended, and check that each
    ended in the state its job's outcome calls for.

    :param specs: the run's tasks, by task ID.
    :param timeout: seconds for every task to end.
    :param killed: processes the test killed on purpose, which need not live.
    """
    stack = topology.stack
    job_of = end_jobs(topology.emulator.emulator, specs.values())
    finished_at = time.monotonic()
    rows = wait_for_states(
        stack, dag_id, run_id, specs, TERMINAL_TASK_STATES.__contains__, "ended", timeout, killed
    )
    ended_after = time.monotonic() - finished_at
    states = {task_id: row[0] for task_id, row in rows.items()}
    assert states == {task_id: spec.task_state for task_id, spec in specs.items()}
    matching = sum(1 for task_id, spec in specs.items() if states[task_id] == spec.task_state)
    return EndedRun(job_of, rows, matching, ended_after)


def starts_by_task(emulator: Any, specs: Mapping[str, JobTaskSpec]) -> dict[str, int]:
    """The start requests the service saw for each task's workflow, by task ID."""
    return {t: emulator.count(START_OPERATION[s.family], s.workflow_name) for t, s in specs.items()}


def failure_logs(
    stack: AirflowStack, dag_id: str, run_id: str, specs: Mapping[str, JobTaskSpec], **which: Any
) -> dict[str, str]:
    """
    The log of each task whose job was to fail, by task ID.

    :param which: what of each task's log to read, as :meth:`~airflow_stack.logs.StackLogs.task_log` takes.
    """
    return {
        task_id: stack.logs.task_log(dag_id, run_id, task_id, **which)
        for task_id, spec in specs.items()
        if spec.error_message
    }


@pytest.mark.timeout(900)
def test_triggerer_failover_every_deferred_task_ends_with_its_jobs_outcome(
    topology: Production, request: pytest.FixtureRequest
) -> None:
    emulator = topology.emulator.emulator
    specs = {spec.task_id: spec for spec in FAILOVER_TASKS}
    declare(emulator, FAILOVER_TASKS)
    deferred = defer_a_run(topology, FAILOVER_DAG, specs, timeout=600)
    assert all(deferred.trigger_of.values()), deferred.trigger_of
    failover = kill_the_busier_triggerer(topology, FAILOVER_DAG, deferred.run_id, specs, deferred.trigger_of)
    assert all(failover.share.values()), f"the triggers are not spread over both triggerers: {failover.share}"

    ended = end_jobs_and_wait(topology, FAILOVER_DAG, deferred.run_id, specs, 300, {failover.victim})
    assert {row[1] for row in ended.rows.values()} == {1}, "every task ended in its first try"
    starts = starts_by_task(emulator, specs)
    assert starts == dict.fromkeys(specs, 1), "one start per task, however the triggerer died"
    for spec in FAILOVER_TASKS:
        [job] = emulator.jobs(spec.workflow_name)
        assert job.status == spec.outcome
    logs = failure_logs(topology.stack, FAILOVER_DAG, deferred.run_id, specs, attempt=1, triggers=False)
    for task_id, log in logs.items():
        assert specs[task_id].error_message in log, f"{task_id} failed without the service's message"
        assert ended.job_of[task_id] in log
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
        ended_with_their_jobs_outcome=ended.with_their_jobs_outcome,
        seconds_to_all_deferred=round(deferred.seconds, 1),
        seconds_kill_to_survivor_polling_all=round(failover.seconds, 1),
        seconds_jobs_ended_to_tasks_ended=round(ended.seconds, 1),
    )


def start_job_outside_airflow(topology: Production, spec: JobTaskSpec) -> str:
    """Start a job of the spec's workflow as another system would, with boto3 over HTTP."""
    client = boto3.client("entityresolution", **fake_client_arguments(topology.emulator.endpoint_url))
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
    deferred = defer_a_run(topology, SENSOR_DAG, specs, 180, {"jobs": job_of}, from_workers=False)
    run_id = deferred.run_id
    # The triggerer rendered the templated job IDs: the service saw each sensor ask for its own job.
    asked = {
        (r.workflow_name, r.job_id) for r in emulator.request_log() if r.operation in GET_OPERATION.values()
    }
    assert {(specs[t].workflow_name, job_id) for t, job_id in job_of.items()} <= asked

    failover = kill_the_busier_triggerer(topology, SENSOR_DAG, run_id, specs, deferred.trigger_of)
    ended = end_jobs_and_wait(topology, SENSOR_DAG, run_id, specs, 180, {failover.victim})
    # No worker ran any of them: no queued time, host, pid or try log, no executor event, and neither
    # Celery worker's log names the DAG.
    assert {t: stack.logs.worker_traces(SENSOR_DAG, run_id, t) for t in specs} == dict.fromkeys(
        specs, NO_WORKER
    )
    assert not [
        line for line in stack.logs.process_log("scheduler").splitlines()
        if "Received executor event" in line and f"dag_id='{SENSOR_DAG}'" in line
    ]  # fmt: skip
    for worker in WORKERS:
        assert SENSOR_DAG not in stack.logs.process_log(worker), (
            f"{worker} ran a sensor started in the triggerer"
        )
    for task_id, log in failure_logs(stack, SENSOR_DAG, run_id, specs).items():
        assert specs[task_id].error_message in log
    starts = sum(starts_by_task(emulator, specs).values())
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
        seconds_to_all_deferred=round(deferred.seconds, 1),
        seconds_kill_to_survivor_polling_all=round(failover.seconds, 1),
        seconds_jobs_ended_to_tasks_ended=round(ended.seconds, 1),
    )


def task_states_of_dag(stack: AirflowStack, dag_id: str) -> list[str | None]:
    return [
        state for (state,) in stack.db.query("SELECT state FROM task_instance WHERE dag_id = ?", (dag_id,))
    ]


@pytest.mark.timeout(900)
def test_quota_contention_jobs_run_one_after_another_and_waiting_holds_no_worker_slot(
    topology: Production, request: pytest.FixtureRequest
) -> None:
    stack, emulator = topology.stack, topology.quota_emulator.emulator
    emulator.add_id_mapping_workflow(
        QUOTA_WORKFLOW, JobScript.succeeded({"inputRecords": 5}, running_seconds=3)
    )
    started = time.monotonic()
    run_ids = [stack.api.trigger_dag(QUOTA_DAG, f"prod__quota_{index:02d}") for index in range(QUOTA_RUNS)]

    # Sample the tasks' states while they contend: a task waiting for its turn must be deferred.
    samples: list[dict[str, int]] = []

    def all_ended() -> bool:
        stack.processes.check_alive()
        states = task_states_of_dag(stack, QUOTA_DAG)
        samples.append({state or "none": states.count(state) for state in set(states)})
        if any(state in ("failed", "upstream_failed") for state in states):
            raise AssertionError(f"a task of {QUOTA_DAG} failed: {states}")
        return len(states) == QUOTA_RUNS and all(state == "success" for state in states)

    wait_for(f"the {QUOTA_RUNS} runs of {QUOTA_DAG} to succeed", all_ended, 600, 0.5, stack.logs.hint())
    wall = time.monotonic() - started

    rows = stack.db.query("SELECT try_number, state FROM task_instance WHERE dag_id = ?", (QUOTA_DAG,))
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
        text = stack.logs.task_log(QUOTA_DAG, run_id, "map_quota", attempt=1)
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
        exited = stack.processes.exited()
        if unexpected := [name for name in exited if name not in may_exit]:
            stack.processes.check_alive(unexpected)
        for name in exited:
            restarted.append(name)
            last_exit[0] = time.monotonic()
            if name in TRIGGERERS:
                topology.restart_triggerer(name, check_others=False)
            else:
                stack.processes.start(name)
        if time.monotonic() - last_exit[0] < quiet_for:
            return False
        with contextlib.suppress(StackError):
            stack.wait_until_healthy(timeout=5)
            return True
        return False

    wait_for("every component to be healthy again", settled, timeout, interval=1, hint=stack.logs.hint())
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
    run_id = defer_a_run(topology, dag_id, specs, timeout=600).run_id
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
        hint=stack.logs.hint(),
    )
    still_deferred = task_rows(stack, dag_id, run_id)
    assert {row[0] for row in still_deferred.values()} == {"deferred"}, still_deferred

    ended = end_jobs_and_wait(topology, dag_id, run_id, specs, 300)
    assert {row[1] for row in ended.rows.values()} == {1}, "every task ended in its first try"
    starts = starts_by_task(emulator, specs)
    assert starts == dict.fromkeys(specs, 1), "no start repeated across the DB restart"
    for task_id, log in failure_logs(stack, dag_id, run_id, specs, attempt=1, triggers=False).items():
        assert specs[task_id].error_message in log
    record(
        request,
        tasks=len(specs),
        failed_jobs=sum(1 for s in tasks if s.error_message),
        starts=sum(starts.values()),
        ended_with_their_jobs_outcome=ended.with_their_jobs_outcome,
        seconds_db_down=down_for,
        seconds_stop_to_started=round(restart_seconds, 1),
        exited_and_restarted=sorted(restarted),
        seconds_jobs_ended_to_tasks_ended=round(ended.seconds, 1),
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
    run_id = stack.api.trigger_dag(dag_id, f"prod__{uuid.uuid4().hex[:12]}")
    ti = stack.wait_for_task_state(dag_id, run_id, "map_ids", {"running"}, timeout=120)
    if moment == "in_flight":
        wait_for("the job to exist", lambda: emulator.jobs(workflow_name), timeout=60, interval=0.1)
    else:
        key = started_job_record_key(dag_id, run_id, "map_ids")
        # The operator records the job right after the start returns: kill as soon as the record is there.
        wait_for("the started job's record", lambda: stack.db.has_variable(key), timeout=60, interval=0.1)
    worker = stack.processes.running_task(ti.id)
    assert worker in WORKERS, f"try 1 of {ti.id} runs on a Celery worker, not {worker}"
    killed = stack.processes.kill(worker)
    killed_at = time.monotonic()
    [job] = emulator.jobs(workflow_name)

    # The scheduler notices the missing heartbeats, fails try 1, and the other worker runs try 2.
    words = f"Job {job.job_id} that an earlier try started is RUNNING: taking it over"

    def took_over() -> bool:
        stack.processes.check_alive(ignoring={worker})
        if emulator.count("StartIdMappingJob", workflow_name) != 1:
            raise AssertionError(f"try 2 started another job: {emulator.jobs(workflow_name)}")
        return words in stack.logs.task_log(dag_id, run_id, "map_ids", attempt=2, triggers=False)

    wait_for("try 2 to take the job over", took_over, timeout=240, hint=stack.logs.hint())
    takeover_seconds = time.monotonic() - killed_at
    # Each try has a task instance ID of its own.
    try_2 = stack.db.task_instance(dag_id, run_id, "map_ids")
    assert try_2 is not None and try_2.try_number == 2
    retried_on = stack.processes.running_task(try_2.id)
    assert retried_on in WORKERS and retried_on != worker, f"try 2 runs on the live worker, not {retried_on}"
    # The lost node comes back, as a deployment's supervisor would bring it, before the next scenario.
    stack.processes.restart(worker)
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
