"""The request log: what it keeps, what it counts, and what a reset forgets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emulator_clients import REGION, make_client
from resource_definitions import MATCHING_DEFINITION

from airflow_entityresolution.emulator import EntityResolutionEmulator, Fault, JobScript


def test_request_log_counts_and_reset(emulator: EntityResolutionEmulator, client: Any) -> None:
    emulator.add_id_mapping_workflow("customers", JobScript(running_seconds=0.0))
    emulator.add_id_mapping_workflow("suppliers", JobScript(running_seconds=0.0))
    job_id = client.start_id_mapping_job(workflowName="customers")["jobId"]
    client.get_id_mapping_job(workflowName="customers", jobId=job_id)
    client.list_id_mapping_jobs(workflowName="suppliers")
    emulator.inject(Fault.throttle(None))
    emulator.script_next_jobs("customers", JobScript.failed())

    counts = (
        emulator.count("GetIdMappingJob"),
        emulator.count("GetIdMappingJob", "suppliers"),
        emulator.count("ListIdMappingJobs", "suppliers"),
    )
    recorded = emulator.requests[1]
    emulator.reset()
    fresh = client.start_id_mapping_job(workflowName="customers")["jobId"]

    assert counts == (1, 0, 1)
    assert (
        recorded.operation,
        recorded.workflow_name,
        recorded.job_id,
        recorded.status,
        recorded.region,
    ) == (
        "GetIdMappingJob",
        "customers",
        job_id,
        200,
        REGION,
    )
    assert [job.job_id for job in emulator.jobs()] == [fresh]
    assert emulator.jobs()[0].status == "SUCCEEDED"
    assert len(emulator.requests) == 1


def test_request_log_keeps_the_newest_requests_and_counts_them_all(
    served: Callable[..., EntityResolutionEmulator],
) -> None:
    emulator = served(request_log_limit=3)
    emulator.add_matching_workflow("people")
    assert emulator.endpoint_url is not None
    client = make_client(emulator.endpoint_url)

    for page_size in range(1, 6):
        client.list_matching_jobs(workflowName="people", maxResults=page_size)

    assert [request.path for request in emulator.requests] == ["/matchingworkflows/people/jobs"] * 3
    assert emulator.count("ListMatchingJobs", "people") == 5


def test_reset_keeps_workflows_and_namespaces(emulator: EntityResolutionEmulator, client: Any) -> None:
    emulator.add_id_namespace("loyalty")
    client.create_matching_workflow(workflowName="people", **MATCHING_DEFINITION)

    emulator.reset()

    assert emulator.count("CreateMatchingWorkflow", "people") == 0
    assert client.get_id_namespace(idNamespaceName="loyalty")["idNamespaceName"] == "loyalty"
    assert client.start_matching_job(workflowName="people")["jobId"]


def test_request_log_counts_workflow_calls_by_name(emulator: EntityResolutionEmulator, client: Any) -> None:
    arn = emulator.add_id_namespace("loyalty")
    client.create_matching_workflow(workflowName="people", **MATCHING_DEFINITION)
    client.get_matching_workflow(workflowName="people")
    client.get_id_namespace(idNamespaceName="loyalty")
    client.get_id_namespace(idNamespaceName=arn)
    client.list_id_namespaces()
    client.delete_matching_workflow(workflowName="people")

    assert [(request.operation, request.workflow_name) for request in emulator.requests] == [
        ("CreateMatchingWorkflow", "people"),
        ("GetMatchingWorkflow", "people"),
        ("GetIdNamespace", "loyalty"),
        ("GetIdNamespace", arn),
        ("ListIdNamespaces", None),
        ("DeleteMatchingWorkflow", "people"),
    ]
    assert emulator.count("CreateMatchingWorkflow", "people") == 1
    assert emulator.count("GetIdNamespace", "loyalty") == 2
    assert emulator.count("ListIdNamespaces") == 1
    assert emulator.requests[-1].path == "/matchingworkflows/people"
