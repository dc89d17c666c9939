"""
The slow tier: tests that start Airflow's own processes.

``-m e2e`` selects them, ``-m "not e2e"`` skips them.
"""

from __future__ import annotations

import pytest
from conftest import AIRFLOW_3, AIRFLOW_VERSION

# The stack is Airflow 3's: an api-server with REST API v2, a standalone dag-processor, Task SDK
# workers, and the LocalExecutor on SQLite, which Airflow 2 refuses.
AIRFLOW_2_SKIP_REASON = (
    f"the e2e tier drives Airflow 3's processes (api-server, dag-processor, Task SDK workers, "
    f"REST API v2, LocalExecutor on SQLite); Airflow {AIRFLOW_VERSION} has none of them"
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "e2e: starts real Airflow processes (API server, scheduler, DAG processor, triggerer); slow",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if AIRFLOW_3:
        return
    for item in items:
        if item.get_closest_marker("e2e"):
            item.add_marker(pytest.mark.skip(reason=AIRFLOW_2_SKIP_REASON))
