"""The HTTP server: many connections at once, a clean stop while answering, and the command line."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import aiobotocore.session
import pytest
from aiobotocore.config import AioConfig
from botocore.exceptions import ClientError, ConnectionClosedError
from emulator_clients import REGION, make_client
from job_clients import MISSING_JOB_ID

from airflow_entityresolution.emulator import EmulatorServer, EntityResolutionEmulator, Fault, JobScript

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.asyncio
async def test_aiobotocore_client_polls_over_hundreds_of_connections(
    emulator: EntityResolutionEmulator,
) -> None:
    emulator.add_matching_workflow("people", JobScript.failed("Bad schema", running_seconds=0.0))
    session = aiobotocore.session.get_session()
    async with session.create_client(
        "entityresolution",
        endpoint_url=emulator.endpoint_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=AioConfig(max_pool_connections=300, retries={"total_max_attempts": 1}),
    ) as client:
        job_id = (await client.start_matching_job(workflowName="people"))["jobId"]
        jobs = await asyncio.gather(
            *(client.get_matching_job(workflowName="people", jobId=job_id) for _ in range(300))
        )
        with pytest.raises(ClientError) as missing:
            await client.get_matching_job(workflowName="people", jobId=MISSING_JOB_ID)

    assert {job["status"] for job in jobs} == {"FAILED"}
    assert jobs[0]["errorDetails"]["errorMessage"] == "Bad schema"
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert emulator.count("GetMatchingJob", "people") == 301


def test_server_stops_cleanly_while_answering(caplog: pytest.LogCaptureFixture) -> None:
    server = EmulatorServer().start()
    server.emulator.add_id_mapping_workflow("customers")
    server.emulator.inject(Fault.latency(5.0, operation="StartIdMappingJob"))
    client = make_client(server.endpoint_url)
    client.list_id_mapping_jobs(workflowName="customers")
    failures: list[BaseException] = []

    def start_a_slow_job() -> None:
        try:
            client.start_id_mapping_job(workflowName="customers")
        except Exception as error:
            failures.append(error)

    caller = threading.Thread(target=start_a_slow_job)
    caller.start()
    time.sleep(0.3)
    began = time.monotonic()
    with caplog.at_level(logging.WARNING):
        server.stop()
    stopping = time.monotonic() - began
    caller.join(timeout=5)
    with warnings.catch_warnings(record=True) as leaked:
        warnings.simplefilter("always")
        gc.collect()

    assert stopping < 1.5
    assert [type(failure) for failure in failures] == [ConnectionClosedError]
    assert server.emulator.endpoint_url is None
    assert caplog.records == []
    assert [str(warning.message) for warning in leaked] == []
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", server.port), timeout=1),
    ):
        pass


def test_command_line_serves_a_scenario_until_sigterm(tmp_path: Path) -> None:
    scenario = tmp_path / "scenario.json"
    scenario.write_text(
        json.dumps(
            {
                "region": "eu-west-1",
                "id_mapping_workflows": {
                    "customers": {
                        "running_seconds": 0,
                        "status": "FAILED",
                        "error_message": "Input table not found",
                        "next_jobs": [{"running_seconds": 0, "metrics": {"inputRecords": 3}}],
                    }
                },
                "matching_workflows": {"people": {"region": "us-east-1", "running_seconds": None}},
            }
        )
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_entityresolution.emulator",
            "--port",
            "0",
            "--scenario",
            str(scenario),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        banner = process.stdout.readline() if process.stdout else ""
        endpoint_url = banner.strip().rsplit(" ", 1)[-1]
        ireland = make_client(endpoint_url, region="eu-west-1")
        first = ireland.start_id_mapping_job(workflowName="customers")["jobId"]
        second = ireland.start_id_mapping_job(workflowName="customers")["jobId"]
        outcomes = [
            ireland.get_id_mapping_job(workflowName="customers", jobId=job) for job in (first, second)
        ]
        people = make_client(endpoint_url).start_matching_job(workflowName="people")
    finally:
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=10)

    assert banner.startswith("Entity Resolution emulator listening on http://127.0.0.1:")
    assert int(endpoint_url.rsplit(":", 1)[-1]) > 0
    assert [job["status"] for job in outcomes] == ["SUCCEEDED", "FAILED"]
    assert outcomes[0]["metrics"] == {"inputRecords": 3}
    assert outcomes[1]["errorDetails"]["errorMessage"] == "Input table not found"
    assert people["jobId"]
    assert process.returncode == 0, errors
    assert "Traceback" not in errors
