"""
The Airflow names that moved between the versions the provider supports, found in one place.

Every other module imports these names from here, never by version. Each name is taken from
``airflow.providers.common.compat.sdk`` when the installed common-compat has it (1.8 and
later gain it name by name), else from the first of its known homes that this Airflow has:
the Task SDK (``airflow.sdk``) on Airflow 3, the core modules on Airflow 2.11.
:data:`ORIGINS` says where each name came from.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow import __version__ as _airflow_version
from packaging.version import Version

AIRFLOW_VERSION = Version(Version(_airflow_version).base_version)
"""The running Airflow's version, without pre-release or local parts."""

AIRFLOW_3 = AIRFLOW_VERSION.major >= 3

TRIGGERER_RENDERS_TEMPLATES = Version("3.3") <= AIRFLOW_VERSION
"""Whether this Airflow renders a task's templated fields in the triggerer, which starting there needs.

Airflow 2.10 to 3.2 start a task in the triggerer with its fields as written in the DAG
file, so a templated ``job_id`` would reach the service as ``{{ ... }}``
(apache/airflow#53063); 3.3 renders them first (apache/airflow#64715)."""

SHARED_STREAMS = Version("3.3") <= AIRFLOW_VERSION
"""Whether this Airflow's triggerer runs event triggers on shared streams, with ack mode.

Airflow 3.3 polls once for every event trigger with the same ``shared_stream_key`` and, in ack
mode, tells the stream's producer once the events derived from a poll are in the metadata DB;
Airflow 3.0 to 3.2 run each event trigger's own ``run()`` and confirm nothing."""

EVENT_TRIGGERS_SUPPORTED = Version("3.0.6") <= AIRFLOW_VERSION
"""Whether this Airflow runs the job event triggers: asset watchers, and Variables a trigger can write.

Asset watchers came with Airflow 3.0; a trigger could write a Variable, where the event triggers
keep their watermark, from 3.0.5 (apache/airflow#53514), a release that was withdrawn, so 3.0.6."""

COMMON_COMPAT_SDK = "airflow.providers.common.compat.sdk"

# Each name's homes, newest first, after common-compat's: (module, name there).
_HOMES: dict[str, tuple[tuple[str, str], ...]] = {
    "Asset": (("airflow.sdk", "Asset"), ("airflow.datasets", "Dataset")),
    "Variable": (("airflow.sdk", "Variable"), ("airflow.models.variable", "Variable")),
    "PokeReturnValue": (("airflow.sdk", "PokeReturnValue"), ("airflow.sensors.base", "PokeReturnValue")),
    "conf": (("airflow.sdk.configuration", "conf"), ("airflow.configuration", "conf")),
    "AirflowSensorTimeout": (
        ("airflow.sdk.exceptions", "AirflowSensorTimeout"),
        ("airflow.exceptions", "AirflowSensorTimeout"),
    ),
    "AirflowSkipException": (
        ("airflow.sdk.exceptions", "AirflowSkipException"),
        ("airflow.exceptions", "AirflowSkipException"),
    ),
}

ORIGINS: dict[str, str] = {}
"""Where each name was found, as ``module.name``: for the tests, and for a reader chasing a bug."""


def _find(name: str) -> Any:
    for module_name, attribute in ((COMMON_COMPAT_SDK, name), *_HOMES[name]):
        try:
            value = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError):
            continue
        ORIGINS[name] = f"{module_name}.{attribute}"
        return value
    raise ImportError(f"{name} is in none of {[module for module, _ in _HOMES[name]]}")


def require_asset_watchers(name: str) -> None:
    """Raise an ImportError naming ``name`` unless :data:`EVENT_TRIGGERS_SUPPORTED`."""
    if not EVENT_TRIGGERS_SUPPORTED:
        raise ImportError(
            f"{name} needs Airflow 3.0.6 or later (asset watchers, and Variables a trigger can write); "
            f"this is Airflow {_airflow_version}"
        )


def task_instance(context: Mapping[str, Any] | None) -> Any | None:
    """The running task instance of ``context``, or ``None`` when ``execute()`` is called outside a task.

    Users' unit tests, like the Amazon provider's own, call ``execute({})`` directly.
    """
    return context.get("ti") if context else None


def push_xcom(context: Mapping[str, Any] | None, key: str, value: Any) -> None:
    """Push an XCom for the running task instance; outside a task there is none to push it for."""
    ti = task_instance(context)
    if ti is not None:
        ti.xcom_push(key=key, value=value)


if TYPE_CHECKING or SHARED_STREAMS:
    from airflow.triggers.shared_stream import AdvanceItem, SharedStreamProducer
else:
    # Before 3.3 no triggerer builds a producer: the event triggers' producer class only has to exist.
    AdvanceItem = SharedStreamProducer = object

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import (
        AirflowSensorTimeout,
        AirflowSkipException,
        Asset,
        Context,
        PokeReturnValue,
        Variable,
        conf,
    )
else:
    Asset = _find("Asset")
    Variable = _find("Variable")
    PokeReturnValue = _find("PokeReturnValue")
    conf = _find("conf")
    AirflowSensorTimeout = _find("AirflowSensorTimeout")
    AirflowSkipException = _find("AirflowSkipException")

__all__ = [
    "AIRFLOW_3",
    "AIRFLOW_VERSION",
    "ORIGINS",
    "SHARED_STREAMS",
    "TRIGGERER_RENDERS_TEMPLATES",
    "AdvanceItem",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "Asset",
    "Context",
    "PokeReturnValue",
    "SharedStreamProducer",
    "Variable",
    "conf",
    "push_xcom",
    "require_asset_watchers",
    "task_instance",
]
