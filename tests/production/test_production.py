"""
The provider's promises on the production topology: PostgreSQL, Celery on Redis with two workers,
two triggerers, the emulator in its own process (see ``conftest.py``).

One topology serves the module, each scenario with its own DAG and workflows. Each test counts what
the service saw from the emulator's request log and what Airflow recorded from the metadata DB,
and records its figures, which the run's summary prints (RELIABILITY.md quotes them).
"""

from __future__ import annotations

import textwrap
import time
import uuid
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

import pytest
from e2e.airflow_processes import TERMINAL_TASK_STATES, AirflowStack, wait_for

from airflow_entityresolution.emulator import JobScript

from .conftest import TRIGGERERS, Production, record

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
    def kind(self) -> str:
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
            f"{OPERATOR[self.kind]}(task_id={self.task_id!r}, workflow_name={self.workflow_name!r}, "
            f"deferrable=True, waiter_delay={WAITER_DELAY}{options})\n"
        )


def dag_source(dag_id: str, body: str, imports: str = "", **dag_arguments: object) -> str:
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
            {imports}

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
        f"{kind}_{index:02d}",
        f"prod-failover-{kind}-{index:02d}",
        f"PROD-{kind}-{index:02d}: input table customers has no column named email_address"
        if index % 5 == 4
        else None,
    )
    for kind in ("map", "match")
    for index in range(25)
)

DAG_FILES = {
    FAILOVER_DAG: dag_source(FAILOVER_DAG, "".join(spec.operator_source() for spec in FAILOVER_TASKS)),
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


def trigger_log_of(stack: AirflowStack, dag_id: str, run_id: str, task_id: str, triggerer_job: int) -> str:
    """What a task's trigger logged while one triggerer (by its ``job`` row) ran it."""
    return "".join(
        path.read_text(errors="replace")
        for path in stack.task_log_files(dag_id, run_id, task_id)
        if path.name.endswith(f".trigger.{triggerer_job}.log")
    )


@pytest.mark.timeout(900)
def test_triggerer_failover_every_deferred_task_ends_with_its_jobs_outcome(
    topology: Production, request: pytest.FixtureRequest
) -> None:
    stack, emulator = topology.stack, topology.emulator.emulator
    specs = {spec.task_id: spec for spec in FAILOVER_TASKS}
    for spec in FAILOVER_TASKS:
        if spec.kind == "map":
            emulator.add_id_mapping_workflow(spec.workflow_name, spec.script())
        else:
            emulator.add_matching_workflow(spec.workflow_name, spec.script())
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
        lambda: all(emulator.count(GET_OPERATION[s.kind], s.workflow_name) >= 1 for s in FAILOVER_TASKS),
        timeout=120,
        hint=stack.log_hint(),
    )
    wait_for(
        "the scheduler to process every deferral",
        lambda: drained_executor_events(stack, FAILOVER_DAG, run_id, specs),
        timeout=120,
        hint=stack.log_hint(),
    )
    jobs = dict(topology.triggerer_jobs)
    assignment = triggers_by_triggerer(stack, trigger_of.values())
    share = {name: sum(1 for t in assignment.values() if t == job_id) for name, job_id in jobs.items()}
    assert sum(share.values()) == len(FAILOVER_TASKS), (share, assignment)
    assert all(share.values()), f"the triggers are not spread over both triggerers: {share}"

    victim = max(share, key=lambda name: share[name])
    survivor = next(name for name in TRIGGERERS if name != victim)
    orphans = {trigger_id for trigger_id, triggerer in assignment.items() if triggerer == jobs[victim]}
    orphan_tasks = {task_id for task_id, trigger_id in trigger_of.items() if trigger_id in orphans}
    polls_before = {
        t: emulator.count(GET_OPERATION[specs[t].kind], specs[t].workflow_name) for t in orphan_tasks
    }
    stack.kill(victim)
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
    task_of = {trigger_id: task_id for task_id, trigger_id in trigger_of.items()}

    def not_started_by_survivor() -> list[int]:
        return [
            trigger_id
            for trigger_id in sorted(orphans)
            if f"(ID {trigger_id}) starting"
            not in trigger_log_of(stack, FAILOVER_DAG, run_id, task_of[trigger_id], jobs[survivor])
        ]

    ran_on_victim = [
        trigger_id
        for trigger_id in orphans
        if f"(ID {trigger_id}) starting"
        in trigger_log_of(stack, FAILOVER_DAG, run_id, task_of[trigger_id], jobs[victim])
    ]
    assert sorted(ran_on_victim) == sorted(orphans), "each orphan ran on the killed triggerer first"
    wait_for(
        f"the trigger logs of {survivor} (job {jobs[survivor]}) to show it starting each orphaned trigger",
        lambda: not not_started_by_survivor(),
        timeout=60,
        hint=lambda: f"Not started: {not_started_by_survivor()}. Task logs: {stack.task_log_folder}",
    )
    wait_for(
        "a poll of every orphaned job from the surviving triggerer",
        lambda: all(
            emulator.count(GET_OPERATION[specs[t].kind], specs[t].workflow_name) > polls_before[t]
            for t in orphan_tasks
        ),
        timeout=60,
        hint=stack.log_hint(),
    )
    failover_seconds = time.monotonic() - killed_at

    job_of = {}
    for spec in FAILOVER_TASKS:
        [job] = emulator.jobs(spec.workflow_name)
        assert job.status == "RUNNING", job
        job_of[spec.task_id] = job.job_id
        emulator.finish_job(job.job_id, spec.outcome)
    finished_at = time.monotonic()

    rows = wait_for_states(
        stack, FAILOVER_DAG, run_id, specs, TERMINAL_TASK_STATES.__contains__, "ended", 300, {victim}
    )
    ended_after = time.monotonic() - finished_at
    states = {task_id: row[0] for task_id, row in rows.items()}
    assert states == {task_id: spec.task_state for task_id, spec in specs.items()}
    assert {row[1] for row in rows.values()} == {1}, "every task ended in its first try"
    starts = {t: emulator.count(START_OPERATION[s.kind], s.workflow_name) for t, s in specs.items()}
    assert starts == dict.fromkeys(specs, 1), "one start per task, however the triggerer died"
    for spec in FAILOVER_TASKS:
        [job] = emulator.jobs(spec.workflow_name)
        assert job.status == spec.outcome
        if spec.error_message:
            log = stack.task_log(FAILOVER_DAG, run_id, spec.task_id, attempt=1, triggers=False)
            assert spec.error_message in log, f"{spec.task_id} failed without the service's message"
            assert job_of[spec.task_id] in log
    topology.restart_triggerer(victim)
    record(
        request,
        tasks=len(specs),
        id_mapping=sum(1 for s in FAILOVER_TASKS if s.kind == "map"),
        matching=sum(1 for s in FAILOVER_TASKS if s.kind == "match"),
        failed_jobs=sum(1 for s in FAILOVER_TASKS if s.error_message),
        triggers_per_triggerer=share,
        orphaned_triggers=len(orphans),
        starts=sum(starts.values()),
        lost=0,
        seconds_to_all_deferred=round(deferred_after, 1),
        seconds_kill_to_survivor_polling_all=round(failover_seconds, 1),
        seconds_jobs_ended_to_tasks_ended=round(ended_after, 1),
    )
