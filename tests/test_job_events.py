"""
The event triggers' own coroutines against the emulator, on a manual clock: each completion announced once.

The watermark goes through the triggerer's real request handler, in process: the supervisor
comms that a triggerer gives its triggers answer each request with
``TriggerRunnerSupervisor._handle_request`` and the in-process Execution API, on the suite's
metadata DB. On Airflow 3.3 the shared stream runs in Airflow's own ``SharedStreamManager``,
with each event confirmed persisted as the triggerer's supervisor confirms it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import types
from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import AIRFLOW_3, FAILURE_MESSAGE

from airflow_entityresolution.compat import SHARED_STREAMS
from airflow_entityresolution.emulator import Fault, JobScript, ManualClock
from airflow_entityresolution.validation import InvalidParameterError

WORKFLOW = "customer-matching"
METRICS = {"inputRecords": 10, "totalRecordsProcessed": 10, "recordsNotProcessed": 0, "matchIDs": 4}
POLL = 0.05
needs_airflow_3 = pytest.mark.skipif(not AIRFLOW_3, reason="asset watchers need Airflow 3")
needs_shared_streams = pytest.mark.skipif(not SHARED_STREAMS, reason="shared streams are new in Airflow 3.3")


@pytest.fixture
def entity_resolution_clock() -> ManualClock:
    # Hours behind the real clock, so that the jobs have ended by the triggerer's clock too (look_back).
    return ManualClock(wall_start=time.time() - 10_000)


@pytest.fixture(autouse=True)
def short_commit_delay(monkeypatch):
    """Polls a few milliseconds apart: the watermark of ``run()`` takes announced jobs as soon after."""
    if AIRFLOW_3:
        from airflow_entityresolution import job_events

        monkeypatch.setattr(job_events, "COMMIT_DELAY_SECONDS", POLL)


@pytest.fixture
def emulator(entity_resolution_emulator):
    entity_resolution_emulator.add_matching_workflow(WORKFLOW, JobScript.succeeded(METRICS))
    return entity_resolution_emulator


@pytest.fixture
def supervisor_comms(airflow_db, monkeypatch) -> None:
    """The comms of a triggerer's runner, answered by the triggerer supervisor's own request handler."""
    from airflow.jobs.triggerer_job_runner import TriggerRunnerSupervisor, in_process_api_server
    from airflow.models.variable import Variable
    from airflow.sdk.api.client import Client
    from airflow.sdk.execution_time import task_runner
    from airflow.utils.session import create_session

    with create_session() as session:
        session.query(Variable).delete()
    answers: list[Any] = []
    supervisor = types.SimpleNamespace(send_msg=lambda resp, **_: answers.append(resp))
    # Built as TriggerRunnerSupervisor.client builds it: the Execution API served in process.
    supervisor.client = Client(
        base_url=None, token="", dry_run=True, transport=in_process_api_server().transport
    )
    supervisor.client.base_url = "http://in-process.invalid./"

    class Comms:
        def send(self, message: Any) -> Any:
            # As Airflow's in-process supervisor does for dag.test(): the API server's own lookups
            # would take a set SUPERVISOR_COMMS for a task's. In the loop's thread, with no await,
            # no trigger sees it unset.
            del task_runner.SUPERVISOR_COMMS
            try:
                TriggerRunnerSupervisor._handle_request(supervisor, message, None, 0)
            finally:
                task_runner.SUPERVISOR_COMMS = self
            return answers.pop() if answers else None

        async def asend(self, message: Any) -> Any:
            return self.send(message)

    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", Comms(), raising=False)


def watermarks() -> dict[str, dict]:
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session

    with create_session() as session:
        return {
            row.key: json.loads(row.get_val())
            for row in session.query(Variable).all()
            if row.key.startswith("entityresolution-watermark-")
        }


def watermark_descriptions() -> list[str]:
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session

    with create_session() as session:
        return sorted(
            row.description
            for row in session.query(Variable).all()
            if row.key.startswith("entityresolution-")
        )


def event_trigger(**kwargs: Any) -> Any:
    from airflow_entityresolution.triggers import EntityResolutionMatchingJobEventTrigger

    return EntityResolutionMatchingJobEventTrigger(
        **{"workflow_name": WORKFLOW, "waiter_delay": POLL, **kwargs}
    )


class Watcher:
    """A trigger's ``run()``, pulled in the background as the triggerer pulls it."""

    def __init__(self, events: AsyncIterator[Any]) -> None:
        self.payloads: list[dict] = []
        self._task = asyncio.ensure_future(self._pull(events))

    async def _pull(self, events: AsyncIterator[Any]) -> None:
        async for event in events:
            # What reaches the metadata DB is JSON: the payload must survive the trip as it is.
            assert json.loads(json.dumps(event.payload)) == event.payload
            self.payloads.append(event.payload)

    @property
    def job_ids(self) -> list[str]:
        return [payload["job_id"] for payload in self.payloads]

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def polls(emulator: Any, count: int, watcher: Watcher | None = None, pages: int = 1) -> None:
    """Wait until the workflow was listed ``count`` more times, each over ``pages`` pages."""

    def answered() -> int:
        return sum(r.operation == "ListMatchingJobs" and r.status == 200 for r in emulator.requests)

    target = answered() + count * pages
    deadline = time.monotonic() + 60
    while answered() < target:
        if watcher is not None and watcher._task.done():
            watcher._task.result()
        assert time.monotonic() < deadline, f"the workflow was not listed {count} more times within 60 s"
        await asyncio.sleep(0.01)


def plan_jobs(emulator: Any, *scripts: JobScript, every: float = 10.0) -> list[str]:
    return [emulator.start_job_after(WORKFLOW, every * (i + 1), script) for i, script in enumerate(scripts)]


FIVE_JOBS = (
    JobScript.succeeded(METRICS),
    JobScript.failed(FAILURE_MESSAGE),
    JobScript.succeeded(METRICS),
    JobScript.failed(FAILURE_MESSAGE),
    JobScript.succeeded(METRICS),
)


@needs_airflow_3
async def test_only_succeeded_jobs_are_announced_by_default_each_once_with_its_metrics(
    emulator, supervisor_comms, entity_resolution_clock
):
    watcher = Watcher(event_trigger().run())
    await polls(emulator, 2, watcher)
    job_ids = plan_jobs(emulator, *FIVE_JOBS)
    entity_resolution_clock.advance(100)
    await polls(emulator, 3, watcher)
    await watcher.stop()
    assert watcher.job_ids == [job_ids[0], job_ids[2], job_ids[4]]
    for payload in watcher.payloads:
        assert (payload["workflow_name"], payload["kind"], payload["outcome"]) == (
            WORKFLOW,
            "matching",
            "succeeded",
        )
        assert payload["status"] == "success"
        assert payload["job"]["status"] == "SUCCEEDED"
        assert payload["job"]["metrics"] == METRICS
        assert isinstance(payload["job"]["endTime"], str)
        assert payload["message"] is None
    assert emulator.count("GetMatchingJob") == 3, "one Get per announced job"
    [watermark] = watermarks().values()
    assert set(job_ids[0::2]) <= set(watermark["known"])


@needs_airflow_3
async def test_failed_jobs_are_announced_when_asked_with_the_service_message(
    emulator, supervisor_comms, entity_resolution_clock
):
    watcher = Watcher(event_trigger(statuses=["FAILED"]).run())
    await polls(emulator, 2, watcher)
    job_ids = plan_jobs(emulator, *FIVE_JOBS)
    entity_resolution_clock.advance(100)
    await polls(emulator, 3, watcher)
    await watcher.stop()
    assert watcher.job_ids == [job_ids[1], job_ids[3]]
    for payload in watcher.payloads:
        assert (payload["outcome"], payload["status"], payload["message"]) == (
            "failed",
            "error",
            FAILURE_MESSAGE,
        )
        assert payload["job"]["errorDetails"] == {"errorMessage": FAILURE_MESSAGE}


def sixty_past_jobs(emulator: Any, clock: ManualClock) -> list[Any]:
    plan_jobs(emulator, *[JobScript.succeeded(METRICS, running_seconds=5)] * 60, every=100)
    clock.advance(6100)
    jobs = emulator.jobs(WORKFLOW)
    assert [job.status for job in jobs] == ["SUCCEEDED"] * 60
    return jobs


@needs_airflow_3
async def test_sixty_past_jobs_over_three_pages_are_not_announced(
    emulator, supervisor_comms, entity_resolution_clock
):
    sixty_past_jobs(emulator, entity_resolution_clock)
    watcher = Watcher(event_trigger().run())
    await polls(emulator, 3, watcher, pages=3)
    await watcher.stop()
    assert watcher.payloads == []
    assert emulator.count("GetMatchingJob") == 0


@needs_airflow_3
async def test_a_look_back_announces_the_past_jobs_inside_its_window(
    emulator, supervisor_comms, entity_resolution_clock
):
    jobs = sixty_past_jobs(emulator, entity_resolution_clock)
    # Its start falls between two jobs' ends, which are 100 s apart: however slow the test, one side.
    window = time.time() - (entity_resolution_clock.wall_time(0) + 3050)
    inside = [job.job_id for job in jobs if job.end_time > time.time() - window]
    assert 0 < len(inside) < 60
    watcher = Watcher(event_trigger(look_back=window).run())
    await polls(emulator, 2, watcher, pages=3)
    await watcher.stop()
    assert watcher.job_ids == inside


@needs_airflow_3
async def test_a_restarted_watcher_announces_nothing_twice_and_what_ended_while_it_was_down_once(
    emulator, supervisor_comms, entity_resolution_clock
):
    first = Watcher(event_trigger().run())
    await polls(emulator, 2, first)
    before, while_down, after = plan_jobs(emulator, *[JobScript.succeeded(METRICS)] * 3, every=100)
    entity_resolution_clock.advance(150)
    await polls(emulator, 2, first)
    await first.stop()  # the triggerer dies between two completions

    entity_resolution_clock.advance(100)
    second = Watcher(
        event_trigger().run()
    )  # a new trigger instance: another triggerer, or the same restarted
    await polls(emulator, 2, second)
    entity_resolution_clock.advance(100)
    await polls(emulator, 2, second)
    await second.stop()
    assert (first.job_ids, second.job_ids) == ([before], [while_down, after])


@needs_airflow_3
@pytest.mark.parametrize("fault", [Fault.throttle, Fault.server_error])
async def test_listing_that_fails_for_a_while_loses_and_doubles_nothing(
    emulator, supervisor_comms, entity_resolution_clock, fault
):
    watcher = Watcher(event_trigger(botocore_config={"retries": {"max_attempts": 1}}).run())
    await polls(emulator, 2, watcher)
    job_ids = plan_jobs(emulator, *[JobScript.succeeded(METRICS)] * 3)
    emulator.inject(fault(count=6, operation="ListMatchingJobs"))
    entity_resolution_clock.advance(100)
    await polls(emulator, 3, watcher)
    await watcher.stop()
    assert watcher.job_ids == job_ids
    assert sum(r.fault is not None for r in emulator.requests) == 6


@needs_airflow_3
async def test_a_job_get_still_shows_running_is_announced_once_at_a_later_poll(
    emulator, supervisor_comms, entity_resolution_clock
):
    watcher = Watcher(event_trigger().run())
    await polls(emulator, 2, watcher)
    [job_id] = plan_jobs(emulator, JobScript.succeeded(METRICS))
    # The List shows the job ended; the Get, answered from a replica behind it, still says RUNNING.
    emulator.inject(Fault.status_override("RUNNING", count=1, operation="GetMatchingJob"))
    entity_resolution_clock.advance(100)
    await polls(emulator, 3, watcher)
    await watcher.stop()
    assert watcher.job_ids == [job_id]
    assert watcher.payloads[0]["job"]["status"] == "SUCCEEDED"
    assert emulator.count("GetMatchingJob") == 2


@needs_airflow_3
async def test_a_listing_refused_for_a_while_keeps_the_watcher_polling(
    emulator, supervisor_comms, entity_resolution_clock
):
    watcher = Watcher(event_trigger().run())
    await polls(emulator, 2, watcher)
    # A role without the permission, fixed two polls later: the triggerer would restart a raising watcher
    # at once, again and again, so it waits the interval and lists again.
    emulator.inject(Fault.access_denied(count=2, operation="ListMatchingJobs"))
    job_ids = plan_jobs(emulator, *[JobScript.succeeded(METRICS)] * 2)
    entity_resolution_clock.advance(100)
    await polls(emulator, 3, watcher)
    assert not watcher._task.done(), "the watcher still runs"
    await watcher.stop()
    assert watcher.job_ids == job_ids
    assert [r.error_code for r in emulator.requests if r.fault is not None] == ["AccessDeniedException"] * 2


@needs_airflow_3
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"statuses": ["RUNNING"]},
            "Invalid statuses=['RUNNING']: expected a non-empty list of end statuses",
        ),
        ({"statuses": "SUCCEEDED"}, "Invalid statuses='SUCCEEDED'"),
        ({"statuses": []}, "Invalid statuses=[]"),
        ({"waiter_delay": 0}, "Invalid waiter_delay=0: expected a number of seconds > 0"),
        ({"look_back": -1}, "Invalid look_back=-1: expected a number of seconds >= 0"),
        ({"look_back": 604801}, "Invalid look_back=604801: expected a number of seconds >= 0 and <= 604800"),
        ({"look_back": float("inf")}, "Invalid look_back=inf"),
        ({"waiter_delay": float("nan")}, "Invalid waiter_delay=nan"),
        ({"workflow_name": "bad name"}, "Invalid workflow_name='bad name'"),
    ],
)
def test_bad_parameters_are_refused_before_any_request(emulator, kwargs, message):
    with pytest.raises(InvalidParameterError, match=message.replace("[", r"\[").replace("]", r"\]")):
        event_trigger(**kwargs)
    assert emulator.requests == []


@needs_airflow_3
def test_serialize_round_trips_as_plain_json_and_holds_no_secret(emulator):
    trigger = event_trigger(statuses=("SUCCEEDED", "FAILED"), region_name="eu-west-1")
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_entityresolution.triggers.EntityResolutionMatchingJobEventTrigger"
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert kwargs["statuses"] == ["FAILED", "SUCCEEDED"]
    assert type(trigger)(**kwargs).serialize() == (classpath, kwargs)
    assert set(kwargs) == {
        "workflow_name", "statuses", "waiter_delay", "look_back",
        "aws_conn_id", "region_name", "verify", "botocore_config",
    }  # fmt: skip
    assert "testing" not in json.dumps(kwargs), "credentials stay in the connection"


@needs_airflow_3
def test_watchers_alike_in_how_they_list_share_a_stream_key_that_shows_no_secret(emulator):
    proxy = {"proxies": {"https": "http://user:proxy-password@proxy.internal:3128"}}
    key = event_trigger(botocore_config=proxy).shared_stream_key()
    assert key == event_trigger(botocore_config=proxy, look_back=60, statuses=["FAILED"]).shared_stream_key()
    assert key != event_trigger(botocore_config=proxy, waiter_delay=POLL * 2).shared_stream_key()
    assert key != event_trigger(botocore_config=proxy, workflow_name="other-workflow").shared_stream_key()
    assert "proxy-password" not in repr(key), "Airflow logs the key"
    assert WORKFLOW in key, "the log still names the workflow"


@needs_shared_streams
async def test_on_a_shared_stream_two_watchers_share_one_poll_and_the_watermark_moves_once_persisted(
    emulator, supervisor_comms, entity_resolution_clock
):
    from airflow.triggers.shared_stream import SharedStreamManager

    manager = SharedStreamManager()
    confirmed: list[int] = []

    def subscribe(trigger_id: int, trigger: Any) -> Watcher:
        key = trigger.shared_stream_key()
        stream = trigger.filter_shared_stream(
            manager.subscribe(trigger_id=trigger_id, trigger=trigger, key=key)
        )

        async def persisted() -> AsyncIterator[Any]:
            async for event in stream:
                # As the triggerer does: bind the event, then confirm it once stored in the DB.
                seq = manager.bind_pending_event(trigger_id=trigger_id, key=key)
                assert seq is not None, "ack mode binds every event"
                yield event
                confirmed.append(seq)
                manager.confirm_persisted([seq])

        return Watcher(persisted())

    both = [subscribe(1, event_trigger()), subscribe(2, event_trigger(statuses=["SUCCEEDED", "FAILED"]))]
    await polls(emulator, 2, both[0])
    job_ids = plan_jobs(emulator, *FIVE_JOBS)
    lists_before = emulator.count("ListMatchingJobs")
    entity_resolution_clock.advance(100)
    await polls(emulator, 3, both[0])
    for watcher in both:
        await watcher.stop()
    await manager.stop_all()
    assert (both[0].job_ids, both[1].job_ids) == (job_ids[0::2], job_ids)
    assert emulator.count("ListMatchingJobs") - lists_before == 3, "one List per interval for both"
    assert emulator.count("GetMatchingJob") == 5, "one Get per job, shared by the watchers that announce it"
    assert len(confirmed) == 8
    assert sorted(len(w["known"]) for w in watermarks().values()) == [3, 5]
    # The producer polls with the first watcher's arguments; each Variable still describes its own watcher.
    descriptions = watermark_descriptions()
    assert "(FAILED, SUCCEEDED)" in descriptions[0] and "(SUCCEEDED)" in descriptions[1], descriptions


def test_event_triggers_need_airflow_3(emulator):
    if AIRFLOW_3:
        pytest.skip("Airflow 3 has asset watchers")
    import airflow_entityresolution.triggers as triggers

    with pytest.raises(ImportError, match=r"needs Airflow 3\.0\.6 or later"):
        from airflow_entityresolution.triggers import EntityResolutionMatchingJobEventTrigger  # noqa: F401
    assert "EntityResolutionMatchingJobEventTrigger" not in dir(triggers)
    assert triggers.EntityResolutionMatchingJobCompletedTrigger.family.key == "matching"
