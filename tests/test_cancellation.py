"""
Cancelling the real trigger's ``run()``, as the triggerer does when a deferred task is failed or cleared.

A cancelled wait must close what it opened (no unclosed client session or connector, no stray
asyncio task, no warning about either) and stop polling, without disturbing the other waits that
share its client.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import logging
import time
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from airflow_entityresolution.clients import shared_async_clients
from airflow_entityresolution.emulator import EntityResolutionEmulator, Fault, JobScript
from airflow_entityresolution.hooks import EntityResolutionHook
from airflow_entityresolution.triggers import EntityResolutionIdMappingJobCompletedTrigger

WORKFLOW = "cancel-me"
GET = "GetIdMappingJob"
DELAY = 0.3
LEAK_WORDS = ("Unclosed client session", "Unclosed connector", "Task was destroyed but it is pending")


@pytest.fixture
def emulator(entity_resolution_emulator: EntityResolutionEmulator) -> EntityResolutionEmulator:
    """The emulator with a workflow whose job runs until the test ends it."""
    entity_resolution_emulator.add_id_mapping_workflow(WORKFLOW, JobScript.never_finishing())
    return entity_resolution_emulator


@pytest.fixture
def job_id(emulator: EntityResolutionEmulator) -> str:
    return EntityResolutionHook().start_id_mapping_job(WORKFLOW)


def trigger(job_id: str) -> EntityResolutionIdMappingJobCompletedTrigger:
    """A trigger as the triggerer builds it: its own copy of the serialized settings."""
    return EntityResolutionIdMappingJobCompletedTrigger(
        WORKFLOW,
        job_id,
        waiter_delay=DELAY,
        waiter_max_attempts=1000,
        botocore_config=copy.deepcopy({"retries": {"mode": "standard", "max_attempts": 3}}),
    )


async def events_of(trigger_: EntityResolutionIdMappingJobCompletedTrigger) -> list[dict[str, Any]]:
    return [event.payload async for event in trigger_.run()]


async def wait_until(condition: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the wait to get that far"
        await asyncio.sleep(0.005)


class LeakReport:
    """What a :func:`leak_watch` block left behind: warnings and log lines about unclosed resources."""

    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.log_lines: list[str] = []

    @property
    def leaks(self) -> list[str]:
        found = self.warnings + self.log_lines
        return [line for line in found if any(word in line for word in LEAK_WORDS)]


@asynccontextmanager
async def leak_watch(caplog: pytest.LogCaptureFixture) -> AsyncIterator[LeakReport]:
    """
    Record ResourceWarnings and asyncio/aiohttp log lines while the block runs and a GC pass after it.

    It also checks that the block left no asyncio task of its own pending.
    """
    report = LeakReport()
    tasks_before = asyncio.all_tasks()
    caplog.set_level(logging.DEBUG, logger="asyncio")
    caplog.set_level(logging.DEBUG, logger="aiohttp")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield report
        # Let closed transports finish closing, then make the collector run any __del__ that would warn.
        await asyncio.sleep(0.05)
        gc.collect()
        await asyncio.sleep(0)
    report.warnings = [f"{item.category.__name__}: {item.message}" for item in caught]
    report.log_lines = [
        record.getMessage()
        for record in caplog.records
        if record.name.split(".")[0] in ("asyncio", "aiohttp")
    ]
    stray = {task for task in asyncio.all_tasks() - tasks_before if not task.done()}
    assert not stray, f"tasks left pending: {stray}"


async def test_the_leak_watch_sees_an_unclosed_session(caplog: pytest.LogCaptureFixture) -> None:
    """The watch is not blind: an aiohttp session dropped unclosed shows up in it."""
    import aiohttp

    async with leak_watch(caplog) as report:
        session = aiohttp.ClientSession()
        del session
    assert any("Unclosed client session" in line for line in report.warnings)
    assert any("Unclosed client session" in line for line in report.log_lines)


@pytest.mark.parametrize("moment", ["between_polls", "during_a_request"])
async def test_a_cancelled_wait_closes_its_client_and_stops_polling(
    emulator: EntityResolutionEmulator, job_id: str, caplog: pytest.LogCaptureFixture, moment: str
) -> None:
    """Cancelled between two polls, or while a slow Get is in flight: nothing stays open, polling stops."""
    async with leak_watch(caplog) as report:
        task = asyncio.create_task(events_of(trigger(job_id)))
        await wait_until(lambda: emulator.count(GET) >= 2)
        if moment == "during_a_request":
            emulator.inject(Fault.latency(3.0, count=1, operation=GET))
            await wait_until(lambda: any(request.fault for request in emulator.requests))
        else:
            await asyncio.sleep(0.05)  # the second answer is in; the wait sleeps until the next poll
        assert len(shared_async_clients) == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert task.cancelled()
        assert len(shared_async_clients) == 0, "the cancelled wait released and closed the shared client"
        polls = emulator.count(GET)
        await asyncio.sleep(4 * DELAY)
        assert emulator.count(GET) == polls, "no poll after the cancellation"
    assert report.leaks == []
    assert emulator.count("StartIdMappingJob") == 1
    assert [job.status for job in emulator.jobs()] == ["RUNNING"], "cancelling a wait does not touch the job"


async def test_cancelling_half_of_the_waits_leaves_the_others_on_the_shared_client(
    emulator: EntityResolutionEmulator, job_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Eight waits share one client; four are cancelled; the other four still get their success event."""
    async with leak_watch(caplog) as report:
        tasks = [asyncio.create_task(events_of(trigger(job_id))) for _ in range(8)]
        await wait_until(lambda: emulator.count(GET) >= 16)
        assert len(shared_async_clients) == 1, "one client for every wait with the same connection"
        cancelled, kept = tasks[::2], tasks[1::2]
        for task in cancelled:
            task.cancel()
        await asyncio.wait(cancelled)
        assert all(task.cancelled() for task in cancelled)
        assert len(shared_async_clients) == 1, "the remaining waits keep the client open"
        polls = emulator.count(GET)
        await wait_until(lambda: emulator.count(GET) >= polls + len(kept))
        assert not any(task.done() for task in kept)

        emulator.finish_job(job_id)
        results = await asyncio.wait_for(asyncio.gather(*kept), timeout=15)
        assert len(shared_async_clients) == 0, "the last wait closed the shared client"
    assert [[event["outcome"] for event in events] for events in results] == [["succeeded"]] * len(kept)
    assert all(events[0]["job_id"] == job_id for events in results)
    assert report.leaks == []
    assert emulator.count("StartIdMappingJob") == 1


@pytest.mark.parametrize("companion", [False, True], ids=["alone", "with_a_companion"])
async def test_cancelling_while_the_shared_client_opens_leaves_nothing_open(
    emulator: EntityResolutionEmulator,
    job_id: str,
    caplog: pytest.LogCaptureFixture,
    companion: bool,
) -> None:
    """Cancelled before its client has opened: the opening completes and is closed; a companion goes on."""
    async with leak_watch(caplog) as report:
        others = [asyncio.create_task(events_of(trigger(job_id)))] if companion else []
        task = asyncio.create_task(events_of(trigger(job_id)))
        await wait_until(lambda: len(shared_async_clients) == 1, timeout=5)
        # White-box look, read only: the client is still opening when the cancellation lands.
        [lease] = shared_async_clients._leases.values()
        assert lease.opening is not None and not lease.opening.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert task.cancelled()
        if companion:
            await wait_until(lambda: emulator.count(GET) >= 2)
            emulator.finish_job(job_id)
            [events] = await asyncio.wait_for(asyncio.gather(*others), timeout=15)
            assert [event["outcome"] for event in events] == ["succeeded"]
        else:
            await asyncio.sleep(3 * DELAY)
            assert emulator.count(GET) == 0, "the cancelled wait never polled"
        assert len(shared_async_clients) == 0
    assert report.leaks == []
    assert emulator.count("StartIdMappingJob") == 1
