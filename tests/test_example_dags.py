"""Each example DAG, parsed from its file by Airflow and run with dag.test() against the emulator."""

from __future__ import annotations

import json
import re
import runpy

import botocore.session
import pytest
from conftest import AIRFLOW_3, REPO, finish_once, parse_dag_folder, task_states, xcom_value

from airflow_entityresolution.compat import TRIGGERER_RENDERS_TEMPLATES
from airflow_entityresolution.emulator import EmulatorServer, EntityResolutionEmulator, JobScript
from airflow_entityresolution.hooks import EntityResolutionHook

EXAMPLES = REPO / "example_dags"
SCENARIO = json.loads((EXAMPLES / "emulator_scenario.json").read_text())


@pytest.fixture(scope="module")
def example_dags(airflow_db):
    bag = parse_dag_folder(EXAMPLES, bundle_name="examples")
    assert bag.import_errors == {}
    return bag.dags


@pytest.fixture
def scenario_emulator(monkeypatch, entity_resolution_emulator):
    """The emulator scripted with the examples' own scenario, behind the ``aws_default`` connection."""
    with EmulatorServer(EntityResolutionEmulator.from_scenario(SCENARIO)) as server:
        monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", server.emulator.airflow_connection())
        yield server.emulator


def test_every_example_is_a_dag(example_dags):
    assert set(example_dags) == {
        "example_entityresolution_id_mapping_job",
        "example_entityresolution_id_mapping_sensor",
        "example_entityresolution_failed_job",
        "example_entityresolution_matching_job",
        "example_entityresolution_matching_output_consumer",
        "example_entityresolution_lineage",
        "example_entityresolution_start_from_trigger",
        "example_entityresolution_when_busy",
        "example_entityresolution_hook",
        "example_entityresolution_trigger",
        # Asset watchers are Airflow 3's: on 2.11 the file defines no DAG.
        *(["example_entityresolution_job_events"] if AIRFLOW_3 else []),
    }


@pytest.mark.skipif(not AIRFLOW_3, reason="asset watchers need Airflow 3")
def test_job_events_consumer_is_scheduled_on_the_watched_asset(example_dags):
    from airflow_entityresolution.triggers import EntityResolutionMatchingJobEventTrigger

    asset = runpy.run_path(str(EXAMPLES / "example_entityresolution_job_events.py"))["customer_matching_jobs"]
    [watcher] = asset.watchers
    assert isinstance(watcher.trigger, EntityResolutionMatchingJobEventTrigger)
    assert watcher.trigger.serialize()[1]["workflow_name"] in SCENARIO["matching_workflows"]
    consumer = example_dags["example_entityresolution_job_events"]
    assert consumer.task_ids == ["report_matches"]


def test_start_and_wait_deferrably(run_dag, example_dags, scenario_emulator):
    dag_run = run_dag(example_dags["example_entityresolution_id_mapping_job"])
    assert task_states(dag_run) == {"map_customer_ids": "success", "report": "success"}
    [job] = scenario_emulator.jobs()
    assert job.status == "SUCCEEDED"
    assert job.output_source_config[0]["outputS3Path"].startswith("s3://example-entity-resolution/output/")
    scripted = SCENARIO["id_mapping_workflows"]["customer-id-mapping"]["metrics"]
    # boto3 drops members its botocore's model lacks: 1.37 knows fewer metrics than the service sends.
    model = botocore.session.get_session().get_service_model("entityresolution")
    known = model.shape_for("IdMappingJobMetrics").members
    assert xcom_value(dag_run, "report") == {name: value for name, value in scripted.items() if name in known}


def test_sensor_on_an_existing_job(run_dag, example_dags, scenario_emulator):
    dag_run = run_dag(example_dags["example_entityresolution_id_mapping_sensor"])
    assert task_states(dag_run) == {"start_job": "success", "wait_for_job": "success", "report": "success"}
    [job] = scenario_emulator.jobs()
    assert xcom_value(dag_run, "wait_for_job")["jobId"] == job.job_id == xcom_value(dag_run, "start_job")
    assert xcom_value(dag_run, "report") == 8100


def test_failed_job_shows_the_service_message(run_dag, example_dags, scenario_emulator, capfd):
    dag_run = run_dag(example_dags["example_entityresolution_failed_job"])
    assert task_states(dag_run) == {"map_order_ids": "failed"}
    [job] = scenario_emulator.jobs()
    message = SCENARIO["id_mapping_workflows"]["orders-id-mapping"]["error_message"]
    assert job.status == "FAILED"
    # Airflow 3.0's console colours and wraps a long error line: read it as plain text.
    log = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", capfd.readouterr().out).split())
    assert (
        f"Entity Resolution ID mapping job {job.job_id} of workflow 'orders-id-mapping' FAILED: {message}"
        in log
    )


def test_matching_job_with_a_metrics_gate_and_an_asset_outlet(run_dag, example_dags, scenario_emulator):
    from airflow_sdk import Asset

    dag = example_dags["example_entityresolution_matching_job"]
    assert dag.get_task("match_customers").outlets == [
        Asset("s3://example-entity-resolution/matching/customer-matching/")
    ]
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"match_customers": "success", "report": "success"}
    [job] = scenario_emulator.jobs()
    assert job.status == "SUCCEEDED" and scenario_emulator.count("StartMatchingJob") == 1
    assert xcom_value(dag_run, "report") == SCENARIO["matching_workflows"]["customer-matching"]["metrics"]


def test_the_lineage_example_runs_as_any_job_without_a_lineage_transport(
    run_dag, example_dags, scenario_emulator
):
    dag_run = run_dag(example_dags["example_entityresolution_lineage"])
    assert task_states(dag_run) == {"map_loyalty_members": "success"}
    [job] = scenario_emulator.jobs("loyalty-id-mapping")
    assert job.status == "SUCCEEDED"
    # The suite's own process has no OpenLineage transport, so nothing asked for lineage.
    assert scenario_emulator.count("GetIdMappingWorkflow") == 0


def test_a_sensor_that_starts_in_the_triggerer(run_dag, example_dags, scenario_emulator):
    dag = example_dags["example_entityresolution_start_from_trigger"]
    assert dag.get_task("wait_for_matching").start_from_trigger is TRIGGERER_RENDERS_TEMPLATES
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"start_matching": "success", "wait_for_matching": "success"}
    [job] = scenario_emulator.jobs()
    assert xcom_value(dag_run, "wait_for_matching")["jobId"] == job.job_id
    assert xcom_value(dag_run, "wait_for_matching", key="metrics")["recordsNotProcessed"] <= 100


def test_a_busy_account_makes_one_task_wait_and_fails_the_other(run_dag, example_dags, scenario_emulator):
    hook = EntityResolutionHook()
    # Another DAG's jobs hold the account: an ID mapping job that ends once it turned this DAG's
    # start away (however late the run gets there), and a matching job that does not end.
    scenario_emulator.script_next_jobs("customer-id-mapping", JobScript.never_finishing())
    holding_ids = hook.start_id_mapping_job("customer-id-mapping")
    scenario_emulator.script_next_jobs("customer-matching", JobScript.never_finishing())
    holding_matches = hook.start_matching_job("customer-matching")

    def start_refused() -> bool:
        return any(
            r.operation == "StartIdMappingJob" and r.error_code == "ConflictException"
            for r in scenario_emulator.requests
        )

    releaser = finish_once(scenario_emulator, "customer-id-mapping", start_refused, "refused start")
    dag_run = run_dag(example_dags["example_entityresolution_when_busy"])
    releaser.join(timeout=5)

    assert task_states(dag_run) == {"map_supplier_ids": "success", "match_customers_now": "failed"}
    refused = [r for r in scenario_emulator.requests if r.error_code == "ConflictException"]
    assert {r.operation for r in refused} == {"StartIdMappingJob", "StartMatchingJob"}
    [waited] = scenario_emulator.jobs("supplier-id-mapping")
    assert waited.status == "SUCCEEDED"
    assert hook.get_id_mapping_job("customer-id-mapping", holding_ids)["status"] == "SUCCEEDED"
    assert [job.job_id for job in scenario_emulator.jobs("customer-matching")] == [holding_matches]


def test_the_hook_from_a_task_of_your_own(run_dag, example_dags, scenario_emulator):
    dag_run = run_dag(example_dags["example_entityresolution_hook"])
    assert task_states(dag_run) == {"map_and_count": "success"}
    [job] = scenario_emulator.jobs()
    assert xcom_value(dag_run, "map_and_count") == {"job_id": job.job_id, "status": "SUCCEEDED", "jobs": 1}


def test_an_operator_of_your_own_defers_to_the_trigger(run_dag, example_dags, scenario_emulator):
    job_id = EntityResolutionHook().start_matching_job("customer-matching")
    dag_run = run_dag(example_dags["example_entityresolution_trigger"], run_conf={"job_id": job_id})
    assert task_states(dag_run) == {"matching_metrics": "success"}
    assert (
        xcom_value(dag_run, "matching_metrics")
        == SCENARIO["matching_workflows"]["customer-matching"]["metrics"]
    )
