"""
The fixtures the emulator's tests share: a served emulator, its clients, one family or type at a time, and
an emulator on a manual clock.

The ``entity_resolution_emulator`` fixture comes from the package's pytest plugin, which the
suite's top-level ``conftest.py`` loads as users do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.config import Config

from airflow_entityresolution.emulator import EmulatorServer, EntityResolutionEmulator, ManualClock
from emulator.emulator_clients import NO_RETRIES, client_of
from emulator.job_clients import WALL_START, Family, families
from emulator.resource_clients import ResourceCalls, resource_calls


@pytest.fixture
def emulator(entity_resolution_emulator: EntityResolutionEmulator) -> EntityResolutionEmulator:
    return entity_resolution_emulator


@pytest.fixture
def client(emulator: EntityResolutionEmulator) -> Any:
    return client_of(emulator)


@pytest.fixture
def unchecked(emulator: EntityResolutionEmulator) -> Any:
    """A client that sends what botocore's own parameter validation would refuse."""
    return client_of(emulator, NO_RETRIES.merge(Config(parameter_validation=False)))


@pytest.fixture
def served() -> Iterator[Callable[..., EntityResolutionEmulator]]:
    """Serve emulators built with non-default options; stops them all afterwards."""
    servers: list[EmulatorServer] = []

    def serve(**options: Any) -> EntityResolutionEmulator:
        servers.append(EmulatorServer(EntityResolutionEmulator(**options)).start())
        return servers[-1].emulator

    yield serve
    for server in servers:
        server.stop()


@pytest.fixture(params=["id_mapping", "matching"])
def family(request: pytest.FixtureRequest, emulator: EntityResolutionEmulator, client: Any) -> Family:
    return families(emulator, client)[request.param]


@pytest.fixture(params=["id_mapping_workflow", "matching_workflow", "id_namespace"])
def resource(request: pytest.FixtureRequest, emulator: EntityResolutionEmulator) -> ResourceCalls:
    return resource_calls(emulator)[request.param]


@pytest.fixture(params=["id_mapping_workflow", "matching_workflow"])
def workflow(request: pytest.FixtureRequest, emulator: EntityResolutionEmulator) -> ResourceCalls:
    return resource_calls(emulator)[request.param]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(wall_start=WALL_START)


@pytest.fixture
def clocked(served: Callable[..., EntityResolutionEmulator], clock: ManualClock) -> EntityResolutionEmulator:
    """A served emulator on the manual ``clock``: its jobs move only when the test advances it."""
    return served(clock=clock)


@pytest.fixture
def clocked_client(clocked: EntityResolutionEmulator) -> Any:
    return client_of(clocked)


@pytest.fixture(params=["id_mapping", "matching"])
def clocked_family(
    request: pytest.FixtureRequest, clocked: EntityResolutionEmulator, clocked_client: Any
) -> Family:
    return families(clocked, clocked_client)[request.param]
