"""Each job family's client calls and declaration, so one test covers both families; the job tests' data."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airflow_entityresolution.emulator import EntityResolutionEmulator

OUTPUT_SOURCE = {
    "outputS3Path": "s3://entity-bucket/output/",
    "roleArn": "arn:aws:iam::123456789012:role/entity-resolution-writer",
}
ID_MAPPING_METRICS = {"inputRecords": 120, "totalRecordsProcessed": 118, "recordsNotProcessed": 2}
MATCHING_METRICS = {"inputRecords": 50, "totalRecordsProcessed": 50, "matchIDs": 7}
MISSING_JOB_ID = "0" * 32
# Where a manual clock's epoch seconds start: a whole number, so that every time on it is exact.
WALL_START = 1_800_000_000.0
KMS_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
EMULATED_OPERATIONS = (
    "StartIdMappingJob",
    "GetIdMappingJob",
    "ListIdMappingJobs",
    "StartMatchingJob",
    "GetMatchingJob",
    "ListMatchingJobs",
)


@dataclass(frozen=True)
class Family:
    """The client calls and declarations of one job family, so one test covers both families."""

    label: str
    metrics: dict[str, int]
    declare: Callable[..., str]
    start: Callable[..., dict[str, Any]]
    get: Callable[..., dict[str, Any]]
    list: Callable[..., dict[str, Any]]
    list_operation: str


def families(emulator: EntityResolutionEmulator, client: Any) -> dict[str, Family]:
    return {
        "id_mapping": Family(
            "IdMapping",
            ID_MAPPING_METRICS,
            emulator.add_id_mapping_workflow,
            client.start_id_mapping_job,
            client.get_id_mapping_job,
            client.list_id_mapping_jobs,
            "list_id_mapping_jobs",
        ),
        "matching": Family(
            "Matching",
            MATCHING_METRICS,
            emulator.add_matching_workflow,
            client.start_matching_job,
            client.get_matching_job,
            client.list_matching_jobs,
            "list_matching_jobs",
        ),
    }


def sleep_until(deadline: float) -> None:
    time.sleep(max(0.0, deadline - time.monotonic()))
