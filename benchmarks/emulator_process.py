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
from airflow_entityresolution.jobs import ID_MAPPING, Verb

WORKFLOW = "bench-workflow"
GET_OPERATION = "GetIdMappingJob"


def start_jobs(emulator: EntityResolutionEmulator, running_seconds: list[float]) -> list[str]:
    """Start one job per entry, RUNNING for that many seconds and then SUCCEEDED."""
    emulator.script_next_jobs(WORKFLOW, *(JobScript.succeeded(running_seconds=s) for s in running_seconds))
    call = ApiCall(
        method="POST",
        path=f"/{ID_MAPPING.collection}/{WORKFLOW}/jobs",
        family=ID_MAPPING,
        verb=Verb.START,
        workflow_name=WORKFLOW,
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


def count_gets(emulator: EntityResolutionEmulator, since: float, until: float) -> dict[str, Any]:
    """How many GetIdMappingJob requests were answered between two epoch times."""
    requests = emulator.requests
    count = sum(1 for r in requests if r.operation == GET_OPERATION and since <= r.time <= until)
    return {"count": count}


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
    "count_gets": count_gets,
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
