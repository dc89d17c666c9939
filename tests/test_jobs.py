"""What a job status means: one place, used by the hook, trigger, sensor and operator."""

from __future__ import annotations

import datetime
import json
import logging

import pytest

from airflow_entityresolution.errors import (
    EntityResolutionError,
    EntityResolutionJobFailedError,
    EntityResolutionWaitTimeoutError,
)
from airflow_entityresolution.events import event_from_error, event_from_state, state_from_event
from airflow_entityresolution.jobs import ID_MAPPING, JobState, job_description
from airflow_entityresolution.polling import PollSchedule, StatusLog

JOB_ID = "0123456789abcdef0123456789abcdef"


def state(status: str, **description) -> JobState:
    return JobState(
        ID_MAPPING, "customer-id-mapping", JOB_ID, {"jobId": JOB_ID, "status": status, **description}
    )


@pytest.mark.parametrize(
    ("status", "terminal", "succeeded", "failed"),
    [
        ("QUEUED", False, False, False),
        ("RUNNING", False, False, False),
        ("SUCCEEDED", True, True, False),
        ("FAILED", True, False, True),
        ("PAUSED", False, False, False),
    ],
)
def test_status_semantics(status, terminal, succeeded, failed):
    observed = state(status)
    assert (observed.is_terminal, observed.succeeded, observed.failed) == (terminal, succeeded, failed)


def test_a_failed_job_raises_with_the_service_message_verbatim():
    message = "Input table 'orders' has no column named \"email\"; check the schema mapping"
    with pytest.raises(EntityResolutionJobFailedError) as info:
        state("FAILED", errorDetails={"errorMessage": message}).raise_if_failed()
    assert message in str(info.value)
    assert JOB_ID in str(info.value)
    assert "'customer-id-mapping'" in str(info.value)
    assert info.value.error_message == message


def test_a_failed_job_without_details_still_says_so():
    with pytest.raises(EntityResolutionJobFailedError, match=r"gave no errorDetails\.errorMessage"):
        state("FAILED").raise_if_failed()


def test_succeeded_and_running_jobs_do_not_raise():
    state("SUCCEEDED").raise_if_failed()
    state("RUNNING").raise_if_failed()


def test_job_description_is_plain_json():
    started = datetime.datetime(2026, 11, 29, 3, 0, tzinfo=datetime.UTC)
    description = job_description(
        {
            "jobId": JOB_ID,
            "status": "RUNNING",
            "startTime": started,
            "ResponseMetadata": {"HTTPStatusCode": 200},
        }
    )
    assert description == {"jobId": JOB_ID, "status": "RUNNING", "startTime": "2026-11-29T03:00:00+00:00"}
    json.dumps(description)


def test_logging_states_status_and_metrics_and_warns_on_unknown_status(caplog):
    log = logging.getLogger("test_jobs")
    with caplog.at_level(logging.INFO, logger="test_jobs"):
        state("RUNNING").log(log)
        state("RUNNING", metrics={"inputRecords": 10}).log(log)
        state("PAUSED").log(log)
    messages = [record.getMessage() for record in caplog.records]
    assert messages[0].endswith("is RUNNING")
    assert "{'inputRecords': 10}" in messages[2]
    assert sum("metrics" in m for m in messages) == 1
    assert any(
        r.levelno == logging.WARNING and "'PAUSED' is not one the API lists" in r.getMessage()
        for r in caplog.records
    )


def test_a_status_log_logs_each_change_and_an_unchanged_status_only_after_its_interval(caplog):
    log = logging.getLogger("test_jobs")
    with caplog.at_level(logging.INFO, logger="test_jobs"):
        changes_only = StatusLog(log)
        for status in ("QUEUED", "RUNNING", "RUNNING", "RUNNING", "SUCCEEDED"):
            changes_only(state(status))
        every_time = StatusLog(log, interval=0)
        for status in ("RUNNING", "RUNNING"):
            every_time(state(status))
    statuses = [record.getMessage().rsplit(" ", 1)[1] for record in caplog.records]
    assert statuses == ["QUEUED", "RUNNING", "SUCCEEDED", "RUNNING", "RUNNING"]


def test_poll_schedule_polls_at_once_then_never_later_than_configured():
    delays = list(PollSchedule(10, 50))
    assert len(delays) == 50
    assert delays[0] == 0
    assert 5 <= delays[1] <= 10
    assert all(9 <= d <= 10 for d in delays[2:])
    assert len(set(delays[2:])) > 1, "delays are jittered"


def test_poll_schedule_timeout_names_the_last_status():
    error = PollSchedule(3, 4).timeout_error(state("RUNNING"))
    assert "after 4 polls 3s apart; last status seen: RUNNING" in str(error)
    assert JOB_ID in str(error)


@pytest.mark.parametrize("status", ["SUCCEEDED", "FAILED"])
def test_events_round_trip_through_json(status):
    original = state(status, errorDetails={"errorMessage": "boom"}, metrics={"inputRecords": 3})
    payload = json.loads(json.dumps(event_from_state(original)))
    assert payload["outcome"] == status.lower()
    assert payload["message"] == ("boom" if status == "FAILED" else None)
    assert state_from_event(ID_MAPPING, payload) == original


def test_an_error_event_raises_its_message():
    payload = event_from_error(
        ID_MAPPING, "customer-id-mapping", JOB_ID, RuntimeError("GetIdMappingJob failed")
    )
    with pytest.raises(EntityResolutionError, match="GetIdMappingJob failed"):
        state_from_event(ID_MAPPING, json.loads(json.dumps(payload)))


def test_a_timeout_event_raises_a_timeout_naming_the_last_status():
    error = PollSchedule(3, 4).timeout_error(state("RUNNING"))
    payload = json.loads(json.dumps(event_from_error(ID_MAPPING, "customer-id-mapping", JOB_ID, error)))
    assert payload["outcome"] == "timeout"
    with pytest.raises(EntityResolutionWaitTimeoutError, match="last status seen: RUNNING"):
        state_from_event(ID_MAPPING, payload)


def test_a_schedule_covering_a_timeout_spans_it_whatever_the_jitter():
    schedule = PollSchedule.covering(10, 0.5)
    assert sum(0.9 * 0.5 for _ in range(schedule.waiter_max_attempts - 1)) >= 10
    assert PollSchedule.covering(10, 0).waiter_max_attempts >= 100


@pytest.mark.parametrize("event", [None, {}, {"status": "success"}])
def test_a_missing_or_foreign_event_raises(event):
    with pytest.raises(EntityResolutionError, match="no usable event"):
        state_from_event(ID_MAPPING, event)


@pytest.mark.parametrize(
    "name",
    ["JobMetrics", "ErrorDetails", "OutputSource", "JobSummary", "JobDescription", "JobEvent", "Outcome"],
)
def test_the_typed_dictionaries_are_served_by_shapes_alone(name):
    from airflow_entityresolution import jobs, shapes

    assert hasattr(shapes, name)
    assert not hasattr(jobs, name)
