"""
Scenarios: an emulator's options, workflows and ID namespaces, declared in a mapping or a JSON file.

:meth:`~airflow_entityresolution.emulator.EntityResolutionEmulator.from_scenario` builds an
emulator from one. A scenario is a mapping with these keys, all optional::

    {
      "account_id": "123456789012",
      "concurrency": "reject",          # or "queue", "unlimited"
      "rate_limit_per_second": null,
      "request_log_limit": 100000,
      "region": "us-east-1",            # default region of the workflows
      "id_mapping_workflows": {
        "<name>": {
          "region": "eu-west-1",        # optional, instead of the default
          "queued_seconds": 0, "running_seconds": 1,   # null: never finishes
          "status": "SUCCEEDED",        # or "FAILED"
          "error_message": null,
          "metrics": {"inputRecords": 100},
          "output_source_config": [{"outputS3Path": "s3://...", "roleArn": "arn:..."}],
          "next_jobs": [{...a script of the keys above...}],  # for the first starts
          "self_started_jobs": [        # jobs it starts by itself, with no Start call
            {"after_seconds": 2, "script": {...a script of the keys above...}}  # script optional
          ],
          "definition": {"inputSourceConfig": [...], ...}  # optional, see add_id_mapping_workflow
        }
      },
      "matching_workflows": {"<name>": {...the same keys...}},
      "id_namespaces": {"<name>": {"region": "eu-west-1", "definition": {"type": "SOURCE", ...}}}
    }

A self-started job starts ``after_seconds`` after the emulator is built, as
:meth:`~airflow_entityresolution.emulator.EntityResolutionEmulator.start_job_after` starts one;
without a ``script`` it runs the workflow's next script. A matching workflow whose definition
has ``"incrementalRunConfig": {"incrementalRunType": "IMMEDIATE"}`` is one the service runs
whenever new data arrives: its self-started jobs stand for data arriving then.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

from airflow_entityresolution.emulator.scripts import JobScript, refuse_unknown_keys
from airflow_entityresolution.emulator.wire import DEFAULT_REGION
from airflow_entityresolution.jobs import JOB_FAMILIES, JobFamily

# A scenario mapping, or the path of a JSON file that holds one.
Scenario = Mapping[str, Any] | str | PathLike[str]
# The keys that are the emulator's own options, as its constructor names them.
OPTION_KEYS = ("account_id", "concurrency", "rate_limit_per_second", "request_log_limit")
SCENARIO_KEYS = frozenset(
    {*OPTION_KEYS, "region", "id_mapping_workflows", "matching_workflows", "id_namespaces"}
)


@dataclass(frozen=True)
class SelfStartDeclaration:
    """
    A job a scenario's workflow starts by itself.

    :param after_seconds: how long after the emulator is built it starts.
    :param script: how it runs; ``None`` for the workflow's next script when it starts.
    """

    after_seconds: float
    script: JobScript | None

    @classmethod
    def from_mapping(cls, spec: Mapping[str, Any]) -> SelfStartDeclaration:
        """Read one entry of a workflow's ``self_started_jobs``."""
        refuse_unknown_keys(spec, {"after_seconds", "script"}, "a self-started job")
        after_seconds: Any = spec.get("after_seconds")
        if type(after_seconds) not in (int, float) or after_seconds < 0:
            raise ValueError(f"A self-started job's after_seconds is a number, not {after_seconds!r}.")
        script = spec.get("script")
        return cls(float(after_seconds), None if script is None else JobScript.from_mapping(script))


@dataclass(frozen=True)
class WorkflowDeclaration:
    """
    One workflow a scenario declares.

    :param family: the family of its jobs.
    :param name: its name.
    :param region: the region it lives in.
    :param definition: its Create members, or ``None`` for the default definition.
    :param script: how its jobs run.
    :param next_jobs: the scripts of its first starts.
    :param self_started_jobs: the jobs it starts by itself.
    """

    family: JobFamily
    name: str
    region: str
    definition: Mapping[str, Any] | None
    script: JobScript
    next_jobs: tuple[JobScript, ...]
    self_started_jobs: tuple[SelfStartDeclaration, ...]


@dataclass(frozen=True)
class IdNamespaceDeclaration:
    """
    One ID namespace a scenario declares.

    :param name: its name.
    :param region: the region it lives in.
    :param definition: its Create members, or ``None`` for the default definition.
    """

    name: str
    region: str
    definition: Mapping[str, Any] | None


def read_scenario(scenario: Scenario) -> Mapping[str, Any]:
    """Read a scenario mapping, or the JSON file that holds one, refusing keys it does not know."""
    spec = scenario if isinstance(scenario, Mapping) else json.loads(Path(scenario).read_text())
    refuse_unknown_keys(spec, SCENARIO_KEYS, "a scenario")
    return spec


def emulator_options(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The emulator's options the scenario sets; the constructor's defaults stand for the others."""
    return {key: spec[key] for key in OPTION_KEYS if key in spec}


def workflow_declarations(spec: Mapping[str, Any]) -> Iterator[WorkflowDeclaration]:
    """The scenario's workflows, ID mapping then matching, each read when the previous is declared."""
    default_region = spec.get("region", DEFAULT_REGION)
    for family in JOB_FAMILIES:
        for name, workflow_spec in spec.get(f"{family.key}_workflows", {}).items():
            script_spec = dict(workflow_spec)
            region = script_spec.pop("region", default_region)
            definition = script_spec.pop("definition", None)
            next_jobs = tuple(JobScript.from_mapping(script) for script in script_spec.pop("next_jobs", []))
            self_started_jobs = tuple(
                SelfStartDeclaration.from_mapping(start) for start in script_spec.pop("self_started_jobs", [])
            )
            script = JobScript.from_mapping(script_spec)
            yield WorkflowDeclaration(family, name, region, definition, script, next_jobs, self_started_jobs)


def id_namespace_declarations(spec: Mapping[str, Any]) -> Iterator[IdNamespaceDeclaration]:
    """The scenario's ID namespaces, each read when the previous is declared."""
    default_region = spec.get("region", DEFAULT_REGION)
    for name, namespace_spec in spec.get("id_namespaces", {}).items():
        refuse_unknown_keys(namespace_spec, {"region", "definition"}, f"ID namespace {name!r}")
        region = namespace_spec.get("region", default_region)
        yield IdNamespaceDeclaration(name, region, namespace_spec.get("definition"))
