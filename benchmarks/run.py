"""
Run every benchmark side by side and write BENCHMARKS.md: ``python -m benchmarks.run [--quick]``.

``--only job-events`` runs benchmark 7 alone and rewrites only its parts of an existing report.

The emulator runs in its own process (:mod:`benchmarks.emulator_process`); every
measurement runs in a fresh process of its own (:mod:`benchmarks.worker`). This module
only orchestrates, samples the measured process's TCP connections from outside, and
turns the figures into the report (:mod:`benchmarks.report`).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from benchmarks.emulator_process import EmulatorProcess
from benchmarks.job_events import JobEventsPlan, bench_job_events
from benchmarks.real_triggerer import RealTriggererPlan, bench_real_triggerer

REPO = Path(__file__).resolve().parent.parent
DAGS = Path(__file__).resolve().parent / "dags"
TCP_SAMPLE_SECONDS = 0.5
STANDARD = {"retries": {"mode": "standard", "max_attempts": 10}}
ONLY_JOB_EVENTS = "job-events"


@dataclass(frozen=True)
class WaitsPlan:
    """One batch of concurrent waits: how many, how often they poll, how long their jobs run."""

    waits: int
    waiter_delay: float
    running_seconds: tuple[float, float]
    deadline_seconds: float
    waiter_max_attempts: int = 1000
    rate_limit_per_second: float | None = None


@dataclass(frozen=True)
class Settings:
    """What one session measures; ``quick`` shrinks everything for the smoke test."""

    triggerer: tuple[WaitsPlan, ...]
    throttled: WaitsPlan
    import_reps: int
    sync_reps: int
    real_triggerer: RealTriggererPlan
    job_events: JobEventsPlan
    count_instructions: bool = True
    seed: int = 20260101


FULL = Settings(
    # The jobs run long enough that every baseline wait has opened its client before the first job ends.
    triggerer=(
        WaitsPlan(100, 2.0, (6.0, 10.0), 120.0),
        WaitsPlan(500, 2.0, (14.0, 20.0), 120.0),
        WaitsPlan(1000, 2.0, (26.0, 32.0), 150.0),
    ),
    throttled=WaitsPlan(200, 5.0, (5.0, 10.0), 110.0, rate_limit_per_second=5.0),
    # Fresh processes on a shared machine spread widely: medians of many, interleaved.
    import_reps=41,
    sync_reps=400,
    # Polls every 10 s, six times as often as a sensor's default: the CPU figures are an upper bound.
    real_triggerer=RealTriggererPlan(
        counts=(100, 500),
        tasks_per_dag=10,
        poke_interval=10.0,
        settle_seconds=5.0,
        window_seconds=15.0,
        rounds=2,
    ),
    # Ten intervals a window: a poll loop makes at most 10 List calls in it, one an interval.
    job_events=JobEventsPlan(counts=(1, 10, 100), waiter_delay=2.0, window_seconds=20.0),
)
QUICK = Settings(
    triggerer=(WaitsPlan(20, 0.5, (1.0, 2.0), 30.0),),
    throttled=WaitsPlan(10, 0.5, (1.0, 1.5), 20.0, rate_limit_per_second=5.0),
    import_reps=1,
    sync_reps=30,
    real_triggerer=RealTriggererPlan(
        counts=(4, 10), tasks_per_dag=2, poke_interval=2.0, settle_seconds=1.0, window_seconds=3.0, rounds=1
    ),
    job_events=JobEventsPlan(counts=(1, 3), waiter_delay=1.0, window_seconds=4.0),
    count_instructions=False,
)


@dataclass
class Session:
    """The shared context of one run: the emulator, the environment of the measured processes."""

    emulator: EmulatorProcess
    env: dict[str, str]
    python: str = sys.executable
    rng: random.Random = field(default_factory=random.Random)


def worker_command(python: str, spec: dict[str, Any]) -> list[str]:
    """The command line of a measured process."""
    return [python, "-m", "benchmarks.worker", json.dumps(spec)]


def run_worker(session: Session, spec: dict[str, Any]) -> dict[str, Any]:
    """Run a scenario that needs no conversation and return its figures."""
    completed = subprocess.run(
        worker_command(session.python, spec),
        cwd=REPO,
        env=session.env,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"worker {spec['scenario']} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


class TcpSampler(threading.Thread):
    """Count, from outside, the measured process's TCP connections to the emulator, keeping the peak."""

    def __init__(self, pid: int, port: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.port = port
        self.peak = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(TCP_SAMPLE_SECONDS):
            try:
                connections = self.process.net_connections(kind="tcp")
            except psutil.Error:
                return
            count = sum(1 for c in connections if c.raddr and c.raddr.port == self.port)
            self.peak = max(self.peak, count)


def run_waits(session: Session, side: str, plan: WaitsPlan, botocore_config: dict | None) -> dict[str, Any]:
    """Run one batch of waits for ``side`` and return the worker's and the emulator's figures together."""
    emulator = session.emulator
    emulator.call("reset")
    spec = {
        "scenario": "waits",
        "side": side,
        "waiter_delay": plan.waiter_delay,
        "waiter_max_attempts": plan.waiter_max_attempts,
        "deadline_seconds": plan.deadline_seconds,
        "botocore_config": botocore_config,
    }
    process = subprocess.Popen(
        worker_command(session.python, spec),
        cwd=REPO,
        env=session.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
    )
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    ready = process.stdout.readline()
    if not ready:
        raise RuntimeError(f"worker waits/{side} did not start:\n{process.stderr.read()[-3000:]}")
    running = [session.rng.uniform(*plan.running_seconds) for _ in range(plan.waits)]
    job_ids = emulator.call("start_jobs", running_seconds=running)["job_ids"]
    emulator.call("configure", rate_limit_per_second=plan.rate_limit_per_second)
    sampler = TcpSampler(process.pid, int(emulator.endpoint_url.rsplit(":", 1)[1]))
    sampler.start()
    process.stdin.write(json.dumps({"job_ids": job_ids}) + "\n")
    process.stdin.flush()
    output, errors = process.communicate()
    sampler.stopped.set()
    sampler.join()
    if process.returncode != 0:
        raise RuntimeError(f"worker waits/{side} failed:\n{errors[-3000:]}")
    figures = json.loads(output.strip().splitlines()[-1])
    return summarize_waits(figures, emulator.call("stats"), plan, side, botocore_config, sampler.peak)


def summarize_waits(
    figures: dict[str, Any],
    stats: dict[str, Any],
    plan: WaitsPlan,
    side: str,
    botocore_config: dict | None,
    tcp_peak: int,
) -> dict[str, Any]:
    """Turn a batch's raw figures into the reported ones."""
    gets = stats["gets"]
    ok_times = sorted(get[0] for get in gets if get[1] == 200)
    events = figures["events"]
    latencies = [
        event[0] - stats["end_times"][job_id]
        for job_id, event in events.items()
        if event[1] == "ok" and stats["end_times"].get(job_id) is not None
    ]
    failures = [event[1] for event in events.values() if event[1] not in ("ok", "unfinished")]
    span = (ok_times[-1] - ok_times[0]) if len(ok_times) > 1 else 0.0
    return {
        "side": side,
        "botocore_config": botocore_config,
        "plan": asdict(plan),
        "waits": plan.waits,
        "polls": len(gets),
        "ok_polls": len(ok_times),
        "throttled_polls": sum(1 for get in gets if get[1] == 429),
        "calls_per_job": len(gets) / plan.waits,
        "rss_per_wait_bytes": (figures["rss_peak"] - figures["rss_before"]) / plan.waits,
        "rss_added_bytes": figures["rss_peak"] - figures["rss_before"],
        "cpu_seconds": figures["cpu_seconds"],
        "cpu_per_poll": figures["cpu_seconds"] / max(1, len(gets)),
        "wall_seconds": figures["wall_seconds"],
        "lag_p50": figures["lag_p50"],
        "lag_p99": figures["lag_p99"],
        "lag_max": figures["lag_max"],
        "tcp_peak": tcp_peak,
        "succeeded_waits": sum(1 for event in events.values() if event[1] == "ok"),
        "failed_waits": len(failures),
        "failure_examples": sorted(set(failures))[:3],
        "unfinished_waits": sum(1 for event in events.values() if event[1] == "unfinished"),
        "latency_p50": statistics.median(latencies) if latencies else None,
        "latency_p99": _percentile(latencies, 0.99) if latencies else None,
        "latency_max": max(latencies) if latencies else None,
        "ok_rate": (len(ok_times) - 1) / span if span else None,
        "attempt_rate": len(gets) / span if span else None,
        "contention_seconds": span,
    }


def _percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def bench_triggerer(session: Session, settings: Settings) -> list[dict[str, Any]]:
    """Benchmarks 1 and 2: the same batches for both sides, back to back at each N."""
    runs = []
    for plan in settings.triggerer:
        for side in ("baseline", "ours"):
            runs.append(run_waits(session, side, plan, None))
            _progress(runs[-1])
    return runs


def bench_throttled(session: Session, settings: Settings) -> list[dict[str, Any]]:
    """Benchmark 3: a throttled account, each side with a user's retry settings."""
    runs = []
    for side, config in (("baseline", None), ("ours", None), ("ours", STANDARD)):
        runs.append(run_waits(session, side, settings.throttled, config))
        _progress(runs[-1])
    return runs


def bench_import(session: Session, settings: Settings) -> dict[str, Any]:
    """Benchmark 4: DAG-parse cost in fresh processes, the three variants interleaved."""
    variants = {"sdk_only": None, "ours": str(DAGS / "ours_dag.py"), "amazon": str(DAGS / "amazon_dag.py")}
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    order = list(variants)
    for _ in range(settings.import_reps):
        # A fresh order each round, so no variant always follows the same one (and its page-cache state).
        session.rng.shuffle(order)
        for name in order:
            samples[name].append(run_worker(session, {"scenario": "import", "dag_file": variants[name]}))
    uncompiled = sorted(
        {module for runs in samples.values() for run in runs for module in run["compiled_from_source"]}
    )
    if uncompiled:
        raise RuntimeError(
            f"The DAG files imported modules that have no bytecode, so parsing would count compiling them: "
            f"{uncompiled[:10]}. Install with bytecode (`make bench` does) and run again."
        )
    result = {
        name: {
            "sdk_seconds": statistics.median(s["sdk_seconds"] for s in runs),
            "dag_seconds": statistics.median(s["dag_seconds"] for s in runs),
            "dag_rss_bytes": statistics.median(s["dag_rss_bytes"] for s in runs),
        }
        for name, runs in samples.items()
    }
    if settings.count_instructions:
        for name, count in count_instructions(session, variants).items():
            result[name]["instructions"] = count
    result["reps"] = settings.import_reps
    result["sdk_module"] = samples["sdk_only"][0]["sdk_module"]
    print(f"import: {json.dumps(result)}", file=sys.stderr)
    return result


def count_instructions(session: Session, variants: dict[str, str | None]) -> dict[str, int]:
    """
    The instructions one fresh process executes per variant, counted by valgrind's callgrind.

    On a shared machine, medians of wall time move by more than the gap between two DAG files
    whose cost is close; an instruction count is the same on every run, whatever the load.
    Empty when valgrind is not installed.
    """
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return {}
    # Hash randomization changes what a dict lookup costs from one process to the next.
    env = {**session.env, "PYTHONHASHSEED": "0"}
    with tempfile.TemporaryDirectory(prefix="entityresolution-callgrind-") as scratch:
        running = {
            name: subprocess.Popen(
                [
                    valgrind,
                    "--tool=callgrind",
                    f"--callgrind-out-file={Path(scratch) / name}.out",
                    *worker_command(session.python, {"scenario": "import", "dag_file": dag_file}),
                ],
                cwd=REPO,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name, dag_file in variants.items()
        }
        counts = {}
        for name, process in running.items():
            _, errors = process.communicate()
            collected = re.search(r"Collected\s*:\s*(\d+)", errors)
            if process.returncode != 0 or collected is None:
                raise RuntimeError(f"callgrind of {name} failed:\n{errors[-3000:]}")
            counts[name] = int(collected.group(1))
    return counts


def bench_sync(session: Session, settings: Settings) -> dict[str, Any]:
    """Benchmark 5: the hook's blocking call against raw boto3, interleaved in one process."""
    session.emulator.call("reset")
    [job_id] = session.emulator.call("start_jobs", running_seconds=[3600.0])["job_ids"]
    spec = {
        "scenario": "sync",
        "endpoint_url": session.emulator.endpoint_url,
        "job_id": job_id,
        "reps": settings.sync_reps,
    }
    result = run_worker(session, spec)
    result["median_ratio"] = result["hook_median"] / result["raw_median"]
    print(f"sync: {json.dumps(result)}", file=sys.stderr)
    return result


def _progress(run: dict[str, Any]) -> None:
    brief = {key: run[key] for key in ("side", "waits", "polls", "cpu_per_poll", "lag_p99", "wall_seconds")}
    print(f"waits: {json.dumps(brief)}", file=sys.stderr)


def benchmarks_only_env(scratch: str) -> dict[str, str]:
    """An environment whose Pythons find this ``benchmarks`` package but take the provider from site-packages.

    Putting the repository itself on the path would import the working copy's sources, which
    a deployment never does, and which has no bytecode, so the DAG-parse figures would count
    compiling our modules but not the Amazon provider's.
    """
    path = Path(scratch) / "path"
    path.mkdir()
    (path / "benchmarks").symlink_to(REPO / "benchmarks", target_is_directory=True)
    env = dict(os.environ)
    env.update({"PYTHONPATH": str(path), "PYTHONSAFEPATH": "1"})
    return env


def measured_env(endpoint_conn: str, airflow_home: str, base: dict[str, str]) -> dict[str, str]:
    """The environment of every measured process."""
    env = dict(base)
    env.update(
        {
            "AIRFLOW_HOME": airflow_home,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(Path(airflow_home) / "dags"),
            "AIRFLOW_CONN_AWS_DEFAULT": endpoint_conn,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    return env


def bench_real_triggerer_if_started_there(session: Session, settings: Settings) -> dict[str, Any] | None:
    """Benchmark 6, on an Airflow that starts templated sensors in the triggerer; ``None`` on an older one."""
    from airflow_entityresolution.compat import TRIGGERER_RENDERS_TEMPLATES

    return (
        bench_real_triggerer(session.emulator, settings.real_triggerer)
        if TRIGGERER_RENDERS_TEMPLATES
        else None
    )


def bench_job_events_if_shared(session: Session, settings: Settings) -> dict[str, Any] | None:
    """Benchmark 7, on an Airflow whose triggerer shares streams; ``None`` on an older one."""
    from airflow_entityresolution.compat import SHARED_STREAMS

    return bench_job_events(session.emulator, settings.job_events) if SHARED_STREAMS else None


def run_all(settings: Settings, python: str = sys.executable, only: str | None = None) -> dict[str, Any]:
    """
    Run every benchmark in one session, or only one of them, and return the figures.

    :param settings: what to measure.
    :param python: the interpreter of the measured processes.
    :param only: ``job-events`` to run benchmark 7 alone; ``None`` for all.
    """
    started = time.time()
    with (
        tempfile.TemporaryDirectory(prefix="entityresolution-bench-") as home,
        EmulatorProcess(python, benchmarks_only_env(home)) as emu,
    ):
        env = measured_env(emu.connection(), home, emu.env)
        session = Session(emu, env, python, random.Random(settings.seed))
        if only == ONLY_JOB_EVENTS:
            results: dict[str, Any] = {"job_events": bench_job_events_if_shared(session, settings)}
        else:
            results = {
                "triggerer": bench_triggerer(session, settings),
                "throttled": bench_throttled(session, settings),
                "import": bench_import(session, settings),
                "sync": bench_sync(session, settings),
                "real_triggerer": bench_real_triggerer_if_started_there(session, settings),
                "job_events": bench_job_events_if_shared(session, settings),
            }
    results["duration_seconds"] = time.time() - started
    return results


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small N and short runs (the smoke test)")
    parser.add_argument("--output", type=Path, default=REPO / "BENCHMARKS.md", help="the report to write")
    parser.add_argument("--json", type=Path, help="also write the raw figures as JSON here")
    parser.add_argument(
        "--only",
        choices=(ONLY_JOB_EVENTS,),
        help="run only this benchmark and rewrite only its parts of the existing report (--output)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks and write the report."""
    from benchmarks.report import render, splice_job_events

    arguments = parse_arguments(argv)
    command = " ".join(
        ["python -m benchmarks.run"]
        + (["--quick"] if arguments.quick else [])
        + ([f"--only {arguments.only}"] if arguments.only else [])
    )
    if arguments.only and not arguments.output.exists():
        raise SystemExit(f"--only rewrites part of an existing report, and {arguments.output} does not exist")
    results = run_all(QUICK if arguments.quick else FULL, only=arguments.only)
    if arguments.json:
        arguments.json.write_text(json.dumps(results, indent=2))
    if arguments.only:
        report = splice_job_events(arguments.output.read_text(), results, command)
    else:
        report = render(results, command, quick=arguments.quick)
    arguments.output.write_text(report)
    print(f"wrote {arguments.output} in {results['duration_seconds']:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
