"""The pytest plugin's fixtures: the served emulator, its client and environment, the scenario it serves."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import boto3
import pytest

from airflow_entityresolution.emulator import EntityResolutionEmulator, JobScript, ManualClock
from emulator.emulator_clients import REGION
from emulator.resource_definitions import MATCHING_DEFINITION, SCENARIO


def test_fixture_points_airflow_and_boto3_at_the_emulator(emulator: EntityResolutionEmulator) -> None:
    connection = json.loads(os.environ["AIRFLOW_CONN_AWS_DEFAULT"])
    emulator.add_matching_workflow("people")

    from_environment = boto3.client("entityresolution", endpoint_url=connection["extra"]["endpoint_url"])
    from_environment.start_matching_job(workflowName="people")
    other = json.loads(emulator.airflow_connection("aws_other", region_name="eu-west-1"))

    assert emulator.endpoint_url is not None and emulator.endpoint_url.startswith("http://127.0.0.1:")
    assert connection["conn_type"] == "aws"
    assert (connection["login"], connection["password"]) == ("testing", "testing")
    assert connection["extra"] == {"region_name": REGION, "endpoint_url": emulator.endpoint_url}
    assert (os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_DEFAULT_REGION"]) == ("testing", REGION)
    assert emulator.requests[0].region == REGION
    assert other["extra"] == {"region_name": "eu-west-1", "endpoint_url": emulator.endpoint_url}


def test_entity_resolution_client_fixture_reaches_the_emulator(
    entity_resolution_emulator: EntityResolutionEmulator, entity_resolution_client: Any
) -> None:
    entity_resolution_emulator.add_id_mapping_workflow("customers")

    entity_resolution_client.start_id_mapping_job(workflowName="customers")

    assert entity_resolution_emulator.count("StartIdMappingJob", "customers") == 1


@pytest.mark.parametrize("entity_resolution_scenario", [SCENARIO], ids=["mapping"])
def test_fixture_serves_a_scenario_mapping(
    entity_resolution_emulator: EntityResolutionEmulator, entity_resolution_client: Any
) -> None:
    got = entity_resolution_client.get_id_namespace(idNamespaceName="loyalty")

    assert got["type"] == "TARGET"
    assert entity_resolution_emulator.count("GetIdNamespace", "loyalty") == 1


class TestFixtureServesAScenarioFile:
    @pytest.fixture
    def entity_resolution_scenario(self, tmp_path: Path) -> Path:
        scenario = tmp_path / "scenario.json"
        scenario.write_text(json.dumps({"account_id": "210987654321", **SCENARIO}))
        return scenario

    def test_workflows_come_from_the_file(self, entity_resolution_client: Any) -> None:
        got = entity_resolution_client.get_id_mapping_workflow(workflowName="orders")

        assert (
            got["workflowArn"] == f"arn:aws:entityresolution:{REGION}:210987654321:idmappingworkflow/orders"
        )


def test_tests_create_workflows_with_the_fixture_client(
    entity_resolution_emulator: EntityResolutionEmulator, entity_resolution_client: Any
) -> None:
    entity_resolution_client.create_matching_workflow(workflowName="people", **MATCHING_DEFINITION)

    job_id = entity_resolution_client.start_matching_job(workflowName="people")["jobId"]

    assert [job.job_id for job in entity_resolution_emulator.jobs("people")] == [job_id]


class TestFixtureRunsOnTheClockItIsGiven:
    @pytest.fixture
    def entity_resolution_clock(self) -> ManualClock:
        return ManualClock()

    @pytest.mark.parametrize("entity_resolution_scenario", [None, SCENARIO], ids=["fresh", "scenario"])
    def test_jobs_move_when_the_clock_does(
        self,
        entity_resolution_emulator: EntityResolutionEmulator,
        entity_resolution_clock: ManualClock,
        entity_resolution_client: Any,
    ) -> None:
        entity_resolution_emulator.add_matching_workflow("products", JobScript(running_seconds=5))
        job_id = entity_resolution_client.start_matching_job(workflowName="products")["jobId"]

        entity_resolution_clock.advance(4.5)
        running = entity_resolution_client.get_matching_job(workflowName="products", jobId=job_id)["status"]
        entity_resolution_clock.advance(0.5)
        ended = entity_resolution_client.get_matching_job(workflowName="products", jobId=job_id)["status"]

        assert (running, ended) == ("RUNNING", "SUCCEEDED")
