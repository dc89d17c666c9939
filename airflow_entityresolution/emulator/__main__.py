"""
Run the emulator as a process: ``python -m airflow_entityresolution.emulator``.

It prints ``Entity Resolution emulator listening on <URL>`` once it answers, and
serves until SIGINT or SIGTERM. ``--scenario`` names a JSON file that declares
the workflows; :mod:`airflow_entityresolution.emulator.scenarios` documents its keys.
"""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Sequence
from pathlib import Path

from airflow_entityresolution.emulator.server import EmulatorServer
from airflow_entityresolution.emulator.state import EntityResolutionEmulator


def parse_arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m airflow_entityresolution.emulator",
        description="Serve an emulator of the AWS Entity Resolution job API over HTTP.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8455, help="port to listen on; 0 picks a free one")
    parser.add_argument(
        "--scenario", type=Path, help="JSON file declaring the workflows, their job scripts and ID namespaces"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGINT or SIGTERM."""
    arguments = parse_arguments(argv)
    emulator = (
        EntityResolutionEmulator.from_scenario(arguments.scenario)
        if arguments.scenario
        else EntityResolutionEmulator()
    )
    stop_requested = threading.Event()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, lambda *_: stop_requested.set())
    with EmulatorServer(emulator, arguments.host, arguments.port) as server:
        print(f"Entity Resolution emulator listening on {server.endpoint_url}", flush=True)
        stop_requested.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
