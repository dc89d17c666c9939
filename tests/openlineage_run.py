"""
Run a test DAG with ``dag.test()`` in a fresh Python, with the OpenLineage provider's listener
as the environment configures it, and print the task states as one JSON line.

The provider reads its configuration and registers its listener once per process, when Airflow
first loads plugins: the suite's own process runs without a transport, so without lineage, and
each lineage test runs its DAG here. With ``--without-openlineage`` the provider cannot be
imported, as where it is not installed.

    python tests/openlineage_run.py BUILDER [--without-openlineage]

``BUILDER`` names a function of ``tests/lineage_dags.py`` that returns the DAG.
"""

from __future__ import annotations

import importlib.abc
import json
import sys
from pathlib import Path
from typing import Any


class WithoutOpenLineage(importlib.abc.MetaPathFinder):
    """Refuse the OpenLineage provider and client, as an environment that lacks them does."""

    HIDDEN = ("airflow.providers.openlineage", "openlineage")

    @classmethod
    def hides(cls, name: str) -> bool:
        return any(name == hidden or name.startswith(f"{hidden}.") for hidden in cls.HIDDEN)

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if self.hides(name):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


def main() -> None:
    builder, *flags = sys.argv[1:]
    if "--without-openlineage" in flags:
        sys.meta_path.insert(0, WithoutOpenLineage())
    sys.path.insert(0, str(Path(__file__).parent))
    import conftest
    import lineage_dags

    dag = getattr(lineage_dags, builder)()
    conftest.sync_dags(dag)
    dag_run = dag.test()
    print(json.dumps({"states": conftest.task_states(dag_run)}))


if __name__ == "__main__":
    main()
