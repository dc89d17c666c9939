"""
What Airflow's providers manager reads about this package.

The ``apache_airflow_provider`` entry point calls :func:`get_provider_info` in every Airflow
process that looks at providers, so this module imports nothing but the package's version.
The layout follows ``airflow/provider_info.schema.json``: operators, sensors, hooks and
triggers are listed by module, connection types and extra links by class.
"""

from __future__ import annotations

from typing import Any

from airflow_entityresolution import __version__

PACKAGE_NAME = "airflow-entityresolution"
INTEGRATION_NAME = "AWS Entity Resolution"

CONNECTION_TYPE = "entityresolution"
"""The connection type ``EntityResolutionHook`` is registered under.

Airflow keys its hook registry by connection type, and ``aws`` already belongs to the
Amazon provider's ``AwsGenericHook``: registering this hook under ``aws`` as well would be
ignored at best and, as providers are read in name order and this package's name sorts
before the Amazon provider's, would take ``aws`` over at worst. The hook still reads
ordinary ``aws`` connections through ``aws_conn_id``."""

HOOK_CLASS = "airflow_entityresolution.hooks.EntityResolutionHook"

# The same connection form as the Amazon provider's ``aws`` type, since the hook reads the
# same fields; Airflow 3.2 and later read it from here instead of from the hook class.
_AWS_FORM: dict[str, Any] = {
    "hidden-fields": ["host", "schema", "port"],
    "relabeling": {"login": "AWS Access Key ID", "password": "AWS Secret Access Key"},
    "placeholders": {
        "login": "YOUR_AWS_ACCESS_KEY_ID",
        "password": "YOUR_AWS_SECRET_ACCESS_KEY",
        "extra": (
            "{\n"
            '  "region_name": "us-east-1",\n'
            '  "role_arn": "arn:aws:iam::123456789012:role/AirflowEntityResolution",\n'
            '  "config_kwargs": {"retries": {"mode": "adaptive", "max_attempts": 10}},\n'
            '  "endpoint_url": "http://127.0.0.1:8455"\n'
            "}\n"
        ),
    },
}


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
        "connection-types": [
            {
                "connection-type": CONNECTION_TYPE,
                "hook-class-name": HOOK_CLASS,
                "hook-name": INTEGRATION_NAME,
                "ui-field-behaviour": _AWS_FORM,
            }
        ],
        "extra-links": ["airflow_entityresolution.links.EntityResolutionJobLink"],
    }
