"""The names that release 0.1.0 had, still importable under a deprecation warning, until 1.0.0."""

from __future__ import annotations

import importlib

import pytest
from airflow.exceptions import AirflowProviderDeprecationWarning

RENAMED = [
    ("airflow_entityresolution.jobs", "JobKind", "JobFamily"),
    ("airflow_entityresolution.jobs", "JOB_KINDS", "JOB_FAMILIES"),
    ("airflow_entityresolution.errors", "ErrorKind", "ErrorCategory"),
    ("airflow_entityresolution.emulator", "FaultKind", "FaultType"),
    ("airflow_entityresolution.emulator.state", "FaultKind", "FaultType"),
    ("airflow_entityresolution.emulator.state", "JobKind", "JobFamily"),
]


@pytest.mark.parametrize(("module", "old", "new"), RENAMED)
def test_an_old_name_is_the_new_object_and_warns_naming_both(module: str, old: str, new: str) -> None:
    imported = importlib.import_module(module)
    with pytest.warns(AirflowProviderDeprecationWarning, match=rf"{module}\.{old} is renamed {new}"):
        found = getattr(imported, old)
    assert found is getattr(imported, new)


@pytest.mark.parametrize("module", sorted({module for module, _, _ in RENAMED}))
def test_a_name_that_never_existed_is_still_an_attribute_error(module: str) -> None:
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchName'"):
        _ = importlib.import_module(module).NoSuchName


def test_from_import_of_an_old_name_works() -> None:
    with pytest.warns(AirflowProviderDeprecationWarning):
        from airflow_entityresolution.jobs import JobKind  # noqa: F401
