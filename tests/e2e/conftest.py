"""
The slow tier: tests that start Airflow's own processes.

``-m e2e`` selects them, ``-m "not e2e"`` skips them.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "e2e: starts real Airflow processes (API server, scheduler, DAG processor, triggerer); slow",
    )
