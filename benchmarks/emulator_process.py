"""
The emulator in its own process, driven over stdin/stdout, so that its CPU and memory stay
out of the measured process.

``python -m benchmarks.emulator_process`` serves an emulator that lets any number of jobs
run at once, prints ``{"endpoint_url": ...}`` and then answers one JSON command per line
(see :data:`COMMANDS`). :class:`EmulatorProcess` is the parent's side.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from airflow_entityresolution.emulator import EmulatorServer, EntityResolutionEmulator, JobScript
from airflow_entityresolution.emulator.state import ApiCall
from airflow_entityresolution.emulator.wire import workflow_name_of
from airflow_entityresolution.jobs import FAMILY_BY_KEY, ID_MAPPING, Verb

WORKFLOW = "bench-workflow"
GET_OPERATION = "GetIdMappingJob"


def start_jobs(
    emulator: EntityResolutionEmulator,
    running_seconds: list[float],
    family: str = ID_MAPPING.key,
    workflow: str = WORKFLOW,
) -> list[str]:
    """
    Start one job per entry, RUNNING for that many seconds and then SUCCEEDED.

    :param running_seconds: how long each job runs.
    :param family: the workflow's job family, by key.
    :param workflow: the workflow's name; :data:`WORKFLOW` unless another was added.
    """
    emulator.script_next_jobs(
        workflow, *(JobScript.succeeded(running_seconds=s) for s in running_seconds), family=family
    )
    job_family = FAMILY_BY_KEY[family]
    call = ApiCall(
        method="POST",
        path=f"/{job_family.collection}/{workflow}/jobs",
        family=job_family,
        verb=Verb.START,
        workflow_name=workflow,
        body=b"{}",
    )
    return [emulator.handle(call).payload["jobId"] for _ in running_seconds]


def stats(emulator: EntityResolutionEmulator) -> dict[str, Any]:
    """The GetIdMappingJob requests answered so far and the end time of every job."""
    gets = [request for request in emulator.requests if request.operation == GET_OPERATION]
    return {
        "gets": [[r.time, r.status, r.job_id, r.access_key_id] for r in gets],
        "end_times": {job.job_id: job.end_time for job in emulator.jobs()},
    }


def count_requests(
    emulator: EntityResolutionEmulator,
    since: float,
    until: float,
    operation: str = GET_OPERATION,
    workflow: str | None = None,
) -> dict[str, Any]:
    """
    How many requests of an operation were answered between two epoch times.

    :param operation: the operation's name; GetIdMappingJob unless another is named.
    :param workflow: only the requests for this workflow (by name); ``None`` for all.
    """
    count = sum(
        1
        for r in emulator.requests
        if r.operation == operation
        and since <= r.time <= until
        and (workflow is None or workflow_name_of(r.workflow_name) == workflow)
    )
    return {"count": count}


def add_matching_workflow(emulator: EntityResolutionEmulator, name: str) -> dict[str, Any]:
    """Declare a matching workflow whose jobs run as :func:`start_jobs` scripts them."""
    return {"arn": emulator.add_matching_workflow(name)}


def finish_job(emulator: EntityResolutionEmulator, job_id: str) -> dict[str, Any]:
    """End a job SUCCEEDED now, whatever its script says."""
    emulator.finish_job(job_id)
    return {}


def configure(emulator: EntityResolutionEmulator, rate_limit_per_second: float | None) -> dict[str, Any]:
    """Set the rate limit; the token bucket starts full at the next request."""
    emulator.rate_limit_per_second = rate_limit_per_second
    return {}


def reset(emulator: EntityResolutionEmulator) -> dict[str, Any]:
    """Forget jobs, the request log and the rate limit."""
    emulator.rate_limit_per_second = None
    emulator.reset()
    return {}


COMMANDS: dict[str, Callable[..., Any]] = {
    "start_jobs": lambda emulator, **kw: {"job_ids": start_jobs(emulator, **kw)},
    "stats": lambda emulator: stats(emulator),
    "count_requests": count_requests,
    "add_matching_workflow": add_matching_workflow,
    "finish_job": finish_job,
    "configure": configure,
    "reset": reset,
}


def main() -> None:
    """Serve, and answer commands from stdin until it closes."""
    emulator = EntityResolutionEmulator(concurrency="unlimited", request_log_limit=None)
    emulator.add_id_mapping_workflow(WORKFLOW, JobScript.succeeded(running_seconds=1.0))
    with EmulatorServer(emulator) as server:
        print(json.dumps({"endpoint_url": server.endpoint_url}), flush=True)
        for line in sys.stdin:
            command = json.loads(line)
            answer = COMMANDS[command.pop("command")](emulator, **command)
            print(json.dumps(answer), flush=True)


class EmulatorProcess:
    """The parent's handle on an emulator process; use as a context manager."""

    def __init__(self, python: str = sys.executable, env: dict[str, str] | None = None) -> None:
        self.env = dict(os.environ if env is None else env)
        self._process = subprocess.Popen(
            [python, "-m", "benchmarks.emulator_process"],
            env=self.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.endpoint_url: str = self._read()["endpoint_url"]

    def _read(self) -> dict[str, Any]:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError("The emulator process ended unexpectedly.")
        return json.loads(line)

    def call(self, command: str, **arguments: Any) -> dict[str, Any]:
        """Send one command and return its answer."""
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps({"command": command, **arguments}) + "\n")
        self._process.stdin.flush()
        return self._read()

    def connection(self) -> str:
        """The ``AIRFLOW_CONN_AWS_DEFAULT`` value that points at this emulator."""
        return json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {"region_name": "us-east-1", "endpoint_url": self.endpoint_url},
            }
        )

    def close(self) -> None:
        """Close stdin, which ends the process, and wait for it."""
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


if __name__ == "__main__":
    main()
