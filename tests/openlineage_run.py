"""
Run a test DAG with ``dag.test()`` in a fresh Python, with the OpenLineage provider's listener
as the environment configures it, and write the task states to a JSON file.

The provider reads its configuration and registers its listener once per process, when Airflow
first loads plugins: the suite's own process runs without a transport, so without lineage, and
each lineage test runs its DAG here. With ``--without-openlineage`` the provider cannot be
imported, as where it is not installed.

The result goes to a file rather than to standard output: the listener's own processes, forked
while this one prints, can write into the middle of a line.

    python tests/openlineage_run.py BUILDER RESULT_FILE [--without-openlineage]

``BUILDER`` names a function of ``tests/lineage_dags.py`` that returns the DAG.
"""

from __future__ import annotations

import importlib.abc
import importlib.metadata
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class WithoutOpenLineage(importlib.abc.MetaPathFinder):
    """Refuse the OpenLineage provider and client, as an environment that lacks them does."""

    HIDDEN = ("airflow.providers.openlineage", "openlineage")
    HIDDEN_DISTRIBUTIONS = ("apache-airflow-providers-openlineage", "openlineage-")

    @classmethod
    def hides(cls, name: str) -> bool:
        return any(name == hidden or name.startswith(f"{hidden}.") for hidden in cls.HIDDEN)

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if self.hides(name):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    @classmethod
    def install(cls) -> None:
        """Hide the modules, and the distributions whose entry points Airflow's providers manager reads."""
        sys.meta_path.insert(0, cls())
        distributions = importlib.metadata.distributions

        def installed(**kwargs: Any) -> Iterator[importlib.metadata.Distribution]:
            for distribution in distributions(**kwargs):
                name = distribution.metadata["Name"].lower().replace("_", "-")
                if not name.startswith(cls.HIDDEN_DISTRIBUTIONS):
                    yield distribution

        importlib.metadata.distributions = installed  # type: ignore[assignment]


def main() -> None:
    builder, result_file, *flags = sys.argv[1:]
    if "--without-openlineage" in flags:
        WithoutOpenLineage.install()
    sys.path.insert(0, str(Path(__file__).parent))
    import conftest
    import lineage_dags

    dag = getattr(lineage_dags, builder)()
    conftest.sync_dags(dag)
    dag_run = dag.test()
    Path(result_file).write_text(json.dumps({"states": conftest.task_states(dag_run)}))


if __name__ == "__main__":
    main()
