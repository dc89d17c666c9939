"""Modules imported on first use, so that parsing a DAG file loads only what builds its tasks."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """
    Stands for a module of the provider and imports it when an attribute is first read from it.

    The hook, the operators and the sensors need :mod:`~airflow_entityresolution.jobs`,
    :mod:`~airflow_entityresolution.errors` and the triggers only when a task runs. Airflow
    parses every DAG file again and again, and best practice keeps such imports out of that path.

    :param name: the module's full name, such as ``airflow_entityresolution.jobs``.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attribute: str) -> Any:
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attribute)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"
