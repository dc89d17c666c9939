"""
Keep ``make bench`` from breaking silently: the harness runs end to end in quick mode and yields
sane figures. Nothing here asserts a timing; BENCHMARKS.md holds the measurements.

Also the functional half of the benchmarks: a wait on the shared client outlives its credentials.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import BASE_ACCESS_KEY, role_assuming_connection

from airflow_entityresolution.clients import shared_async_clients
from airflow_entityresolution.emulator import JobScript
from airflow_entityresolution.hooks import EntityResolutionHook
from airflow_entityresolution.triggers import EntityResolutionIdMappingJobCompletedTrigger

REPO = Path(__file__).resolve().parent.parent
# The Makefile's NEWEST: `make bench` runs in that profile only, so its quick run is checked there only.
BENCH_PROFILE = "newest"


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run ``python -m benchmarks.run --quick`` once, into a temporary report."""
    profile = os.environ.get("ER_PROFILE", BENCH_PROFILE)
    if profile != BENCH_PROFILE:
        pytest.skip(f"`make bench` runs in the {BENCH_PROFILE} profile only, not in {profile}")
    out = tmp_path_factory.mktemp("bench")
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.run",
            "--quick",
            "--output",
            str(out / "BENCHMARKS.md"),
            "--json",
            str(out / "results.json"),
        ],
        cwd=REPO,
        # The benchmarks are the repository's, not the wheel's: the working directory is on the path.
        env={name: value for name, value in os.environ.items() if name != "PYTHONSAFEPATH"},
        capture_output=True,
        text=True,
        # Sections 6 and 7 start Airflow's own processes: about a minute and a half each.
        timeout=540,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    results["report"] = (out / "BENCHMARKS.md").read_text()
    return results


@pytest.mark.timeout(600)
def test_the_quick_run_measures_both_sides(quick_results: dict[str, Any]) -> None:
    runs = quick_results["triggerer"]
    assert {run["side"] for run in runs} == {"ours", "baseline"}
    for run in runs:
        assert run["succeeded_waits"] == run["waits"], run["failure_examples"]
        assert run["polls"] >= run["waits"]
        assert run["rss_added_bytes"] > 0
        assert run["cpu_seconds"] > 0
        assert run["lag_p99"] >= 0
        assert run["latency_p50"] is not None and run["latency_p99"] >= run["latency_p50"]


@pytest.mark.timeout(600)
def test_the_quick_run_throttles_and_counts(quick_results: dict[str, Any]) -> None:
    runs = quick_results["throttled"]
    assert [(run["side"], bool(run["botocore_config"])) for run in runs] == [
        ("baseline", False),
        ("ours", False),
        ("ours", True),
    ]
    for run in runs:
        assert run["succeeded_waits"] + run["failed_waits"] + run["unfinished_waits"] == run["waits"]
        assert run["ok_polls"] >= run["succeeded_waits"]
        assert run["throttled_polls"] == run["polls"] - run["ok_polls"]


@pytest.mark.timeout(600)
def test_the_quick_run_writes_the_report(quick_results: dict[str, Any]) -> None:
    assert quick_results["import"]["ours"]["dag_seconds"] > 0
    assert quick_results["import"]["amazon"]["dag_rss_bytes"] > 0
    assert quick_results["sync"]["hook_median"] > 0 and quick_results["sync"]["raw_median"] > 0
    report = quick_results["report"]
    assert "python -m benchmarks.run --quick" in report
    for heading in (
        "## Summary",
        "## 1. Triggerer cost",
        "## 3. Throttled account",
        "## 6. Inside Airflow's triggerer",
        "## 7. Event watchers: List calls per interval",
        "## Closing note",
    ):
        assert heading in report
    targets = 9 + (2 if quick_results["real_triggerer"] else 0) + (1 if quick_results["job_events"] else 0)
    assert report.count("| met |") + report.count("| **missed** |") == targets


@pytest.mark.timeout(600)
def test_the_quick_run_measures_both_sides_inside_airflows_triggerer(quick_results: dict[str, Any]) -> None:
    real = quick_results["real_triggerer"]
    if real is None:
        pytest.skip("this Airflow cannot start templated sensors in the triggerer (3.3 can)")
    counts = real["plan"]["counts"]
    points = real["points"]
    rounds = real["plan"]["rounds"]
    # A fresh triggerer per round, each measured idle and then at every N, with all N triggers running.
    assert sorted((p["side"], p["waits"]) for p in points) == sorted(
        (side, n) for side in ("ours", "datetime") for n in (0, *counts) for _ in range(rounds)
    )
    assert len({p["triggerer_job_id"] for p in points}) == 2 * rounds
    for point in points:
        assert point["rss_bytes"] > 0 and point["wall_seconds"] > 0
        assert set(point["cpu_by_process"]) == set(point["rss_by_process"])
        assert "supervisor" in point["rss_by_process"] and len(point["rss_by_process"]) >= 2
    # Only ours polls the emulator, and it does so while the window is open.
    assert all(p["gets"] == 0 for p in points if p["side"] == "datetime" or not p["waits"])
    assert any(p["gets"] > 0 for p in points if p["side"] == "ours" and p["waits"])
    rows = {(row["side"], row["waits"]) for row in real["summary"]}
    assert rows == {(side, n) for side in ("ours", "datetime") for n in counts}
    assert real["serialized_dag_bytes"]["ours"] > 0 and real["serialized_dag_bytes"]["datetime"] > 0


@pytest.mark.timeout(600)
def test_the_quick_run_counts_the_list_calls_of_event_watchers(quick_results: dict[str, Any]) -> None:
    figures = quick_results["job_events"]
    if figures is None:
        pytest.skip("this Airflow's triggerer runs every event trigger alone (3.3 shares streams)")
    counts = figures["plan"]["counts"]
    points = figures["points"]
    assert sorted((p["side"], p["watchers"]) for p in points) == sorted(
        (side, n) for side in ("shared", "unshared") for n in counts
    )
    for point in points:
        # Every watcher polled in the window, and announced the one job that ended after it.
        assert point["list_calls"] > 0 and point["intervals"] > 0
        assert point["end_one_job"]["asset_events"] == point["watchers"]
        assert point["end_one_job"]["get_calls"] >= 1


def test_only_job_events_rewrites_its_own_parts_of_a_report(
    quick_results: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--only job-events`` puts section 7, its Summary row and the count of targets into an older report."""
    if quick_results["job_events"] is None:
        pytest.skip("this Airflow's triggerer runs every event trigger alone (3.3 shares streams)")
    # The benchmarks are the repository's, not the wheel's.
    monkeypatch.syspath_prepend(str(REPO))
    from benchmarks.report import splice_job_events

    report = quick_results["report"]
    before, after = report.split("## 7. ")[0], report.split("## Misses", 1)[1]
    [row] = [line for line in report.splitlines() if "List call per interval" in line]
    older = [line for line in f"{before}## Misses{after}".splitlines() if line != row]
    targets = re.compile(r"(\d+) of (\d+) targets met")
    counted = targets.search(report)
    assert counted is not None
    met, total = int(counted[1]) - row.endswith("| met |"), int(counted[2]) - 1
    older_report = targets.sub(f"{met} of {total} targets met", "\n".join(older) + "\n")
    assert splice_job_events(older_report, quick_results, "python -m benchmarks.run --quick") == report


@pytest.fixture
def short_lived_role(
    entity_resolution_emulator: Any, sts_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> Any:
    """A role-assuming connection (STS from moto) whose credentials last the 900 s minimum."""
    entity_resolution_emulator.add_id_mapping_workflow(
        "wf", JobScript.succeeded({"inputRecords": 3}, running_seconds=2.0)
    )
    connection = role_assuming_connection(
        entity_resolution_emulator.endpoint_url, sts_endpoint, DurationSeconds=900
    )
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", connection)
    return entity_resolution_emulator


async def test_a_shared_client_outlives_its_credentials(short_lived_role: Any) -> None:
    """
    botocore refreshes assumed-role credentials once fewer than 15 minutes remain (advisory
    refresh), so credentials that last 900 s are stale from the start and are refreshed before
    every request: each poll of the wait is signed with the next set, as after an hour's expiry.
    """
    job_id = EntityResolutionHook().start_id_mapping_job("wf")
    trigger = EntityResolutionIdMappingJobCompletedTrigger(
        "wf", job_id, waiter_delay=0.2, waiter_max_attempts=100
    )
    [event] = [event.payload async for event in trigger.run()]
    assert event["outcome"] == "succeeded"
    assert len(shared_async_clients) == 0
    gets = [r for r in short_lived_role.requests if r.operation == "GetIdMappingJob"]
    assert len(gets) >= 3
    assert all(r.status == 200 for r in gets)
    keys = [r.access_key_id for r in gets]
    assert BASE_ACCESS_KEY not in keys and None not in keys
    assert len(set(keys)) >= 2, "the shared client kept signing with its first credentials"
