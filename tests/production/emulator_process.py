"""
The emulator in a process of its own, as the real service is to Airflow: run this file to serve it.

The process serves the job API over HTTP for Airflow's processes, and its
:class:`~airflow_entityresolution.emulator.EntityResolutionEmulator` to the test over a
:mod:`multiprocessing.managers` connection on loopback, with a key only the test knows: the test
declares workflows, ends jobs, arms faults and reads the request log through that proxy, while the
service's state lives in the emulator's process alone.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.managers import BaseManager
from pathlib import Path
from typing import Any

from airflow_stack import end_process_group

from airflow_entityresolution.emulator import EmulatorServer, EntityResolutionEmulator, RecordedRequest

AUTHKEY_VARIABLE = "ER_EMULATOR_AUTHKEY"
EXPOSED = (
    "add_id_mapping_workflow",
    "add_matching_workflow",
    "script_next_jobs",
    "finish_job",
    "jobs",
    "inject",
    "count",
    "airflow_connection",
    "request_log",
)


class ServedEmulator(EntityResolutionEmulator):
    """The emulator, with its request log as a method: a proxy reaches methods only, not properties."""

    def request_log(self) -> list[RecordedRequest]:
        return self.requests


class EmulatorManager(BaseManager):
    """The connection between the test and the emulator's process."""


def serve(argv: Sequence[str] | None = None) -> None:
    """Serve the job API and the control connection until SIGTERM; print both addresses as JSON."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--concurrency", default="reject")
    arguments = parser.parse_args(argv)
    emulator = ServedEmulator(concurrency=arguments.concurrency, request_log_limit=None)
    EmulatorManager.register("emulator", callable=lambda: emulator, exposed=EXPOSED)
    authkey = bytes.fromhex(os.environ.pop(AUTHKEY_VARIABLE))
    with EmulatorServer(emulator) as server:
        control = EmulatorManager(address=("127.0.0.1", 0), authkey=authkey).get_server()
        print(
            json.dumps({"endpoint_url": server.endpoint_url, "control_port": control.address[1]}), flush=True
        )
        control.serve_forever()


@dataclass
class EmulatorProcess:
    """
    Start this file as the emulator's process and connect to it.

    :param log_path: where the process's output goes.
    :param concurrency: the emulator's ``concurrency``: ``"reject"`` is the service's one-job quota.
    """

    log_path: Path
    concurrency: str = "reject"
    process: subprocess.Popen[str] | None = field(default=None, init=False)
    endpoint_url: str = field(default="", init=False)
    emulator: Any = field(default=None, init=False)

    @property
    def port(self) -> int:
        return int(self.endpoint_url.rsplit(":", 1)[1])

    def start(self) -> EmulatorProcess:
        """Start the process, wait for its addresses (bounded by a read timeout), and connect."""
        authkey = secrets.token_bytes(32)
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, __file__, "--concurrency", self.concurrency],
                env={**os.environ, AUTHKEY_VARIABLE: authkey.hex()},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                start_new_session=True,
            )
        assert self.process.stdout is not None
        ready = _read_line(self.process.stdout, timeout=60)
        if not ready:
            raise RuntimeError(f"The emulator's process did not start; see {self.log_path}")
        addresses = json.loads(ready)
        self.endpoint_url = addresses["endpoint_url"]
        EmulatorManager.register("emulator")
        manager = EmulatorManager(address=("127.0.0.1", addresses["control_port"]), authkey=authkey)
        manager.connect()
        self.emulator = manager.emulator()  # type: ignore[attr-defined]
        return self

    def stop(self) -> None:
        """End the process group: SIGTERM, then SIGKILL."""
        end_process_group(self.process)


def _read_line(stream: Any, timeout: float) -> str:
    """One line from a pipe, or ``""`` if none comes within ``timeout`` seconds."""
    import selectors

    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        if not selector.select(timeout):
            return ""
    return stream.readline()


if __name__ == "__main__":
    serve()
