"""
The Airflow names the tests build DAGs with, from Airflow 3's Task SDK or Airflow 2.11's core.

The package itself finds its names through :mod:`airflow_entityresolution.compat`; this is the
tests' own seam, so that no test module asks which Airflow it runs on.
"""

from __future__ import annotations

from conftest import AIRFLOW_3

if AIRFLOW_3:
    from airflow.sdk import (
        DAG,
        Asset,
        BaseOperator,
        BaseOperatorLink,
        BaseSensorOperator,
        get_current_context,
        task,
    )
else:
    from airflow.datasets import Dataset as Asset
    from airflow.decorators import task
    from airflow.models.baseoperator import BaseOperator
    from airflow.models.baseoperatorlink import BaseOperatorLink
    from airflow.models.dag import DAG
    from airflow.operators.python import get_current_context
    from airflow.sensors.base import BaseSensorOperator

from airflow_entityresolution.compat import AirflowSensorTimeout

__all__ = [
    "DAG",
    "AirflowSensorTimeout",
    "Asset",
    "BaseOperator",
    "BaseOperatorLink",
    "BaseSensorOperator",
    "get_current_context",
    "task",
]
