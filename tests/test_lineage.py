"""
Lineage through the real thing: the OpenLineage provider's listener with a file transport, DAGs
run with ``dag.test()`` against the emulator, and the events read back from the file.

Each DAG runs in a fresh Python (tests/openlineage_run.py): the provider reads its configuration
and registers its listener once per process, and the suite's own process runs without it. Those
tests carry the ``lineage_process`` marker, and run in the profiles ``scripts/profiles.py`` names.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import FAILURE_MESSAGE, REPO, finish_once_polled
from openlineage_run import WithoutOpenLineage

from airflow_entityresolution import lineage as lineage_module
from airflow_entityresolution.emulator import EmulatorServer, EntityResolutionEmulator, Fault, JobScript
from airflow_entityresolution.hooks import EntityResolutionHook
from airflow_entityresolution.lineage import DatasetName, s3_dataset, source_dataset
from airflow_entityresolution.operators import EntityResolutionStartMatchingJobOperator

RUNNER = REPO / "tests" / "openlineage_run.py"
ACCOUNT = "123456789012"
GLUE = f"arn:aws:glue:us-east-1:{ACCOUNT}"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/entity-resolution"
WARNING = "OpenLineage: lineage of"
MATCHING_OUTPUT = "s3://lineage-matches/customer-matching/"
MAPPING_OUTPUT = "s3://lineage-mappings/customer-id-mapping/"
EXPLICIT_OUTPUT = "s3://lineage-explicit-output/runs/2026-01-01/"


def glue_table(database: str, table: str) -> str:
    return f"{GLUE}:table/{database}/{table}"


def matching_workflow(emulator: EntityResolutionEmulator, script: JobScript | None = None) -> None:
    emulator.add_matching_workflow(
        "customer-matching",
        script or JobScript.succeeded({"inputRecords": 40, "matchIDs": 12}, running_seconds=0.5),
        definition={
            "inputSourceConfig": [
                {"inputSourceARN": glue_table("crm", "customers"), "schemaName": "customer-schema"},
                {"inputSourceARN": glue_table("shop", "accounts"), "schemaName": "account-schema"},
            ],
            "outputSourceConfig": [{"outputS3Path": MATCHING_OUTPUT, "output": [{"name": "email"}]}],
            "resolutionTechniques": {"resolutionType": "ML_MATCHING"},
            "roleArn": ROLE,
        },
    )


def id_mapping_workflow(emulator: EntityResolutionEmulator, script: JobScript | None = None) -> None:
    """An ID mapping workflow from one ID namespace to another, each backed by its own Glue table."""
    for name, database, table, family in (
        ("crm-customers", "crm", "customers", "SOURCE"),
        ("loyalty-members", "loyalty", "members", "TARGET"),
    ):
        emulator.add_id_namespace(
            name,
            definition={
                "type": family,
                "inputSourceConfig": [{"inputSourceARN": glue_table(database, table), "schemaName": name}],
                "roleArn": ROLE,
            },
        )
    namespace = f"arn:aws:entityresolution:us-east-1:{ACCOUNT}:idnamespace"
    emulator.add_id_mapping_workflow(
        "customer-id-mapping",
        script or JobScript.succeeded({"inputRecords": 30, "totalMappedRecords": 25}, running_seconds=0.5),
        definition={
            "inputSourceConfig": [
                {"inputSourceARN": f"{namespace}/crm-customers", "type": "SOURCE"},
                {"inputSourceARN": f"{namespace}/loyalty-members", "type": "TARGET"},
            ],
            "outputSourceConfig": [{"outputS3Path": MAPPING_OUTPUT}],
            "idMappingTechniques": {"idMappingType": "RULE_BASED"},
            "roleArn": ROLE,
        },
    )


def run(
    builder: str, tmp_path: Path, *flags: str, **env: str
) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
    """Run a DAG of tests/lineage_dags.py with lineage on: its result, the events emitted, its output."""
    events = tmp_path / "openlineage.jsonl"
    result_file = tmp_path / "result.json"
    transport = {"type": "file", "log_file_path": str(events), "append": True}
    answered = subprocess.run(
        [sys.executable, str(RUNNER), builder, str(result_file), *flags],
        env={
            **os.environ,
            **env,
            "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport),
            "AIRFLOW__OPENLINEAGE__NAMESPACE": "entityresolution-tests",
        },
        capture_output=True,
        text=True,
        timeout=240,
    )
    output = answered.stdout + answered.stderr
    assert answered.returncode == 0, output[-5000:]
    result = json.loads(result_file.read_text())
    emitted = [json.loads(line) for line in events.read_text().splitlines()] if events.exists() else []
    return result, emitted, output


def task_event(events: list[dict[str, Any]], event_type: str, task_id: str) -> dict[str, Any]:
    [event] = [
        event
        for event in events
        if event["eventType"] == event_type and event["job"]["name"].endswith(f".{task_id}")
    ]
    return event


def datasets(event: dict[str, Any], side: str) -> set[tuple[str, str]]:
    return {(dataset["namespace"], dataset["name"]) for dataset in event[side]}


def job_facet(event: dict[str, Any]) -> dict[str, Any]:
    facet = dict(event["run"]["facets"]["entityResolutionJob"])
    facet.pop("_producer"), facet.pop("_schemaURL")
    return facet


@pytest.mark.lineage_process
def test_a_matching_job_reports_its_two_glue_tables_and_its_s3_output(
    entity_resolution_emulator, airflow_db, tmp_path
):
    emulator = entity_resolution_emulator
    # Running until a poll saw it, so the wait polls more than once however slow the machine.
    matching_workflow(emulator, JobScript(running_seconds=None, metrics={"inputRecords": 40, "matchIDs": 12}))
    finisher = finish_once_polled(emulator, "customer-matching", "GetMatchingJob")
    result, events, output = run("matching_job", tmp_path)
    finisher.join(timeout=5)
    assert result["states"] == {"match": "success"}
    complete = task_event(events, "COMPLETE", "match")
    assert datasets(complete, "inputs") == {(GLUE, "table/crm/customers"), (GLUE, "table/shop/accounts")}
    assert datasets(complete, "outputs") == {("s3://lineage-matches", "customer-matching")}
    [job] = emulator.jobs()
    assert job_facet(complete) == {
        "jobId": job.job_id,
        "workflowName": "customer-matching",
        "kind": "matching",
        "status": "SUCCEEDED",
        "metrics": {"inputRecords": 40, "matchIDs": 12},
    }
    # One workflow read per task, on the worker after the job ended, however often the wait polled.
    assert emulator.count("GetMatchingWorkflow") == 1
    assert emulator.count("GetMatchingJob") > 1
    assert [r.operation for r in emulator.requests][-1] == "GetMatchingWorkflow"
    assert WARNING not in output


@pytest.mark.lineage_process
def test_an_id_mapping_job_follows_its_id_namespaces_to_their_glue_tables(
    entity_resolution_emulator, airflow_db, tmp_path
):
    emulator = entity_resolution_emulator
    id_mapping_workflow(emulator)
    result, events, output = run("id_mapping_job", tmp_path)
    assert result["states"] == {"map": "success"}
    complete = task_event(events, "COMPLETE", "map")
    assert datasets(complete, "inputs") == {(GLUE, "table/crm/customers"), (GLUE, "table/loyalty/members")}
    assert datasets(complete, "outputs") == {("s3://lineage-mappings", "customer-id-mapping")}
    assert job_facet(complete)["metrics"] == {"inputRecords": 30, "totalMappedRecords": 25}
    assert (emulator.count("GetIdMappingWorkflow"), emulator.count("GetIdNamespace")) == (1, 2)
    assert WARNING not in output


@pytest.mark.lineage_process
def test_the_example_dag_reports_the_glue_tables_behind_its_id_namespaces(
    entity_resolution_emulator, airflow_db, tmp_path, monkeypatch
):
    """The example's own scenario, behind the fixture's fake credentials."""
    scenario = json.loads((REPO / "example_dags" / "emulator_scenario.json").read_text())
    with EmulatorServer(EntityResolutionEmulator.from_scenario(scenario)) as server:
        monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", server.emulator.airflow_connection())
        result, events, _ = run("example_lineage", tmp_path)
    assert result["states"] == {"map_loyalty_members": "success"}
    complete = task_event(events, "COMPLETE", "map_loyalty_members")
    assert datasets(complete, "inputs") == {(GLUE, "table/crm/customers"), (GLUE, "table/loyalty/members")}
    assert datasets(complete, "outputs") == {("s3://example-entity-resolution", "output/loyalty-id-mapping")}


@pytest.mark.lineage_process
def test_an_explicit_output_source_config_is_the_output_rather_than_the_workflows(
    entity_resolution_emulator, airflow_db, tmp_path
):
    id_mapping_workflow(entity_resolution_emulator)
    result, events, _ = run("id_mapping_job_with_output_source_config", tmp_path)
    assert result["states"] == {"map": "success"}
    complete = task_event(events, "COMPLETE", "map")
    assert datasets(complete, "outputs") == {("s3://lineage-explicit-output", "runs/2026-01-01")}


@pytest.mark.lineage_process
def test_a_failed_job_sends_a_fail_event_with_the_services_message(
    entity_resolution_emulator, airflow_db, tmp_path
):
    emulator = entity_resolution_emulator
    id_mapping_workflow(emulator, JobScript.failed(FAILURE_MESSAGE, running_seconds=0.3))
    result, events, _ = run("id_mapping_job", tmp_path)
    assert result["states"] == {"map": "failed"}
    fail = task_event(events, "FAIL", "map")
    assert FAILURE_MESSAGE in fail["run"]["facets"]["errorMessage"]["message"]
    facet = job_facet(fail)
    assert (facet["status"], facet["errorMessage"]) == ("FAILED", FAILURE_MESSAGE)
    assert datasets(fail, "inputs") == {(GLUE, "table/crm/customers"), (GLUE, "table/loyalty/members")}


@pytest.mark.lineage_process
def test_a_sensor_reports_the_lineage_of_the_job_it_watched(entity_resolution_emulator, airflow_db, tmp_path):
    emulator = entity_resolution_emulator
    matching_workflow(emulator)
    job_id = EntityResolutionHook().start_matching_job("customer-matching")
    result, events, _ = run("matching_sensor", tmp_path, LINEAGE_JOB_ID=job_id)
    assert result["states"] == {"wait": "success"}
    complete = task_event(events, "COMPLETE", "wait")
    assert datasets(complete, "inputs") == {(GLUE, "table/crm/customers"), (GLUE, "table/shop/accounts")}
    assert job_facet(complete)["jobId"] == job_id
    assert emulator.count("GetMatchingWorkflow") == 1


@pytest.mark.lineage_process
def test_a_role_denied_the_workflow_changes_nothing_but_the_lineage_it_reports(
    entity_resolution_emulator, airflow_db, tmp_path
):
    emulator = entity_resolution_emulator
    matching_workflow(emulator)
    emulator.inject(Fault.access_denied(operation="GetMatchingWorkflow", count=None))
    result, events, _ = run("matching_job", tmp_path)
    assert result["states"] == {"match": "success"}
    complete = task_event(events, "COMPLETE", "match")
    assert datasets(complete, "inputs") == set()
    assert job_facet(complete)["status"] == "SUCCEEDED"
    [reason] = [error["errorMessage"] for error in complete["run"]["facets"]["extractionError"]["errors"]]
    assert "GetMatchingWorkflow failed for workflow 'customer-matching': AccessDeniedException" in reason


@pytest.mark.lineage_process
def test_without_the_openlineage_provider_tasks_run_as_before(
    entity_resolution_emulator, airflow_db, tmp_path
):
    emulator = entity_resolution_emulator
    matching_workflow(emulator)
    result, events, _ = run("matching_job", tmp_path, "--without-openlineage")
    assert result["states"] == {"match": "success"}
    assert [event for event in events if event["job"]["name"].endswith(".match")] == []
    assert emulator.count("GetMatchingWorkflow") == 0


def warnings_logged(caplog, capfd) -> list[str]:
    # Airflow 2 and 3.0 log a task's lines through logging, Airflow 3.1 and later through structlog.
    logged = [record.getMessage() for record in caplog.records] or capfd.readouterr().out.splitlines()
    return [line for line in logged if WARNING in line]


def matching_task() -> EntityResolutionStartMatchingJobOperator:
    return EntityResolutionStartMatchingJobOperator(task_id="match", workflow_name="customer-matching")


def test_lineage_that_leaves_a_part_out_says_why_in_one_warning(entity_resolution_emulator, caplog, capfd):
    """What the listener gets when the role may not read the workflow: the rest, and one warning."""
    matching_workflow(entity_resolution_emulator)
    entity_resolution_emulator.inject(Fault.access_denied(operation="GetMatchingWorkflow"))
    caplog.set_level("WARNING")
    lineage = matching_task().get_openlineage_facets_on_complete(None)
    assert lineage is not None
    assert (lineage.inputs, lineage.outputs) == ([], [])
    assert lineage.run_facets["entityResolutionJob"].workflowName == "customer-matching"
    [warning] = warnings_logged(caplog, capfd)
    assert "left out its inputs and outputs, since the workflow could not be read" in warning
    assert "AccessDeniedException" in warning


def test_without_the_openlineage_provider_a_caller_gets_nothing_and_one_warning(
    entity_resolution_emulator, monkeypatch, caplog, capfd
):
    """Nothing calls a task's lineage methods without the provider; a caller that does anyway gets this."""
    matching_workflow(entity_resolution_emulator)
    for name in [name for name in sys.modules if WithoutOpenLineage.hides(name)]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [WithoutOpenLineage(), *sys.meta_path])
    lineage_module._openlineage.cache_clear()
    caplog.set_level("WARNING")
    try:
        assert matching_task().get_openlineage_facets_on_complete(None) is None
    finally:
        lineage_module._openlineage.cache_clear()
    [warning] = warnings_logged(caplog, capfd)
    assert "apache-airflow-providers-openlineage is not installed" in warning
    assert entity_resolution_emulator.count("GetMatchingWorkflow") == 0


@pytest.mark.lineage_process
def test_the_openlineage_providers_switch_turns_it_off_for_these_tasks(
    entity_resolution_emulator, airflow_db, tmp_path
):
    emulator = entity_resolution_emulator
    matching_workflow(emulator)
    operator = "airflow_entityresolution.operators.EntityResolutionStartMatchingJobOperator"
    result, events, _ = run("matching_job", tmp_path, AIRFLOW__OPENLINEAGE__DISABLED_FOR_OPERATORS=operator)
    assert result["states"] == {"match": "success"}
    assert [event for event in events if "entityResolutionJob" in event["run"]["facets"]] == []
    assert emulator.count("GetMatchingWorkflow") == 0


@pytest.mark.parametrize(
    ("arn", "expected"),
    [
        (glue_table("crm", "customers"), DatasetName(GLUE, "table/crm/customers")),
        (
            "arn:aws-cn:glue:cn-north-1:123456789012:table/db/t",
            DatasetName("arn:aws-cn:glue:cn-north-1:123456789012", "table/db/t"),
        ),
        (
            "arn:aws:s3:::raw-bucket/customers",
            DatasetName("arn:aws:s3::", "raw-bucket/customers"),
        ),
        ("not-an-arn", DatasetName("unknown", "not-an-arn")),
    ],
)
def test_input_sources_are_named_by_the_openlineage_spec_or_as_what_they_are(arn, expected):
    assert source_dataset(arn) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("s3://bucket/prefix/run-1/", DatasetName("s3://bucket", "prefix/run-1")),
        ("s3://bucket/file.csv", DatasetName("s3://bucket", "file.csv")),
        ("s3://bucket", DatasetName("s3://bucket", "/")),
    ],
)
def test_s3_outputs_are_named_by_the_openlineage_spec(path, expected):
    assert s3_dataset(path) == expected
