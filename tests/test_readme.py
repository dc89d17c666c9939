"""Every Python example in README.md runs, against the emulator, on the Airflow it is tested with."""

from __future__ import annotations

import re

import pytest
from conftest import REPO

from airflow_entityresolution.emulator import JobScript

BLOCKS = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), flags=re.DOTALL)


def test_the_readme_has_examples_for_every_public_class():
    text = "\n".join(BLOCKS)
    for name in (
        "EntityResolutionStartIdMappingJobOperator",
        "EntityResolutionStartMatchingJobOperator",
        "EntityResolutionIdMappingJobCompletedSensor",
        "EntityResolutionMatchingJobCompletedSensor",
        "EntityResolutionMatchingJobCompletedTrigger",
        "EntityResolutionHook",
        "max_records_not_processed",
        "output_asset",
        "start_from_trigger",
    ):
        assert name in text, f"no README example uses {name}"


@pytest.mark.parametrize("source", BLOCKS, ids=[f"block-{n}" for n in range(1, len(BLOCKS) + 1)])
def test_the_readme_example_runs(entity_resolution_emulator, source):
    entity_resolution_emulator.add_id_mapping_workflow("customer-id-mapping", JobScript.never_finishing())
    entity_resolution_emulator.add_matching_workflow("customer-matching", JobScript.never_finishing())
    exec(compile(source, "README.md", "exec"), {"__name__": "readme_example"})
