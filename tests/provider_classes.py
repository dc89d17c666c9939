"""The classes this package promises, and the dotted paths its provider info names."""

from __future__ import annotations

from typing import Any

# Every public class, by the provider-info section that must list it (or its module).
PUBLIC_CLASSES: dict[str, tuple[str, ...]] = {
    "hooks": ("airflow_entityresolution.hooks.EntityResolutionHook",),
    "operators": (
        "airflow_entityresolution.operators.EntityResolutionStartIdMappingJobOperator",
        "airflow_entityresolution.operators.EntityResolutionStartMatchingJobOperator",
    ),
    "sensors": (
        "airflow_entityresolution.sensors.EntityResolutionIdMappingJobCompletedSensor",
        "airflow_entityresolution.sensors.EntityResolutionMatchingJobCompletedSensor",
    ),
    "triggers": (
        "airflow_entityresolution.triggers.EntityResolutionIdMappingJobCompletedTrigger",
        "airflow_entityresolution.triggers.EntityResolutionMatchingJobCompletedTrigger",
    ),
    "extra-links": ("airflow_entityresolution.links.EntityResolutionJobLink",),
}

# Sections that name modules; "extra-links" names classes.
MODULE_SECTIONS = ("operators", "sensors", "hooks", "triggers")


def listed_paths(info: dict[str, Any], section: str) -> list[str]:
    """The dotted paths one section of the provider info names."""
    if section == "extra-links":
        return list(info[section])
    return [module for entry in info[section] for module in entry["python-modules"]]


def dotted_paths(info: dict[str, Any]) -> list[str]:
    """Every module and class path the provider info names."""
    return [path for section in (*MODULE_SECTIONS, "extra-links") for path in listed_paths(info, section)]
