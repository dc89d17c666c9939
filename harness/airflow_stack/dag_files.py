"""
DAG files for a stack: their source, rendered from one header, and their atomic write.

Every DAG the tests and benchmarks deploy shares one shape: ``import datetime``, Airflow's ``DAG``,
the file's own imports, module-level code if any, then ``with DAG(...)`` run by hand only
(``schedule=None``), from a fixed start date, without catch-up, around the file's tasks.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path


class Expression(str):
    """Python source for a DAG argument, written into the file as it is instead of as a value's ``repr``."""

    def __repr__(self) -> str:
        return str(self)


START_DATE = Expression("datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)")
INDENT = "    "


def dag_file_source(
    dag_id: str,
    imports: str | Sequence[str],
    body: str,
    *,
    sdk_names: Sequence[str] = (),
    preamble: str = "",
    **dag_arguments: object,
) -> str:
    """
    The source of a DAG file: a header, then ``body`` inside ``with DAG(dag_id, ...):``.

    :param dag_id: the DAG's ID.
    :param imports: the file's own import statements, besides ``datetime`` and ``airflow.sdk``'s.
    :param sdk_names: what the file imports from ``airflow.sdk`` besides ``DAG``, e.g. ``Asset``.
    :param body: the statements inside the ``with DAG`` block (the tasks), written unindented or
        uniformly indented; indented into the block here.
    :param preamble: module-level statements between the imports and the DAG, e.g. assets.
    :param dag_arguments: more arguments of ``DAG``, each written as its value's ``repr`` (or as it is,
        for an :class:`Expression`); they override ``schedule=None``, ``start_date`` and ``catchup=False``.
    """
    statements = [imports] if isinstance(imports, str) else list(imports)
    arguments = {"schedule": None, "start_date": START_DATE, "catchup": False, **dag_arguments}
    parts = [
        f"import datetime\n\nfrom airflow.sdk import {', '.join(['DAG', *sdk_names])}\n",
        *(["\n".join(statements) + "\n"] if statements else []),
        *([textwrap.dedent(preamble).strip("\n") + "\n"] if preamble else []),
        "\n".join(
            [
                "with DAG(",
                f"{INDENT}{dag_id!r},",
                *(f"{INDENT}{name}={value!r}," for name, value in arguments.items()),
                "):",
                textwrap.indent(textwrap.dedent(body).strip("\n"), INDENT),
            ]
        )
        + "\n",
    ]
    return "\n".join(parts)


def write_dag_file(folder: Path, filename: str, source: str) -> Path:
    """
    Write a DAG file, atomically so the DAG processor never parses half of it.

    :param folder: the DAGs folder.
    :param filename: the file's name in it.
    :param source: the file's source.
    """
    path = folder / filename
    partial = path.with_suffix(".partial")
    partial.write_text(source)
    partial.replace(path)
    return path
