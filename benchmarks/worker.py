"""
The measured process: ``python -m benchmarks.worker '<spec JSON>'``.

Each scenario runs in a fresh process so that its RSS baseline and CPU time are its own.
Scenario ``waits`` prints ``{"ready": true}`` once its imports are done, reads the job IDs
to wait for as one JSON line, runs one trigger per job in one asyncio event loop, the way
the triggerer does, and prints its figures. ``import`` and ``sync`` print their figures
directly. Every answer is one JSON line on stdout.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import resource
import statistics
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

WORKFLOW = "bench-workflow"
LAG_TIMER_SECONDS = 0.01
# What `DAG` comes from in a DAG file: the Task SDK on Airflow 3, the DAG model on Airflow 2 (what
# common.compat's `sdk.DAG` resolves to). Read from the distribution, so that Airflow is not imported
# before the timer starts.
AIRFLOW_MAJOR = int(importlib.metadata.version("apache-airflow").split(".")[0])
AUTHORING_MODULE = "airflow.sdk" if AIRFLOW_MAJOR >= 3 else "airflow.models.dag"


def current_rss_bytes() -> int:
    """The resident set size of this process, from /proc."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes() -> int:
    """The high-water mark of this process's RSS (``ru_maxrss`` is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def emit(payload: dict[str, Any]) -> None:
    """Write one JSON line for the parent."""
    print(json.dumps(payload), flush=True)


def make_trigger(side: str, job_id: str, spec: dict[str, Any]) -> Any:
    """Build the trigger of ``side`` (``ours`` or ``baseline``) for one job."""
    common = {
        "waiter_delay": spec["waiter_delay"],
        "waiter_max_attempts": spec["waiter_max_attempts"],
        "botocore_config": spec.get("botocore_config"),
    }
    if side == "ours":
        from airflow_entityresolution.triggers import EntityResolutionIdMappingJobCompletedTrigger

        return EntityResolutionIdMappingJobCompletedTrigger(WORKFLOW, job_id, **common)
    from benchmarks.baseline import BaselineIdMappingJobCompletedTrigger

    return BaselineIdMappingJobCompletedTrigger(workflow_name=WORKFLOW, job_id=job_id, **common)


def succeeded(payload: dict[str, Any]) -> bool:
    """Whether an event reports a successful wait, in either side's payload format."""
    return payload.get("outcome") == "succeeded" or payload.get("status") == "success"


async def watch(trigger: Any, job_id: str, events: dict[str, Any]) -> None:
    """Run one trigger to its first event, recording when it came and what it said."""
    try:
        stream: AsyncIterator[Any] = trigger.run()
        async for event in stream:
            outcome = "ok" if succeeded(event.payload) else f"event: {event.payload.get('message')}"
            events[job_id] = [time.time(), outcome]
            return
        events[job_id] = [time.time(), "no event"]
    except asyncio.CancelledError:
        events[job_id] = [time.time(), "unfinished"]
        raise
    except Exception as error:
        events[job_id] = [time.time(), f"raised {type(error).__name__}: {error}"[:300]]


async def measure_lag(lags: list[float], stop: asyncio.Event) -> None:
    """Record how late a 10 ms timer fires, again and again, until ``stop`` is set."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        planned = loop.time() + LAG_TIMER_SECONDS
        await asyncio.sleep(LAG_TIMER_SECONDS)
        lags.append(loop.time() - planned)


async def run_waits(side: str, job_ids: list[str], spec: dict[str, Any]) -> dict[str, Any]:
    """Run one trigger per job concurrently, with the lag probe alongside."""
    events: dict[str, Any] = {}
    lags: list[float] = []
    stop = asyncio.Event()
    probe = asyncio.create_task(measure_lag(lags, stop))
    tasks = [
        asyncio.create_task(watch(make_trigger(side, job_id, spec), job_id, events)) for job_id in job_ids
    ]
    _, pending = await asyncio.wait(tasks, timeout=spec["deadline_seconds"])
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    stop.set()
    await probe
    return {"events": events, "lags": lags}


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` quantile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def scenario_waits(spec: dict[str, Any]) -> dict[str, Any]:
    """Wait for the jobs the parent names, and report memory, CPU and loop lag."""
    side = spec["side"]
    # Both sides pay for the same modules before the baseline RSS is taken.
    import aiobotocore.session  # noqa: F401
    import airflow.providers.amazon.aws.hooks.base_aws  # noqa: F401

    make_trigger(side, "0" * 32, spec)
    import gc

    gc.collect()
    emit({"ready": True})
    job_ids: list[str] = json.loads(sys.stdin.readline())["job_ids"]
    rss_before = current_rss_bytes()
    cpu_before = time.process_time()
    wall_before = time.time()
    outcome = asyncio.run(run_waits(side, job_ids, spec))
    lags = outcome["lags"] or [0.0]
    return {
        "rss_before": rss_before,
        "rss_peak": peak_rss_bytes(),
        "cpu_seconds": time.process_time() - cpu_before,
        "wall_seconds": time.time() - wall_before,
        "wall_start": wall_before,
        "lag_p50": percentile(lags, 0.50),
        "lag_p99": percentile(lags, 0.99),
        "lag_max": max(lags),
        "events": outcome["events"],
    }


def scenario_import(spec: dict[str, Any]) -> dict[str, Any]:
    """Time importing :data:`AUTHORING_MODULE`, then the DAG file on top of it, in this fresh process."""
    import runpy

    started = time.perf_counter()
    importlib.import_module(AUTHORING_MODULE)

    sdk_done = time.perf_counter()
    sdk_rss = current_rss_bytes()
    loaded_before = set(sys.modules)
    if spec.get("dag_file"):
        runpy.run_path(spec["dag_file"])
    dag_seconds = time.perf_counter() - sdk_done
    return {
        "sdk_module": AUTHORING_MODULE,
        "sdk_seconds": sdk_done - started,
        "dag_seconds": dag_seconds,
        "dag_rss_bytes": current_rss_bytes() - sdk_rss,
        "compiled_from_source": sorted(
            name
            for name in set(sys.modules) - loaded_before
            # __main__ and its multiprocessing alias are the DAG file, run from source as Airflow runs it.
            if not name.startswith("__") and compiled_from_source(sys.modules[name])
        ),
    }


def compiled_from_source(module: Any) -> bool:
    """Whether ``module`` came from a ``.py`` file with no bytecode beside it, so import compiled it."""
    spec = getattr(module, "__spec__", None)
    origin = getattr(spec, "origin", None)
    if not origin or not origin.endswith(".py"):
        return False
    return not os.path.exists(importlib.util.cache_from_source(origin))


def scenario_sync(spec: dict[str, Any]) -> dict[str, Any]:
    """Interleave the hook's ``get_id_mapping_job`` with raw boto3's, and time each call."""
    import boto3

    from airflow_entityresolution.hooks import EntityResolutionHook

    hook = EntityResolutionHook()
    raw = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    ).client("entityresolution", endpoint_url=spec["endpoint_url"])
    calls = {
        "hook": lambda: hook.get_id_mapping_job(WORKFLOW, spec["job_id"]),
        "raw": lambda: raw.get_id_mapping_job(workflowName=WORKFLOW, jobId=spec["job_id"]),
    }
    for call in calls.values():
        for _ in range(20):
            call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    ratios: list[float] = []
    for rep in range(spec["reps"]):
        order = list(calls) if rep % 2 == 0 else list(reversed(calls))
        measured: dict[str, float] = {}
        for name in order:
            started = time.perf_counter()
            calls[name]()
            measured[name] = time.perf_counter() - started
            times[name].append(measured[name])
        ratios.append(measured["hook"] / measured["raw"])
    return {
        "hook_median": statistics.median(times["hook"]),
        "raw_median": statistics.median(times["raw"]),
        "pair_ratio_median": statistics.median(ratios),
        "reps": spec["reps"],
    }


SCENARIOS = {"waits": scenario_waits, "import": scenario_import, "sync": scenario_sync}


def main() -> None:
    """Run the scenario the command line names and print its figures."""
    spec = json.loads(sys.argv[1])
    logging.basicConfig(level=logging.WARNING)
    # The triggerer sends each trigger's INFO lines to its own log; here both sides skip that cost alike.
    logging.getLogger("airflow").setLevel(logging.WARNING)
    emit(SCENARIOS[spec["scenario"]](spec))


if __name__ == "__main__":
    main()
