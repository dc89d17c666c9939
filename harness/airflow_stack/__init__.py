"""
Airflow's own processes (API server, scheduler, DAG processor, triggerer, Celery workers) on a
private home, for the provider's end-to-end tests, its production tier and its benchmarks.

Each concern has a module of its own: :mod:`~airflow_stack.processes` (the processes and their
environment), :mod:`~airflow_stack.metadata_db` (reading the metadata DB),
:mod:`~airflow_stack.rest_api` (the REST API), :mod:`~airflow_stack.logs` (process, task and
trigger logs), :mod:`~airflow_stack.dag_files` (DAG files), :mod:`~airflow_stack.aws` (the
emulator's fake credentials) and :mod:`~airflow_stack.waiting` (bounded waits);
:mod:`~airflow_stack.stack` composes them into an :class:`AirflowStack`. The names below are the
ones importers use.
"""

from __future__ import annotations

from .aws import FAKE_AWS, fake_client_arguments
from .dag_files import Expression, dag_file_source
from .logs import NO_WORKER, StackLogs
from .metadata_db import (
    TERMINAL_TASK_STATES,
    MetadataDatabase,
    MetadataReader,
    SqliteDatabase,
    TaskInstanceRow,
)
from .processes import CELERY_WORKER, COMPONENTS, AirflowProcesses, end_process_group
from .rest_api import RestApi
from .stack import AirflowStack, running_stack
from .waiting import StackError, free_port, wait_for

__all__ = [
    "CELERY_WORKER",
    "COMPONENTS",
    "FAKE_AWS",
    "NO_WORKER",
    "TERMINAL_TASK_STATES",
    "AirflowProcesses",
    "AirflowStack",
    "Expression",
    "MetadataDatabase",
    "MetadataReader",
    "RestApi",
    "SqliteDatabase",
    "StackError",
    "StackLogs",
    "TaskInstanceRow",
    "dag_file_source",
    "end_process_group",
    "fake_client_arguments",
    "free_port",
    "running_stack",
    "wait_for",
]
