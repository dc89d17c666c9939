"""
The fault matrix: every fault the emulator can inject, against the real trigger and the poke-mode sensor.

One table, :data:`SCENARIOS`, says how each fault is injected, how the wait must end, which words
its failure message must hold, and how many requests each fault must have hit. The same table drives
the trigger's ``run()`` coroutine and the sensor in ``mode="poke"`` under Airflow's ``dag.test()``.
Every test also checks that the emulator saw exactly one job start, so that "tasks lost 0, duplicate
starts 0" can be read off each row.
"""

from __future__ import annotations

import copy
import datetime
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pytest
from airflow_sdk import DAG, AirflowSensorTimeout
from conftest import task_states, xcom_value

from airflow_entityresolution.clients import shared_async_clients
from airflow_entityresolution.emulator import EntityResolutionEmulator, Fault, FaultType, JobScript
from airflow_entityresolution.emulator.state import RecordedRequest
from airflow_entityresolution.errors import EntityResolutionRequestError
from airflow_entityresolution.hooks import EntityResolutionHook
from airflow_entityresolution.sensors import EntityResolutionIdMappingJobCompletedSensor
from airflow_entityresolution.triggers import EntityResolutionIdMappingJobCompletedTrigger

WORKFLOW = "fault-matrix"
GET = "GetIdMappingJob"
DELAY = 0.1
"""Seconds between polls: the trigger's ``waiter_delay`` and the sensor's ``poke_interval``."""
GOOD_POLLS = 3
"""Polls answered normally before a mid-wait fault is armed, and after the faults before the job ends."""
RETRIES: dict[str, Any] = {"mode": "standard", "max_attempts": 3}
"""A small retry budget: botocore counts ``max_attempts`` as retries, so 4 attempts in all."""
ATTEMPTS = 4
SLOW_ANSWER_SECONDS = 2.5
READ_TIMEOUT_SECONDS = 0.5
NEVER_ENDING_POLLS = 4
NEVER_ENDING_SENSOR_TIMEOUT = 1.0


@dataclass(frozen=True)
class Scenario:
    """
    One row of the fault matrix.

    :param name: the row's ID.
    :param injection: how the fault is injected, in words (for the reliability table).
    :param outcome: ``success`` when the wait must ride the fault out, ``failure`` when it must fail.
    :param hits: how many requests consumed each family of fault, exactly.
    :param faults: faults armed before the wait starts.
    :param mid_wait: faults armed once the wait has polled :data:`GOOD_POLLS` times.
    :param finish: end the job SUCCEEDED once the faults are spent and :data:`GOOD_POLLS` more polls passed.
    :param fragments: words the failure message must hold; ``{job_id}`` is filled in.
    :param trigger_fragments: further words for the trigger's error event only.
    :param sensor_fragments: further words for the sensor's exception only.
    :param sensor_error: the exception class the sensor's task must fail with.
    :param read_timeout: the client's read timeout, if not botocore's default.
    :param answer_before: the retry after the first faulted request must arrive within this many seconds.
    :param poll_limit: the trigger's ``waiter_max_attempts``.
    :param sensor_timeout: the sensor's ``timeout`` in seconds.
    """

    name: str
    injection: str
    outcome: Literal["success", "failure"]
    hits: Mapping[FaultType, int] | None
    faults: tuple[Fault, ...] = ()
    mid_wait: tuple[Fault, ...] = ()
    finish: bool = True
    fragments: tuple[str, ...] = ()
    trigger_fragments: tuple[str, ...] = ()
    sensor_fragments: tuple[str, ...] = ()
    sensor_error: type[BaseException] = EntityResolutionRequestError
    read_timeout: float | None = None
    answer_before: float | None = None
    poll_limit: int = 100
    sensor_timeout: float = 60

    def botocore_config(self) -> dict[str, Any]:
        """A fresh config dict per wait: botocore rewrites the ``retries`` dict it is given."""
        config: dict[str, Any] = {"retries": copy.deepcopy(RETRIES)}
        if self.read_timeout is not None:
            config["read_timeout"] = self.read_timeout
        return config


SCENARIOS = [
    Scenario(
        "throttle_within_budget",
        "Fault.throttle(count=2) on GetIdMappingJob: 2 x 429 ThrottlingException",
        "success",
        {FaultType.THROTTLE: 2},
        faults=(Fault.throttle(count=2, operation=GET),),
    ),
    Scenario(
        "throttle_past_budget",
        "Fault.throttle(count=6) on GetIdMappingJob: more 429s than the 4 attempts one poll makes",
        "success",
        {FaultType.THROTTLE: 6},
        faults=(Fault.throttle(count=6, operation=GET),),
    ),
    Scenario(
        "throttled_for_good",
        "Fault.throttle(count=None) on GetIdMappingJob: every poll answered 429; "
        "trigger waiter_max_attempts=10, sensor timeout=2s",
        "failure",
        None,
        faults=(Fault.throttle(count=None, operation=GET),),
        finish=False,
        fragments=("ThrottlingException",),
        trigger_fragments=("Rate exceeded", f"still failing after {ATTEMPTS} attempts", "{job_id}"),
        sensor_fragments=("timed out", "Last error: "),
        sensor_error=AirflowSensorTimeout,
        poll_limit=10,
        sensor_timeout=2,
    ),
    Scenario(
        "server_error",
        "Fault.server_error(count=3) on GetIdMappingJob: 3 x 500 InternalServerException",
        "success",
        {FaultType.SERVER_ERROR: 3},
        faults=(Fault.server_error(count=3, operation=GET),),
    ),
    Scenario(
        "dropped_connection",
        "Fault.drop_connection(count=2) on GetIdMappingJob: the socket closes with no response",
        "success",
        {FaultType.DROP_CONNECTION: 2},
        faults=(Fault.drop_connection(count=2, operation=GET),),
    ),
    Scenario(
        "slower_than_read_timeout",
        f"Fault.latency({SLOW_ANSWER_SECONDS}) on one GetIdMappingJob, client read_timeout "
        f"{READ_TIMEOUT_SECONDS}s",
        "success",
        {FaultType.LATENCY: 1},
        faults=(Fault.latency(SLOW_ANSWER_SECONDS, count=1, operation=GET),),
        read_timeout=READ_TIMEOUT_SECONDS,
        answer_before=SLOW_ANSWER_SECONDS - 0.5,
    ),
    Scenario(
        "malformed_body",
        "Fault.malformed_body(count=2) on GetIdMappingJob: 200 with half of the JSON body",
        "success",
        {FaultType.MALFORMED_BODY: 2},
        faults=(Fault.malformed_body(count=2, operation=GET),),
    ),
    Scenario(
        "job_disappears",
        f"Fault.not_found(count=None) armed after {GOOD_POLLS} good polls: 404 ResourceNotFoundException",
        "failure",
        {FaultType.NOT_FOUND: 1},
        mid_wait=(Fault.not_found(count=None, operation=GET),),
        finish=False,
        fragments=("GetIdMappingJob failed for job {job_id}", "ResourceNotFoundException", WORKFLOW),
    ),
    Scenario(
        "permission_revoked",
        f"Fault.access_denied(count=None) armed after {GOOD_POLLS} good polls: 403 AccessDeniedException",
        "failure",
        {FaultType.ACCESS_DENIED: 1},
        mid_wait=(Fault.access_denied(count=None, operation=GET),),
        finish=False,
        fragments=("GetIdMappingJob failed for job {job_id}", "AccessDeniedException", "not authorized"),
    ),
    Scenario(
        "unlisted_status",
        "Fault.status_override('PAUSED', count=3): 3 Gets answer a status the API does not list",
        "success",
        {FaultType.STATUS_OVERRIDE: 3},
        faults=(Fault.status_override("PAUSED", count=3, operation=GET),),
    ),
    Scenario(
        "never_terminal",
        "JobScript.never_finishing(): the job stays RUNNING; trigger waiter_max_attempts="
        f"{NEVER_ENDING_POLLS}, sensor timeout={NEVER_ENDING_SENSOR_TIMEOUT:g}s",
        "failure",
        {},
        finish=False,
        fragments=("{job_id}",),
        trigger_fragments=(f"after {NEVER_ENDING_POLLS} polls", "last status seen: RUNNING"),
        sensor_fragments=("timed out", "Last status seen of job {job_id}: RUNNING."),
        sensor_error=AirflowSensorTimeout,
        poll_limit=NEVER_ENDING_POLLS,
        sensor_timeout=NEVER_ENDING_SENSOR_TIMEOUT,
    ),
]
EACH_SCENARIO = pytest.mark.parametrize("scenario", SCENARIOS, ids=[scenario.name for scenario in SCENARIOS])


@pytest.fixture
def emulator(entity_resolution_emulator: EntityResolutionEmulator) -> EntityResolutionEmulator:
    """The emulator with one workflow whose jobs run until the test ends them."""
    entity_resolution_emulator.add_id_mapping_workflow(WORKFLOW, JobScript.never_finishing())
    return entity_resolution_emulator


def gets(emulator: EntityResolutionEmulator) -> list[RecordedRequest]:
    return [request for request in emulator.requests if request.operation == GET]


def fault_hits(emulator: EntityResolutionEmulator) -> Counter[FaultType]:
    """Count the requests that consumed an injected fault, by family."""
    return Counter(request.fault.type for request in emulator.requests if request.fault is not None)


class Director:
    """
    Drives the emulator from a thread while a wait runs, the way the world changes under a real wait.

    It arms the scenario's mid-wait faults once the wait has polled :data:`GOOD_POLLS` times, and
    ends the job SUCCEEDED once the faults are spent and :data:`GOOD_POLLS` more polls passed, so
    every fault hits a job that is still RUNNING however slowly the test starts.
    """

    def __init__(self, emulator: EntityResolutionEmulator, job_id: str, scenario: Scenario) -> None:
        self.emulator = emulator
        self.job_id = job_id
        self.scenario = scenario
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"director-{scenario.name}", daemon=True)

    def __enter__(self) -> Director:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        armed = not self.scenario.mid_wait
        finish_at = sum((self.scenario.hits or {}).values()) + GOOD_POLLS
        deadline = time.monotonic() + 60
        while not self._stop.wait(0.01) and time.monotonic() < deadline:
            polls = self.emulator.count(GET)
            if not armed and polls >= GOOD_POLLS:
                self.emulator.inject(*self.scenario.mid_wait)
                armed = True
            if self.scenario.finish and polls >= finish_at:
                self.emulator.finish_job(self.job_id)
                return


def start_job() -> str:
    return EntityResolutionHook().start_id_mapping_job(WORKFLOW)


def check_emulator_saw(emulator: EntityResolutionEmulator, scenario: Scenario, job_id: str) -> None:
    """The checks every row shares: one job started, each fault hit exactly as often as it should."""
    assert emulator.count("StartIdMappingJob") == 1, "exactly one start: no duplicate job"
    assert [job.job_id for job in emulator.jobs()] == [job_id]
    if scenario.hits is None:
        assert fault_hits(emulator), "the fault hit the wait"
    else:
        assert fault_hits(emulator) == Counter(scenario.hits)
    polls = gets(emulator)
    assert all(request.job_id == job_id for request in polls)
    if scenario.mid_wait:
        assert [request.status for request in polls[:GOOD_POLLS]] == [200] * GOOD_POLLS, (
            "the fault hit a wait that was under way"
        )
        assert polls[-1].fault is not None, "no poll after the permanent error"
    if scenario.answer_before is not None:
        slow = next(index for index, request in enumerate(polls) if request.fault is not None)
        gap = polls[slow + 1].time - polls[slow].time
        assert gap < scenario.answer_before, f"the client retried after {gap:.2f}s, not at its read timeout"
    if scenario.finish:
        assert emulator.jobs()[0].status == "SUCCEEDED"


def check_message(message: str, fragments: tuple[str, ...], job_id: str) -> None:
    for fragment in fragments:
        assert fragment.format(job_id=job_id) in message, f"{fragment!r} not in {message!r}"


@EACH_SCENARIO
async def test_trigger_rides_out_or_reports_the_fault(
    emulator: EntityResolutionEmulator, scenario: Scenario
) -> None:
    """The trigger's real ``run()`` yields one event with the outcome and message the row expects."""
    job_id = start_job()
    emulator.inject(*scenario.faults)
    trigger = EntityResolutionIdMappingJobCompletedTrigger(
        WORKFLOW,
        job_id,
        waiter_delay=DELAY,
        waiter_max_attempts=scenario.poll_limit,
        botocore_config=scenario.botocore_config(),
    )
    with Director(emulator, job_id, scenario):
        events = [event.payload async for event in trigger.run()]

    assert len(events) == 1, "exactly one event per wait"
    [event] = events
    assert json.loads(json.dumps(event)) == event
    assert (event["workflow_name"], event["job_id"]) == (WORKFLOW, job_id)
    if scenario.outcome == "success":
        assert event["outcome"] == "succeeded", event["message"]
        assert event["job"]["status"] == "SUCCEEDED"
    else:
        # Polls that ran out end in a timeout event, like a sensor timeout; other failures in an error.
        expected = "timeout" if scenario.poll_limit == NEVER_ENDING_POLLS else "error"
        assert event["outcome"] == expected
        assert event["job"] is None
        check_message(event["message"], scenario.fragments + scenario.trigger_fragments, job_id)
    check_emulator_saw(emulator, scenario, job_id)
    if scenario.poll_limit == NEVER_ENDING_POLLS:
        assert emulator.count(GET) == NEVER_ENDING_POLLS, "one Get per allowed poll, then it gave up"
    assert len(shared_async_clients) == 0, "the shared client is closed once the wait ends"


def sensor_dag(scenario: Scenario, job_id: str, on_failure: Callable[[Any], None]) -> DAG:
    with DAG(
        f"fault_matrix_{scenario.name}",
        schedule=None,
        start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
    ) as dag:
        EntityResolutionIdMappingJobCompletedSensor(
            task_id="wait",
            workflow_name=WORKFLOW,
            job_id=job_id,
            mode="poke",
            poke_interval=DELAY,
            timeout=scenario.sensor_timeout,
            retries=0,
            botocore_config=scenario.botocore_config(),
            on_failure_callback=on_failure,
        )
    return dag


@EACH_SCENARIO
def test_poke_sensor_rides_out_or_reports_the_fault(
    run_dag: Callable[..., Any], emulator: EntityResolutionEmulator, failures: Any, scenario: Scenario
) -> None:
    """The sensor in poke mode, under ``dag.test()``, ends in the row's outcome and message."""
    job_id = start_job()
    emulator.inject(*scenario.faults)
    with Director(emulator, job_id, scenario):
        dag_run = run_dag(sensor_dag(scenario, job_id, failures))

    if scenario.outcome == "success":
        assert task_states(dag_run) == {"wait": "success"}
        description = xcom_value(dag_run, "wait")
        assert (description["jobId"], description["status"]) == (job_id, "SUCCEEDED")
        assert failures.exceptions == {}
    else:
        assert task_states(dag_run) == {"wait": "failed"}
        error = failures.exceptions["wait"]
        assert isinstance(error, scenario.sensor_error), repr(error)
        check_message(str(error), scenario.fragments + scenario.sensor_fragments, job_id)
    check_emulator_saw(emulator, scenario, job_id)
