"""
Benchmark 6: the cost of a deferred wait inside Airflow's own triggerer.

Airflow's processes run from the repository's harness (:class:`airflow_stack.AirflowStack`: private home,
SQLite, LocalExecutor), with the emulator of the benchmark session behind ``aws_default``. Sensors
started in the triggerer (``start_from_trigger=True``) never reach a worker, so the triggerer is
the only process that holds a wait. Two sides, the same DAG shape and templating each:

- ``ours``: ``EntityResolutionIdMappingJobCompletedSensor`` on jobs that stay RUNNING for the
  whole measurement;
- ``datetime``: Airflow's ``DateTimeSensorAsync`` (standard provider) on a moment a day away,
  the floor of what a deferred wait costs: its trigger sleeps in one-hour steps.

Each round starts a fresh triggerer, measures it idle (N=0), then with each N of waits, and
removes the waits before the next round; the sides alternate ABBA so neither always runs first
or last. At each point it waits until all N triggers run in that triggerer, settles, and samples
the triggerer's process tree (RSS every second, CPU time at both ends of a fixed window).
"""

from __future__ import annotations

import contextlib
import datetime
import statistics
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil
from airflow_stack import AirflowStack, Expression, StackError, dag_file_source, running_stack, wait_for

from benchmarks.emulator_process import WORKFLOW, EmulatorProcess

SIDES = ("ours", "datetime")
DAG_IDS = {side: f"bench_triggerer_{side}" for side in SIDES}
# A day away: DateTimeTrigger sleeps in one-hour steps until the last two hours.
TARGET_AHEAD = datetime.timedelta(days=1)
# Long past any measurement: the jobs stay RUNNING, the sensors' timeout never comes.
JOB_RUNNING_SECONDS = 86400.0
SENSOR_TIMEOUT_SECONDS = 86400


@dataclass(frozen=True)
class RealTriggererPlan:
    """
    What the real-triggerer benchmark measures.

    :param counts: the numbers of waits measured in each round, ascending; N=0 always comes first.
    :param tasks_per_dag: sensors per DAG run; N/``tasks_per_dag`` runs make N waits.
    :param poke_interval: seconds between our sensor's polls.
    :param settle_seconds: seconds between all N triggers running and the window opening.
    :param window_seconds: the length of each measurement window.
    :param rounds: fresh triggerers per side; sides alternate ABBA.
    :param ready_timeout: seconds to wait for the N triggers to run before giving up.
    """

    counts: tuple[int, ...]
    tasks_per_dag: int
    poke_interval: float
    settle_seconds: float
    window_seconds: float
    rounds: int
    ready_timeout: float = 300.0


def dag_source(side: str, plan: RealTriggererPlan) -> str:
    """A DAG of ``tasks_per_dag`` sensors of ``side``, each templated from the run's conf."""
    if side == "ours":
        imports = "from airflow_entityresolution.sensors import EntityResolutionIdMappingJobCompletedSensor"
        params = Expression('{"job_ids": ["unset"] * TASKS}')
        sensor = f"""
            EntityResolutionIdMappingJobCompletedSensor(
                task_id=f"wait_{{k:03d}}",
                workflow_name={WORKFLOW!r},
                job_id="{{{{ params.job_ids[%d] }}}}" % k,
                start_from_trigger=True,
                poke_interval={plan.poke_interval!r},
                timeout={SENSOR_TIMEOUT_SECONDS!r},
            )
        """
    else:
        imports = "from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync"
        params = Expression('{"target_time": "unset"}')
        sensor = """
            DateTimeSensorAsync(
                task_id=f"wait_{k:03d}",
                target_time="{{ params.target_time }}",
                start_from_trigger=True,
            )
        """
    return dag_file_source(
        DAG_IDS[side],
        imports,
        "for k in range(TASKS):\n" + textwrap.indent(textwrap.dedent(sensor).strip("\n"), "    "),
        preamble=f"TASKS = {plan.tasks_per_dag}",
        max_active_runs=10000,
        max_active_tasks=10000,
        params=params,
    )


def run_conf(side: str, first_job: int, plan: RealTriggererPlan, job_ids: Sequence[str]) -> dict[str, Any]:
    """The conf of one DAG run: its sensors' job IDs, or the moment they wait for."""
    if side == "ours":
        return {"job_ids": list(job_ids[first_job : first_job + plan.tasks_per_dag])}
    target = datetime.datetime.now(datetime.UTC) + TARGET_AHEAD
    return {"target_time": target.isoformat()}


@dataclass(frozen=True)
class TreeSample:
    """
    The triggerer's process tree over one window.

    :param rss_bytes: the sum over the tree of each process's median RSS.
    :param cpu_seconds: the tree's user and system CPU time over the window.
    :param wall_seconds: the window's length.
    :param started: the window's start, epoch seconds.
    :param ended: the window's end, epoch seconds.
    :param rss_by_process: median RSS by process: ``supervisor``, then ``child <pid>``.
    :param cpu_by_process: CPU time by process.
    """

    rss_bytes: float
    cpu_seconds: float
    wall_seconds: float
    started: float
    ended: float
    rss_by_process: dict[str, float]
    cpu_by_process: dict[str, float]


def _process_name(process: psutil.Process, root_pid: int) -> str:
    # The supervisor is `airflow triggerer`; the trigger runner is the child it forks.
    return "supervisor" if process.pid == root_pid else f"child {process.pid}"


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def sample_tree(tree: Callable[[], list[psutil.Process]], window: float) -> TreeSample:
    """RSS every second (medians) and CPU time at both ends of ``window`` seconds, per process."""
    processes = tree()
    if not processes:
        raise StackError("The triggerer has no running process to measure.")
    root = processes[0].pid
    cpu_before = {p.pid: _cpu(p) for p in processes}
    rss: dict[int, list[float]] = {p.pid: [] for p in processes}
    started = time.time()
    deadline = time.monotonic() + window
    while True:
        for process in processes:
            rss[process.pid].append(process.memory_info().rss)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        time.sleep(min(1.0, remaining))
    ended = time.time()
    cpu_by = {_process_name(p, root): _cpu(p) - cpu_before[p.pid] for p in processes}
    rss_by = {_process_name(p, root): statistics.median(rss[p.pid]) for p in processes}
    return TreeSample(
        rss_bytes=sum(rss_by.values()),
        cpu_seconds=sum(cpu_by.values()),
        wall_seconds=ended - started,
        started=started,
        ended=ended,
        rss_by_process=rss_by,
        cpu_by_process=cpu_by,
    )


@dataclass
class Bench:
    """
    One stack, one emulator, the jobs our sensors wait on, and the runs created so far.

    :param stack: Airflow's processes, both sides' DAGs parsed.
    :param emulator: the emulator behind ``aws_default``.
    :param plan: what to measure.
    :param job_ids: the RUNNING jobs, one per wait of ours.
    :param runs: the DAG runs of each side that still wait, by side.
    """

    stack: AirflowStack
    emulator: EmulatorProcess
    plan: RealTriggererPlan
    job_ids: list[str]
    runs: dict[str, list[str]]

    def triggerer_job_id(self, newer_than: int | None) -> int:
        """The job ID of the triggerer that is running, once it has registered and heartbeats."""

        def registered() -> int | None:
            self.stack.processes.check_alive()
            latest = self.stack.db.latest_job_id("TriggererJob")
            if latest is None or (newer_than is not None and latest <= newer_than):
                return None
            [(state,)] = self.stack.db.query("SELECT state FROM job WHERE id = ?", (latest,))
            return latest if state == "running" else None

        return wait_for("a fresh triggerer to register", registered, 120, hint=self.stack.logs.hint())

    def add_waits(self, side: str, total: int) -> None:
        """Create DAG runs of ``side`` until ``total`` waits have been asked for."""
        runs = self.runs.setdefault(side, [])
        while len(runs) * self.plan.tasks_per_dag < total:
            first = len(runs) * self.plan.tasks_per_dag
            conf = run_conf(side, first, self.plan, self.job_ids)
            runs.append(self.stack.api.trigger_dag(DAG_IDS[side], f"bench__{uuid.uuid4().hex[:12]}", conf))

    def wait_until_running(self, side: str, total: int, job_id: int) -> None:
        """Wait until ``total`` triggers are assigned to triggerer ``job_id`` and each has logged."""

        runs = self.runs[side]
        # Only this round's runs: the earlier rounds' ended failed, as `remove_waits` marked them.
        ended_sql = (
            "SELECT task_id, run_id, state FROM task_instance WHERE dag_id = ? "
            "AND state NOT IN ('deferred', 'scheduled') AND state IS NOT NULL "
            f"AND run_id IN ({', '.join('?' * len(runs))})"
        )

        def running() -> bool:
            self.stack.processes.check_alive()
            ended = self.stack.db.query(ended_sql, (DAG_IDS[side], *runs))
            if ended:
                task_id, run_id, state = ended[0]
                raise StackError(
                    f"{len(ended)} sensors of {side} left the deferred state, e.g. {task_id} in {run_id} "
                    f"is {state}:\n{self.stack.logs.task_log(DAG_IDS[side], run_id, task_id)[-3000:]}"
                )
            [(assigned,)] = self.stack.db.query(
                "SELECT COUNT(*) FROM trigger t JOIN task_instance ti ON ti.trigger_id = t.id "
                "WHERE t.triggerer_id = ? AND ti.dag_id = ?",
                (job_id, DAG_IDS[side]),
            )
            if assigned < total:
                return False
            folder = self.stack.logs.task_log_folder / f"dag_id={DAG_IDS[side]}"
            return sum(1 for _ in folder.rglob(f"*.trigger.{job_id}.log")) >= total

        wait_for(
            f"{total} {side} triggers to run in triggerer job {job_id}",
            running,
            self.plan.ready_timeout,
            interval=1.0,
            hint=self.stack.logs.hint(),
        )

    def remove_waits(self, side: str) -> None:
        """Mark every run of ``side`` failed, and wait until the triggerer has dropped their triggers."""
        for run_id in self.runs.pop(side, []):
            self.stack.api.call(
                "PATCH",
                f"/api/v2/dags/{DAG_IDS[side]}/dagRuns/{run_id}",
                {"state": "failed"},
            )
        wait_for(
            f"the triggers of {side} to be removed",
            lambda: self.stack.db.trigger_count() == 0,
            120,
            interval=1.0,
            hint=self.stack.logs.hint(),
        )

    def gets_between(self, started: float, ended: float) -> int:
        """GetIdMappingJob requests the emulator answered in a window."""
        return int(self.emulator.call("count_requests", since=started, until=ended)["count"])


def measure_round(bench: Bench, side: str, job_id: int) -> list[dict[str, Any]]:
    """Measure one fresh triggerer idle and at every N for ``side``; leaves no wait behind."""
    plan = bench.plan
    points = []
    try:
        for total in (0, *plan.counts):
            if total:
                bench.add_waits(side, total)
                bench.wait_until_running(side, total, job_id)
            time.sleep(plan.settle_seconds)
            sample = sample_tree(lambda: bench.stack.processes.process_tree("triggerer"), plan.window_seconds)
            point = {"side": side, "waits": total, "triggerer_job_id": job_id, **asdict(sample)}
            point["gets"] = bench.gets_between(sample.started, sample.ended) if side == "ours" else 0
            points.append(point)
            print(f"real triggerer: {_brief(point)}", file=sys.stderr)
    except BaseException:
        # The stack is stopped next in any case: a clean-up that fails too must not hide why.
        with contextlib.suppress(Exception):
            bench.remove_waits(side)
        raise
    bench.remove_waits(side)
    return points


def _brief(point: dict[str, Any]) -> str:
    return (
        f"{point['side']} N={point['waits']}: RSS {point['rss_bytes'] / 2**20:.1f} MB, "
        f"CPU {point['cpu_seconds']:.2f} s in {point['wall_seconds']:.1f} s, {point['gets']} polls"
    )


def side_order(rounds: int) -> list[str]:
    """ABBA, ABBA, ...: each side runs first and last equally often."""
    pattern = [SIDES[0], SIDES[1], SIDES[1], SIDES[0]]
    return [pattern[i % 4] for i in range(2 * rounds)]


def stack_env(emulator: EmulatorProcess, capacity: int) -> dict[str, str]:
    """What the stack's processes need beyond the harness's defaults."""
    return {
        "AIRFLOW_CONN_AWS_DEFAULT": emulator.connection(),
        "AWS_EC2_METADATA_DISABLED": "true",
        # The installed wheel, never the working copy: the processes run in the stack's home.
        "PYTHONSAFEPATH": "1",
        "AIRFLOW__TRIGGERER__CAPACITY": str(capacity),
        # The defaults, not the failover tests' fast heartbeats: a deployment's triggerer.
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "5",
        "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "30",
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(capacity),
        "AIRFLOW__CORE__MAX_ACTIVE_RUNS_PER_DAG": str(capacity),
    }


@contextlib.contextmanager
def airflow_stack(
    emulator: EmulatorProcess, capacity: int, dags: Mapping[str, str]
) -> Iterator[AirflowStack]:
    """
    An Airflow stack behind the emulator with ``dags`` parsed; stopped on the way out, whatever happened.

    :param emulator: the emulator behind ``aws_default``.
    :param capacity: the triggerer's capacity, and the DAGs' bounds on active runs and tasks.
    :param dags: the source of each DAG file, by DAG ID; each is written to ``<DAG ID>.py``.
    """
    with (
        tempfile.TemporaryDirectory(prefix="entityresolution-triggerer-bench-") as home,
        running_stack(Path(home), stack_env(emulator, capacity), dags) as stack,
    ):
        yield stack


def started_stack(
    emulator: EmulatorProcess, plan: RealTriggererPlan
) -> contextlib.AbstractContextManager[AirflowStack]:
    """An Airflow stack with both sides' DAGs parsed."""
    dags = {DAG_IDS[side]: dag_source(side, plan) for side in SIDES}
    return airflow_stack(emulator, max(1000, *plan.counts), dags)


def serialized_dag_bytes(stack: AirflowStack) -> dict[str, int]:
    """
    The size of each side's serialized DAG as the metadata DB holds it.

    A trigger of a sensor started in the triggerer carries its whole DAG's serialized data to the
    trigger runner, which deserializes a copy of the DAG for each trigger to render its templates.
    """
    rows = stack.db.query("SELECT dag_id, LENGTH(data), LENGTH(data_compressed) FROM serialized_dag")
    by_dag = {dag_id: plain or compressed or 0 for dag_id, plain, compressed in rows}
    return {side: by_dag.get(dag_id, 0) for side, dag_id in DAG_IDS.items()}


def bench_real_triggerer(emulator: EmulatorProcess, plan: RealTriggererPlan) -> dict[str, Any]:
    """Run the whole benchmark and return every point measured, with the wall time it took."""
    started = time.time()
    emulator.call("reset")
    job_ids = emulator.call("start_jobs", running_seconds=[JOB_RUNNING_SECONDS] * max(plan.counts))["job_ids"]
    points: list[dict[str, Any]] = []
    with started_stack(emulator, plan) as stack:
        bench = Bench(stack, emulator, plan, job_ids, {})
        dag_bytes = serialized_dag_bytes(stack)
        job_id: int | None = None
        for index, side in enumerate(side_order(plan.rounds)):
            if index:
                # A fresh triggerer for every round: the last one's heap would hide this one's growth.
                stack.processes.kill("triggerer")
                stack.processes.restart("triggerer")
            job_id = bench.triggerer_job_id(newer_than=job_id)
            for point in measure_round(bench, side, job_id):
                points.append({**point, "round": index})
    return {
        "plan": asdict(plan),
        "points": points,
        "summary": summarize(points),
        "serialized_dag_bytes": dag_bytes,
        "wall_seconds": time.time() - started,
    }


def summarize(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per side and N: medians over rounds of the figures each round gives against its own N=0."""
    per_round: dict[tuple[str, int], list[dict[str, float | None]]] = {}
    idle = {(p["side"], p["round"]): p for p in points if p["waits"] == 0}
    previous: dict[tuple[str, int], dict[str, Any]] = {}
    for point in points:
        key = (point["side"], point["round"])
        below, previous[key] = previous.get(key), point
        if not point["waits"]:
            continue
        base = idle[key]
        cpu_added = point["cpu_seconds"] / point["wall_seconds"] - base["cpu_seconds"] / base["wall_seconds"]
        figures = {
            "rss_per_wait_bytes": (point["rss_bytes"] - base["rss_bytes"]) / point["waits"],
            # From the N below, so the fixed cost of the first waits (a side's imports) drops out.
            "marginal_rss_per_wait_bytes": (
                (point["rss_bytes"] - below["rss_bytes"]) / (point["waits"] - below["waits"])
                if below is not None and below["waits"]
                else None
            ),
            "cpu_per_wait_second": cpu_added / point["waits"],
            "polls_per_wait_second": point["gets"] / point["wall_seconds"] / point["waits"],
            "cpu_per_poll": cpu_added * point["wall_seconds"] / point["gets"] if point["gets"] else None,
            "rss_bytes": point["rss_bytes"],
            "idle_rss_bytes": base["rss_bytes"],
        }
        per_round.setdefault((point["side"], point["waits"]), []).append(figures)
    rows = []
    for (side, waits), rounds in sorted(per_round.items(), key=lambda item: (item[0][1], item[0][0])):
        row: dict[str, Any] = {"side": side, "waits": waits, "rounds": len(rounds)}
        for key in rounds[0]:
            values = [r[key] for r in rounds if r[key] is not None]
            row[key] = statistics.median(values) if values else None
        rows.append(row)
    return rows
