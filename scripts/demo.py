"""
Run the example DAGs through real Airflow against the Entity Resolution emulator.

``make demo`` calls this. It starts the emulator with the examples' scenario,
points the ``aws_default`` connection at it, runs each example DAG with
``airflow dags test`` on a SQLite metadata DB in ``.airflow/``, and prints each
job's outcome and metrics as the emulator reports them through boto3, and the datasets
each task reported to OpenLineage, whose listener writes its events to a file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore import xform_name

from airflow_entityresolution.jobs import ID_MAPPING, MATCHING, JobFamily

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_DAGS = REPO / "example_dags"
SCENARIO = EXAMPLE_DAGS / "emulator_scenario.json"
LOGS = REPO / ".airflow" / "demo-logs"
# The examples the demo runs, alone: the example sensor that ends in the triggerer cannot load where
# OpenLineage's listener runs, as it does here, and Airflow would log so whenever it parses the folder.
DAGS_FOLDER = REPO / ".airflow" / "demo-dags"
LINEAGE_EVENTS = LOGS / "openlineage.jsonl"


@dataclass(frozen=True)
class Example:
    dag_id: str
    workflow_name: str
    expect_success: bool
    family: JobFamily = ID_MAPPING


EXAMPLES = (
    Example("example_entityresolution_id_mapping_job", "customer-id-mapping", expect_success=True),
    Example("example_entityresolution_id_mapping_sensor", "supplier-id-mapping", expect_success=True),
    Example(
        "example_entityresolution_matching_job", "customer-matching", expect_success=True, family=MATCHING
    ),
    Example("example_entityresolution_failed_job", "orders-id-mapping", expect_success=False),
    Example("example_entityresolution_lineage", "loyalty-id-mapping", expect_success=True),
)


def fill_dags_folder() -> None:
    shutil.rmtree(DAGS_FOLDER, ignore_errors=True)
    DAGS_FOLDER.mkdir(parents=True)
    for example in EXAMPLES:
        shutil.copy(EXAMPLE_DAGS / f"{example.dag_id}.py", DAGS_FOLDER)


def start_emulator() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_entityresolution.emulator",
            "--port",
            "0",
            "--scenario",
            str(SCENARIO),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    banner = process.stdout.readline().strip()
    if "http://" not in banner:
        process.kill()
        raise SystemExit(f"The emulator did not start: {banner!r}")
    return process, banner[banner.index("http://") :]


def airflow_env(endpoint_url: str) -> dict[str, str]:
    connection = {
        "conn_type": "aws",
        "login": "demo-access-key",
        "password": "demo-secret-key",
        "extra": {"region_name": "us-east-1", "endpoint_url": endpoint_url},
    }
    return {
        **os.environ,
        "AIRFLOW_HOME": str(REPO / ".airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(connection),
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
            {"type": "file", "log_file_path": str(LINEAGE_EVENTS), "append": True}
        ),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "entity-resolution-demo",
    }


def run_dag(example: Example, env: dict[str, str]) -> bool:
    log_path = LOGS / f"{example.dag_id}.log"
    with log_path.open("w") as log:
        result = subprocess.run(
            [sys.executable, "-m", "airflow", "dags", "test", example.dag_id],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    text = log_path.read_text()
    return result.returncode == 0 and "state=success" in text and "state=failed" not in text


def failed_with_the_service_message(dag_id: str) -> bool:
    line = failure_line(dag_id) or ""
    scripted = json.loads(SCENARIO.read_text())["id_mapping_workflows"]["orders-id-mapping"]["error_message"]
    return scripted in line


def failure_line(dag_id: str) -> str | None:
    text = (LOGS / f"{dag_id}.log").read_text()
    return next(
        (line for line in text.splitlines() if "FAILED:" in line and "Entity Resolution" in line), None
    )


def report_jobs(endpoint_url: str, example: Example) -> None:
    client = boto3.client(
        "entityresolution",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="demo-access-key",
        aws_secret_access_key="demo-secret-key",
    )
    list_jobs = getattr(client, xform_name(example.family.list_operation))
    get_job = getattr(client, xform_name(example.family.get_operation))
    for summary in list_jobs(workflowName=example.workflow_name)["jobs"]:
        job = get_job(workflowName=example.workflow_name, jobId=summary["jobId"])
        print(f"    {example.family.label} job {job['jobId']}: {job['status']}")
        if "errorDetails" in job:
            print(f"      errorMessage: {job['errorDetails']['errorMessage']}")
        for name, value in job.get("metrics", {}).items():
            print(f"      {name}: {value}")


def report_lineage(dag_id: str) -> int:
    """Print the datasets each Entity Resolution task of the DAG reported when it ended; count the tasks."""
    events = (
        [json.loads(line) for line in LINEAGE_EVENTS.read_text().splitlines()]
        if LINEAGE_EVENTS.exists()
        else []
    )
    ended = [
        event
        for event in events
        if event["eventType"] in ("COMPLETE", "FAIL") and event["job"]["name"].startswith(f"{dag_id}.")
    ]
    reported = 0
    for event in ended:
        facet = event["run"]["facets"].get("entityResolutionJob")
        if facet is None:
            continue
        reported += 1
        print(f"    lineage of {event['job']['name']} ({event['eventType']}, job {facet['jobId']}):")
        for side, arrow in (("inputs", "in "), ("outputs", "out")):
            for dataset in event[side]:
                print(f"      {arrow} {dataset['namespace']} {dataset['name']}")
    return reported


def main() -> int:
    LOGS.mkdir(parents=True, exist_ok=True)
    LINEAGE_EVENTS.unlink(missing_ok=True)
    fill_dags_folder()
    emulator, endpoint_url = start_emulator()
    env = airflow_env(endpoint_url)
    ok = True
    try:
        print(f"Entity Resolution emulator at {endpoint_url}")
        subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True
        )
        for example in EXAMPLES:
            print(f"\n== {example.dag_id} (airflow dags test; log: {LOGS / example.dag_id}.log)")
            succeeded = run_dag(example, env)
            if not example.expect_success and not failed_with_the_service_message(example.dag_id):
                succeeded = None  # a failure for any other reason (say, no emulator) is no demonstration
            if succeeded == example.expect_success:
                print(f"  DAG run {'succeeded' if succeeded else 'failed, as this example means to'}")
            else:
                ok = False
                print(
                    f"  UNEXPECTED: the DAG run {'succeeded' if succeeded else 'failed for another reason'}"
                )
            if not example.expect_success:
                print(f"  task error: {failure_line(example.dag_id)}")
            report_jobs(endpoint_url, example)
            if not report_lineage(example.dag_id):
                ok = False
                print("  UNEXPECTED: no task reported its lineage to OpenLineage")
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
    print(f"\nOpenLineage events, one per line: {LINEAGE_EVENTS}")
    print("\nDemo finished: every example behaved as expected." if ok else "\nDemo FAILED: see above.")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
