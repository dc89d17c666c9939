"""
Benchmark 7: the List calls that N event watchers on one workflow cost, inside Airflow's triggerer.

Airflow's processes run from the repository's harness (:class:`airflow_stack.AirflowStack`), with the
emulator of the benchmark session behind ``aws_default``, as in benchmark 6
(:mod:`benchmarks.real_triggerer`). At each point one DAG file declares N assets, each watched by
an ``AssetWatcher`` whose trigger is ``EntityResolutionMatchingJobEventTrigger`` on the same
matching workflow, and a DAG scheduled on any of them. Two sides, the same watchers but for one
argument:

- ``shared``: the N watchers share one ``shared_stream_key``, so Airflow 3.3's triggerer runs one
  poll loop for all of them;
- ``unshared``: each watcher has a key of its own (a distinct ``botocore_config``), so each polls
  alone, as every trigger does in a triggerer without shared streams (Airflow 3.0 to 3.2, where
  each runs its own ``run()``).

Each point has a workflow of its own, so no point sees another's jobs, watermarks or requests.
Once every watcher has written its watermark Variable (it does at its first poll), and one more
interval, a window of whole intervals counts the emulator's ListMatchingJobs requests for the
workflow, and samples the triggerer's CPU. Then one of the workflow's jobs ends, and the
GetMatchingJob requests until every watcher has announced it count what announcing one job costs.
The DAG file is then written again without watchers, and the next point starts once the
triggerer has dropped them.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from airflow_stack import AirflowStack, Expression, StackError, dag_file_source, wait_for

from airflow_entityresolution.jobs import MATCHING, Verb
from airflow_entityresolution.watermark import Watermark
from benchmarks.emulator_process import EmulatorProcess
from benchmarks.real_triggerer import JOB_RUNNING_SECONDS, airflow_stack, sample_tree

SIDES = ("shared", "unshared")
DAG_ID = "bench_job_events"
LIST_OPERATION = MATCHING.operation(Verb.LIST)
GET_OPERATION = MATCHING.operation(Verb.GET)
RUNNING_JOBS = 3
"""Jobs RUNNING throughout each point: the workflow's jobs fit one page, one List request a poll."""
READ_TIMEOUT = 60
"""botocore's default read timeout; the unshared side adds a watcher's index to tell their keys apart."""


@dataclass(frozen=True)
class JobEventsPlan:
    """
    What the event-watcher benchmark measures.

    :param counts: the numbers of watchers on one workflow, each measured on both sides.
    :param waiter_delay: seconds between the polls of a watcher (of a stream, when shared).
    :param window_seconds: the length of the counting window, a whole number of intervals.
    :param end_a_job: after the window, end one job and count the Get requests announcing it took.
    :param ready_timeout: seconds to wait for the watchers' first polls, their events, or their removal.
    """

    counts: tuple[int, ...]
    waiter_delay: float
    window_seconds: float
    end_a_job: bool = True
    ready_timeout: float = 300.0


def workflow_name(side: str, watchers: int) -> str:
    """The workflow of one point: its own, so that no point counts another's requests."""
    return f"bench-events-{side}-{watchers}"


def watcher_kwargs(side: str, workflow: str, index: int, plan: JobEventsPlan) -> dict[str, Any]:
    """
    The trigger arguments of one watcher: distinct from every other watcher's, its stream key shared or not.

    :param side: ``shared`` or ``unshared``.
    :param workflow: the point's workflow.
    :param index: the watcher's index, 0 to N-1.
    :param plan: what is measured.
    """
    return {
        "workflow_name": workflow,
        "waiter_delay": plan.waiter_delay,
        # Left out of the stream key: it keeps the watchers apart as Trigger rows (Airflow merges
        # watchers with identical arguments into one) and as watermarks. It changes nothing here,
        # where no job of the workflow has ended before the watchers' first poll.
        "look_back": float(index),
        "botocore_config": {"read_timeout": READ_TIMEOUT + index} if side == "unshared" else None,
    }


def asset_prefix(workflow: str) -> str:
    """How the URIs of the assets of ``workflow``'s watchers start; each ends with its watcher's index."""
    return f"entityresolution://matching/{workflow}/watcher-"


def dag_source(watchers: Sequence[Mapping[str, Any]]) -> str:
    """The DAG file: an asset per watcher and a DAG scheduled on any of them; with no watcher, no schedule."""
    assets = [
        (f"{asset_prefix(kwargs['workflow_name'])}{i}", dict(kwargs)) for i, kwargs in enumerate(watchers)
    ]
    return dag_file_source(
        DAG_ID,
        [
            "from airflow.providers.standard.operators.empty import EmptyOperator",
            "",
            "from airflow_entityresolution.triggers import EntityResolutionMatchingJobEventTrigger",
        ],
        # An EmptyOperator never reaches an executor: the scheduler marks it done itself.
        'EmptyOperator(task_id="consume")',
        sdk_names=("Asset", "AssetAny", "AssetWatcher"),
        preamble=f"""
            WATCHERS = {assets!r}

            assets = [
                Asset(
                    uri,
                    watchers=[
                        AssetWatcher(
                            name=f"watcher_{{index}}",
                            trigger=EntityResolutionMatchingJobEventTrigger(**kwargs),
                        )
                    ],
                )
                for index, (uri, kwargs) in enumerate(WATCHERS)
            ]
        """,
        schedule=Expression("AssetAny(*assets) if assets else None"),
        max_active_runs=1,
    )


def watermark_variables(stack: AirflowStack) -> set[str]:
    """The keys of the watermark Variables the watchers have written so far."""
    rows = stack.db.query("SELECT key FROM variable WHERE key LIKE ?", (f"{Watermark.PREFIX}%",))
    return {key for (key,) in rows}


def asset_events(stack: AirflowStack, workflow: str) -> int:
    """The asset events the watchers of ``workflow`` have stored."""
    [(count,)] = stack.db.query(
        "SELECT COUNT(*) FROM asset_event e JOIN asset a ON a.id = e.asset_id WHERE a.uri LIKE ?",
        (f"{asset_prefix(workflow)}%",),
    )
    return int(count)


@dataclass
class Point:
    """
    One side at one N: the stack, the emulator, the workflow and its jobs.

    :param stack: Airflow's processes, the benchmark's DAG parsed.
    :param emulator: the emulator behind ``aws_default``.
    :param plan: what is measured.
    :param side: ``shared`` or ``unshared``.
    :param watchers: N.
    """

    stack: AirflowStack
    emulator: EmulatorProcess
    plan: JobEventsPlan
    side: str
    watchers: int

    @property
    def workflow(self) -> str:
        return workflow_name(self.side, self.watchers)

    def requests(self, operation: str, started: float, ended: float) -> int:
        """The requests of ``operation`` for this point's workflow the emulator answered in a window."""
        answer = self.emulator.call(
            "count_requests", since=started, until=ended, operation=operation, workflow=self.workflow
        )
        return int(answer["count"])

    def start_watchers(self) -> list[str]:
        """Declare the workflow with its RUNNING jobs, write the DAG file with the N watchers; the job IDs."""
        self.emulator.call("add_matching_workflow", name=self.workflow)
        job_ids: list[str] = self.emulator.call(
            "start_jobs",
            running_seconds=[JOB_RUNNING_SECONDS] * RUNNING_JOBS,
            family=MATCHING.key,
            workflow=self.workflow,
        )["job_ids"]
        watchers = [watcher_kwargs(self.side, self.workflow, i, self.plan) for i in range(self.watchers)]
        self.stack.write_dag_file(f"{DAG_ID}.py", dag_source(watchers))
        return job_ids

    def wait_until_polled(self, known: set[str]) -> None:
        """Wait until N new watermark Variables exist: every watcher has run and polled once."""

        def polled() -> bool:
            written = len(watermark_variables(self.stack) - known)
            if written > self.watchers:
                raise StackError(f"{written} watermarks were written for {self.watchers} watchers")
            return written == self.watchers and self.stack.db.trigger_count() == self.watchers

        self.wait(f"{self.watchers} {self.side} watchers to poll once", polled)

    def count_lists(self) -> dict[str, Any]:
        """Count the List requests over one window, sampling the triggerer's CPU over the same window."""
        sample = sample_tree(lambda: self.stack.processes.process_tree("triggerer"), self.plan.window_seconds)
        if self.stack.db.trigger_count() != self.watchers:
            raise StackError(f"Watchers of {self.workflow} ended during the window. {self.stack.logs.hint()}")
        intervals = sample.wall_seconds / self.plan.waiter_delay
        lists = self.requests(LIST_OPERATION, sample.started, sample.ended)
        return {
            "list_calls": lists,
            "window_seconds": sample.wall_seconds,
            "intervals": intervals,
            "lists_per_interval": lists / intervals,
            "triggerer_cpu_seconds": sample.cpu_seconds,
        }

    def end_one_job(self, job_id: str) -> dict[str, Any]:
        """End one job, wait until every watcher has announced it, and count the Get requests it took."""
        ended = time.time()
        self.emulator.call("finish_job", job_id=job_id)
        self.wait(
            f"{self.watchers} asset events of {self.workflow}",
            lambda: asset_events(self.stack, self.workflow) >= self.watchers,
            interval=0.25,
        )
        stored = time.time() - ended
        # One more interval: a Get of a watcher that announces late still counts.
        time.sleep(self.plan.waiter_delay)
        return {
            "get_calls": self.requests(GET_OPERATION, ended, time.time()),
            "asset_events": asset_events(self.stack, self.workflow),
            "stored_seconds": stored,
        }

    def remove_watchers(self) -> None:
        """Write the DAG file without watchers, and wait until the triggerer has dropped them all."""
        self.stack.write_dag_file(f"{DAG_ID}.py", dag_source([]))
        self.wait(
            f"the watchers of {self.workflow} to be removed", lambda: self.stack.db.trigger_count() == 0
        )

    def wait(self, what: str, probe: Callable[[], bool], interval: float = 1.0) -> None:
        """
        Wait until ``probe`` is true, up to the plan's ``ready_timeout``; fail at once if a process died.

        :param what: what is awaited, for the error message.
        :param probe: the check.
        :param interval: seconds between checks.
        """

        def alive_and_true() -> bool:
            self.stack.processes.check_alive()
            return probe()

        wait_for(
            what, alive_and_true, self.plan.ready_timeout, interval=interval, hint=self.stack.logs.hint()
        )


def measure_point(point: Point) -> dict[str, Any]:
    """Measure one side at one N, from no watcher back to none."""
    known = watermark_variables(point.stack)
    started = time.time()
    job_ids = point.start_watchers()
    point.wait_until_polled(known)
    ready = time.time() - started
    # One more interval, so that the window opens with every watcher past its first poll.
    time.sleep(point.plan.waiter_delay)
    figures = {"side": point.side, "watchers": point.watchers, "ready_seconds": ready, **point.count_lists()}
    figures["end_one_job"] = point.end_one_job(job_ids[0]) if point.plan.end_a_job else None
    point.remove_watchers()
    print(f"job events: {_brief(figures)}", file=sys.stderr)
    return figures


def _brief(figures: dict[str, Any]) -> str:
    end = figures["end_one_job"]
    ended = f", one ended job: {end['get_calls']} Gets, {end['asset_events']} events" if end else ""
    return (
        f"{figures['side']} N={figures['watchers']}: {figures['list_calls']} Lists in "
        f"{figures['intervals']:.2f} intervals ({figures['lists_per_interval']:.2f} per interval), "
        f"triggerer CPU {figures['triggerer_cpu_seconds']:.2f} s{ended}"
    )


def bench_job_events(emulator: EmulatorProcess, plan: JobEventsPlan) -> dict[str, Any]:
    """Run the whole benchmark in one stack and return every point measured, with the wall time it took."""
    started = time.time()
    emulator.call("reset")
    points = []
    with airflow_stack(emulator, max(1000, *plan.counts), {DAG_ID: dag_source([])}) as stack:
        for watchers in plan.counts:
            for side in SIDES:
                points.append(measure_point(Point(stack, emulator, plan, side, watchers)))
    return {
        "plan": asdict(plan),
        "running_jobs": RUNNING_JOBS,
        "points": points,
        "wall_seconds": time.time() - started,
    }
