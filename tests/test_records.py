"""
The start-once record's rules on their own: claim, then start or adopt, then release.

Each rule runs inside a real task of a DAG that Airflow's ``dag.test()`` runs, against the
emulator, so the record lives in the metadata DB's Variables and a retry is Airflow's own.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
from airflow_sdk import DAG, get_current_context, task
from conftest import start_once_records, task_states, xcom_value

from airflow_entityresolution.emulator import Fault, JobScript
from airflow_entityresolution.errors import EntityResolutionRequestError
from airflow_entityresolution.hooks import EntityResolutionHook
from airflow_entityresolution.jobs import ID_MAPPING
from airflow_entityresolution.records import StartedJobRecord, StartOnce

WORKFLOW = "customer-id-mapping"
LOG = logging.getLogger(__name__)


class TheTryDies(Exception):
    """Ends a try the way a killed worker would: before the try records or releases anything more."""


def start_once(
    context: Any, hook: EntityResolutionHook | None = None, send: Callable[[], str] | None = None
) -> StartOnce:
    """The start-once lifecycle of a task's ID mapping job of WORKFLOW, started by ``send`` or the hook."""
    hook = hook or EntityResolutionHook()
    return StartOnce(
        context,
        hook=hook,
        family=ID_MAPPING,
        workflow_name=WORKFLOW,
        send=send or (lambda: hook.start_id_mapping_job(WORKFLOW)),
        log=LOG,
    )


def try_number() -> int:
    return int(get_current_context()["ti"].try_number)


def one_task_dag(dag_id: str, body: Callable[[], Any], retries: int = 0) -> DAG:
    """A DAG whose one task, ``rule``, runs ``body`` and returns what it returns, with ``retries``."""
    # One XCom for the whole answer: Airflow 3.0 refuses a None value pushed as one of several outputs.
    with DAG(dag_id, schedule=None, start_date=datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)) as dag:
        task(task_id="rule", retries=retries, retry_delay=datetime.timedelta(0), multiple_outputs=False)(
            body
        )()
    return dag


def test_a_first_try_claims_nothing_then_starts_records_and_releases(run_dag, entity_resolution_emulator):
    entity_resolution_emulator.add_id_mapping_workflow(WORKFLOW, JobScript.never_finishing())

    def first_try() -> dict[str, Any]:
        once = start_once(get_current_context())
        claimed = once.claim()
        job_id = once.start()
        kept = once.record.load()
        once.release()
        return {"claimed": claimed, "job_id": job_id, "kept": kept, "released": once.record.load()}

    dag_run = run_dag(one_task_dag("records_first_try", first_try))
    assert task_states(dag_run) == {"rule": "success"}
    [job] = entity_resolution_emulator.jobs()
    seen = xcom_value(dag_run, "rule")
    assert seen["claimed"] is None
    assert seen["job_id"] == job.job_id
    assert seen["kept"]["workflow_name"] == WORKFLOW
    assert seen["kept"]["job_id"] == job.job_id
    assert seen["kept"]["task"] == f"records_first_try.rule/{dag_run.run_id}"
    assert seen["released"] is None
    assert start_once_records() == {}


def test_a_retry_adopts_the_running_job_its_earlier_try_started(run_dag, entity_resolution_emulator):
    entity_resolution_emulator.add_id_mapping_workflow(WORKFLOW, JobScript.never_finishing())

    def start_then_die_then_adopt() -> dict[str, Any]:
        once = start_once(get_current_context())
        if try_number() == 1:
            once.start()
            raise TheTryDies
        written_by = once.written_by_an_earlier_try()
        claimed = once.claim()
        assert claimed is not None
        adopted = once.adopt(claimed)
        seen = {
            "written_by": written_by,
            "status": claimed.status,
            "adopted": adopted,
            "kept_by_try": once.record.load()["try_number"],
            "this_try": try_number(),
            "written_by_after_adopting": once.written_by_an_earlier_try(),
        }
        once.release()
        return seen

    dag_run = run_dag(one_task_dag("records_adopt", start_then_die_then_adopt, retries=1))
    assert task_states(dag_run) == {"rule": "success"}
    [job] = entity_resolution_emulator.jobs()
    assert entity_resolution_emulator.count("StartIdMappingJob") == 1
    seen = xcom_value(dag_run, "rule")
    assert seen["adopted"] == job.job_id
    assert seen["status"] == "RUNNING"
    assert seen["written_by"] == seen["this_try"] - 1
    assert seen["kept_by_try"] == seen["this_try"], "the record names the try that adopted the job"
    assert seen["written_by_after_adopting"] is None
    assert start_once_records() == {}


def test_a_retry_claims_nothing_when_the_earlier_job_failed_and_starts_afresh(
    run_dag, entity_resolution_emulator
):
    entity_resolution_emulator.add_id_mapping_workflow(WORKFLOW, JobScript.never_finishing())
    entity_resolution_emulator.script_next_jobs(WORKFLOW, JobScript.failed(running_seconds=0))

    def start_then_die_then_start() -> str | None:
        once = start_once(get_current_context())
        if try_number() == 1:
            once.start()
            raise TheTryDies
        job_id = once.start() if once.claim() is None else None
        once.release()
        return job_id

    dag_run = run_dag(one_task_dag("records_failed_earlier", start_then_die_then_start, retries=1))
    assert task_states(dag_run) == {"rule": "success"}
    failed, fresh = entity_resolution_emulator.jobs()
    assert failed.status == "FAILED"
    assert xcom_value(dag_run, "rule") == fresh.job_id


@pytest.mark.parametrize(
    "reached",
    [pytest.param(True, id="the-start-reached-the-service"), pytest.param(False, id="the-start-was-lost")],
)
def test_a_try_killed_while_its_start_is_in_flight_leaves_the_next_one_a_single_job(
    run_dag, entity_resolution_emulator, reached
):
    """The intent recorded before the start gives the next try the span its job, if any, started in."""
    entity_resolution_emulator.add_id_mapping_workflow(WORKFLOW, JobScript.never_finishing())
    hook = EntityResolutionHook()

    def killed_in_flight() -> str:
        if reached:
            hook.start_id_mapping_job(WORKFLOW)
        raise TheTryDies

    def die_mid_start_then_claim() -> dict[str, Any]:
        if try_number() == 1:
            start_once(get_current_context(), send=killed_in_flight).start()
        once = start_once(get_current_context())
        claimed = once.claim()
        job_id = once.adopt(claimed) if claimed is not None else once.start()
        once.release()
        return {"adopted": claimed is not None, "job_id": job_id}

    dag_run = run_dag(one_task_dag(f"records_in_flight_{reached}", die_mid_start_then_claim, retries=1))
    assert task_states(dag_run) == {"rule": "success"}
    [job] = entity_resolution_emulator.jobs()
    assert xcom_value(dag_run, "rule") == {"adopted": reached, "job_id": job.job_id}


def an_intent_an_hour_old(context: Any, record: StartedJobRecord) -> None:
    an_hour_ago = time.time() - 3600
    record.save_intent(context, WORKFLOW, an_hour_ago, an_hour_ago + 120)


def a_job_of_another_workflow(context: Any, record: StartedJobRecord) -> None:
    record.save(context, "other-workflow", "0123456789abcdef0123456789abcdef")


@pytest.mark.parametrize("left", [an_intent_an_hour_old, a_job_of_another_workflow])
def test_a_record_that_leads_to_no_job_of_its_start_claims_none(run_dag, entity_resolution_emulator, left):
    """Another task's job runs on the workflow: a start long past, or another workflow's, did not start it."""
    entity_resolution_emulator.add_id_mapping_workflow(WORKFLOW, JobScript.never_finishing())
    another_tasks = EntityResolutionHook().start_id_mapping_job(WORKFLOW)

    def claim_after_what_was_left() -> bool:
        context = get_current_context()
        left(context, StartedJobRecord.for_task(context, LOG))
        once = start_once(context)
        claimed = once.claim()
        once.release()
        return claimed is None

    dag_run = run_dag(one_task_dag(f"records_{left.__name__}", claim_after_what_was_left))
    assert task_states(dag_run) == {"rule": "success"}
    assert xcom_value(dag_run, "rule") is True
    assert entity_resolution_emulator.count("GetIdMappingJob") == 0, "no job was described, let alone taken"
    assert [job.job_id for job in entity_resolution_emulator.jobs()] == [another_tasks]


def test_a_refused_start_raises_and_keeps_no_record(run_dag, entity_resolution_emulator):
    """A refusal means nothing started: a job that starts while the task waits to try again is another's."""
    entity_resolution_emulator.add_id_mapping_workflow(WORKFLOW, JobScript.never_finishing())
    running = EntityResolutionHook().start_id_mapping_job(WORKFLOW)

    def start_while_busy() -> dict[str, Any]:
        once = start_once(get_current_context())
        try:
            once.start()
        except EntityResolutionRequestError as refused:
            return {"code": refused.code, "kept": once.record.load()}
        return {}

    dag_run = run_dag(one_task_dag("records_refused", start_while_busy))
    assert task_states(dag_run) == {"rule": "success"}
    assert xcom_value(dag_run, "rule") == {"code": "ConflictException", "kept": None}
    assert [job.job_id for job in entity_resolution_emulator.jobs()] == [running]
    assert start_once_records() == {}


def test_a_start_whose_answer_is_lost_takes_the_job_it_started(run_dag, entity_resolution_emulator):
    entity_resolution_emulator.add_id_mapping_workflow(WORKFLOW, JobScript.never_finishing())
    entity_resolution_emulator.inject(Fault.latency(2.0, operation="StartIdMappingJob"))

    def start_with_a_lost_answer() -> dict[str, Any]:
        hook = EntityResolutionHook(config={"read_timeout": 0.5, "retries": {"max_attempts": 3}})
        once = start_once(get_current_context(), hook=hook)
        seen = {"job_id": once.start(), "kept": once.record.load()["job_id"]}
        once.release()
        return seen

    dag_run = run_dag(one_task_dag("records_lost_answer", start_with_a_lost_answer))
    assert task_states(dag_run) == {"rule": "success"}
    [job] = entity_resolution_emulator.jobs()
    assert entity_resolution_emulator.count("StartIdMappingJob") == 1
    assert entity_resolution_emulator.count("ListIdMappingJobs") == 1, "the job was found, the answer lost"
    assert xcom_value(dag_run, "rule") == {"job_id": job.job_id, "kept": job.job_id}


def test_outside_a_running_task_the_record_keeps_nothing_and_says_so_once(entity_resolution_emulator, caplog):
    entity_resolution_emulator.add_id_mapping_workflow(WORKFLOW, JobScript.never_finishing())
    caplog.set_level(logging.WARNING, logger=__name__)

    once = start_once({})
    claimed = once.claim()
    job_id = once.start()
    once.release()

    assert claimed is None
    assert [job.job_id for job in entity_resolution_emulator.jobs()] == [job_id]
    warnings = [r.getMessage() for r in caplog.records if "outside a running Airflow task" in r.getMessage()]
    assert len(warnings) == 1, warnings
