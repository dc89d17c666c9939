"""
What Airflow's providers manager reads about this package.

The ``apache_airflow_provider`` entry point calls :func:`get_provider_info` in every Airflow
process that looks at providers, so this module imports nothing but the package's version.
The layout follows ``airflow/provider_info.schema.json``: operators, sensors, hooks and
triggers are listed by module, extra links by class. It declares no connection type: the
hook reads the Amazon provider's ``aws`` connections, so users see that one type only.
"""

from __future__ import annotations

from typing import Any

from airflow_entityresolution import __version__

PACKAGE_NAME = "airflow-entityresolution"
INTEGRATION_NAME = "AWS Entity Resolution"


def _modules(name: str) -> list[dict[str, Any]]:
    return [{"integration-name": INTEGRATION_NAME, "python-modules": [f"airflow_entityresolution.{name}"]}]


def get_provider_info() -> dict[str, Any]:
    """Return the provider's description in the form of ``airflow/provider_info.schema.json``."""
    return {
        "package-name": PACKAGE_NAME,
        "name": INTEGRATION_NAME,
        "description": (
            "AWS Entity Resolution ID mapping and matching jobs: start them, wait for them in a "
            "worker or deferred in the triggerer, and test DAGs against a local emulator of the job API.\n"
        ),
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION_NAME,
                "external-doc-url": "https://aws.amazon.com/entity-resolution/",
                "tags": ["aws"],
            }
        ],
        "operators": _modules("operators"),
        "sensors": _modules("sensors"),
        "hooks": _modules("hooks"),
        "triggers": _modules("triggers"),
        "extra-links": ["airflow_entityresolution.links.EntityResolutionJobLink"],
    }
