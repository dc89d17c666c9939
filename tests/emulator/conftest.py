"""
The fixtures the emulator's tests share: a served emulator, its clients, and one kind or type at a time.

The ``entity_resolution_emulator`` fixture comes from the package's pytest plugin, which the
suite's top-level ``conftest.py`` loads as users do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.config import Config
from emulator_clients import NO_RETRIES, client_of
from job_clients import Kind, kinds
from resource_clients import ResourceCalls, resource_calls

from airflow_entityresolution.emulator import EmulatorServer, EntityResolutionEmulator


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
def kind(request: pytest.FixtureRequest, emulator: EntityResolutionEmulator, client: Any) -> Kind:
    return kinds(emulator, client)[request.param]


@pytest.fixture(params=["id_mapping_workflow", "matching_workflow", "id_namespace"])
def resource(request: pytest.FixtureRequest, emulator: EntityResolutionEmulator) -> ResourceCalls:
    return resource_calls(emulator)[request.param]


@pytest.fixture(params=["id_mapping_workflow", "matching_workflow"])
def workflow(request: pytest.FixtureRequest, emulator: EntityResolutionEmulator) -> ResourceCalls:
    return resource_calls(emulator)[request.param]
