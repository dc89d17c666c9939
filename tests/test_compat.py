"""The one compatibility module: each moved name comes from common-compat, or from this Airflow's own home."""

from __future__ import annotations

import importlib

import pytest
from conftest import AIRFLOW_3

from airflow_entityresolution import compat

# Where each name lives in the running Airflow itself, whatever common-compat offers.
if AIRFLOW_3:
    NATIVE_HOMES = {name: ("airflow.sdk", name) for name in ("Asset", "Variable", "PokeReturnValue")}
else:
    NATIVE_HOMES = {
        "Asset": ("airflow.datasets", "Dataset"),
        "Variable": ("airflow.models.variable", "Variable"),
        "PokeReturnValue": ("airflow.sensors.base", "PokeReturnValue"),
    }


def common_compat_has(name: str) -> bool:
    try:
        getattr(importlib.import_module(compat.COMMON_COMPAT_SDK), name)
    except (ImportError, AttributeError):
        return False
    return True


@pytest.mark.parametrize("name", sorted(compat.ORIGINS))
def test_each_name_comes_from_common_compat_when_it_has_it_else_from_a_fallback(name):
    origin = compat.ORIGINS[name]
    module, _, attribute = origin.rpartition(".")
    assert getattr(compat, name) is getattr(importlib.import_module(module), attribute)
    assert origin.startswith(compat.COMMON_COMPAT_SDK) == common_compat_has(name)


def test_every_moved_name_is_found():
    assert set(compat.ORIGINS) == {
        "Asset", "Variable", "PokeReturnValue", "conf", "AirflowSensorTimeout", "AirflowSkipException",
    }  # fmt: skip


@pytest.mark.parametrize("name", sorted(NATIVE_HOMES))
def test_the_names_are_this_airflows_own_classes(name):
    """A fallback that picked another version's class would build DAGs this Airflow cannot run."""
    module, attribute = NATIVE_HOMES[name]
    assert getattr(compat, name) is getattr(importlib.import_module(module), attribute)


def test_the_version_flags_follow_the_installed_airflow():
    from importlib.metadata import version

    major, minor = (int(part) for part in version("apache-airflow").split(".")[:2])
    assert (major >= 3) == compat.AIRFLOW_3
    assert ((major, minor) >= (3, 3)) == compat.TRIGGERER_RENDERS_TEMPLATES
