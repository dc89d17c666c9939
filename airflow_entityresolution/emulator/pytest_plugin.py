"""
pytest fixtures that serve the Entity Resolution emulator.

Load with ``-p airflow_entityresolution.emulator.pytest_plugin`` or
``pytest_plugins = ["airflow_entityresolution.emulator.pytest_plugin"]``.
This module imports neither Airflow nor aiohttp until a fixture is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airflow_entityresolution.emulator.clock import Clock
    from airflow_entityresolution.emulator.scenarios import Scenario
    from airflow_entityresolution.emulator.state import EntityResolutionEmulator

REGION = "us-east-1"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
}
# Variables that would make boto3 sign with, or look for, credentials other than the fake ones.
STRAY_AWS_VARIABLES = ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE")


@pytest.fixture
def entity_resolution_scenario() -> Scenario | None:
    """
    The scenario :func:`entity_resolution_emulator` serves; ``None``, a fresh emulator, by default.

    Override it in a test module, class or ``conftest.py`` (or parametrize it) with a scenario
    mapping or the path of a JSON scenario file, as
    :meth:`~airflow_entityresolution.emulator.EntityResolutionEmulator.from_scenario` reads them.
    """
    return None


@pytest.fixture
def entity_resolution_clock() -> Clock | None:
    """
    The clock :func:`entity_resolution_emulator` runs on; ``None``, the system's, by default.

    Override it, as :func:`entity_resolution_scenario`, with a
    :class:`~airflow_entityresolution.emulator.ManualClock` to move the emulator's time by hand.
    """
    return None


@pytest.fixture
def entity_resolution_emulator(
    monkeypatch: pytest.MonkeyPatch,
    entity_resolution_scenario: Scenario | None,
    entity_resolution_clock: Clock | None,
) -> Iterator[EntityResolutionEmulator]:
    """
    Serve an emulator on 127.0.0.1 for one test, and point AWS clients at it.

    The emulator is built from :func:`entity_resolution_scenario`, fresh if it is ``None``, on
    :func:`entity_resolution_clock`.
    Sets fake AWS credentials and region, and ``AIRFLOW_CONN_AWS_DEFAULT`` to an AWS
    connection whose ``endpoint_url`` is the emulator. Yields the emulator; its
    ``endpoint_url`` is the server's URL.
    """
    from airflow_entityresolution.emulator.server import EmulatorServer
    from airflow_entityresolution.emulator.state import EntityResolutionEmulator

    emulator = (
        EntityResolutionEmulator(clock=entity_resolution_clock)
        if entity_resolution_scenario is None
        else EntityResolutionEmulator.from_scenario(entity_resolution_scenario, clock=entity_resolution_clock)
    )
    with EmulatorServer(emulator, host="127.0.0.1", port=0) as server:
        for name in STRAY_AWS_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        for name, value in FAKE_CREDENTIALS.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", server.emulator.airflow_connection(region_name=REGION))
        yield server.emulator


@pytest.fixture
def entity_resolution_client(entity_resolution_emulator: EntityResolutionEmulator) -> Any:
    """A boto3 ``entityresolution`` client that talks to :func:`entity_resolution_emulator`."""
    import boto3

    return boto3.client(
        "entityresolution", endpoint_url=entity_resolution_emulator.endpoint_url, region_name=REGION
    )
