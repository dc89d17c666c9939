"""
An emulator of the AWS Entity Resolution job, workflow and ID namespace API, for tests and benchmarks.

It speaks the service's rest-json wire protocol over HTTP, so stock boto3 and
aiobotocore clients reach it through ``endpoint_url`` alone::

    from airflow_entityresolution.emulator import EmulatorServer, EntityResolutionEmulator, JobScript

    emulator = EntityResolutionEmulator()
    emulator.add_id_mapping_workflow("my-workflow", JobScript.failed("Input table not found"))
    with EmulatorServer(emulator) as server:
        client = boto3.client("entityresolution", endpoint_url=server.endpoint_url, region_name="us-east-1")

Jobs can also start by themselves, with no Start call: a matching workflow whose incremental
run type is ``IMMEDIATE`` starts one on
:meth:`~airflow_entityresolution.emulator.EntityResolutionEmulator.data_arrived`, and any
workflow starts one at a moment planned with
:meth:`~airflow_entityresolution.emulator.EntityResolutionEmulator.start_job_after` (or a
scenario's ``self_started_jobs``). With a :class:`~airflow_entityresolution.emulator.ManualClock`,
jobs move only when the test advances the clock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_entityresolution.emulator.clock import Clock, ManualClock
from airflow_entityresolution.emulator.state import (
    EntityResolutionEmulator,
    Fault,
    FaultType,
    JobScript,
    JobSnapshot,
    RecordedRequest,
)
from airflow_entityresolution.renamed import serve_old_names

if TYPE_CHECKING:
    from airflow_entityresolution.emulator.server import EmulatorServer

__all__ = [
    "Clock",
    "EmulatorServer",
    "EntityResolutionEmulator",
    "Fault",
    "FaultType",
    "JobScript",
    "JobSnapshot",
    "ManualClock",
    "RecordedRequest",
]


_old_names = serve_old_names(__name__, {"FaultKind": "FaultType"}, globals())


def __getattr__(name: str) -> Any:
    # The server pulls in aiohttp; loading it lazily keeps the pytest plugin cheap for test
    # sessions that never use the emulator.
    if name == "EmulatorServer":
        from airflow_entityresolution.emulator.server import EmulatorServer

        return EmulatorServer
    return _old_names(name)
