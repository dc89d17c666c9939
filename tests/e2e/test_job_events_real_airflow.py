"""
Job events under Airflow's own processes: asset watchers in the triggerer, consumer DAGs the scheduler runs.

One stack (API server, scheduler, DAG processor, triggerer; LocalExecutor on SQLite) serves the
module. Each test has its own matching workflow, an asset watched on it and a consumer DAG scheduled
on the asset, all deployed when the stack starts. The emulator runs in this process: the jobs start
by themselves (``data_arrived`` on a workflow whose incremental run type is IMMEDIATE) and the test
ends each one, so that each completion makes its own consumer run. What the watchers announced is
read back from the metadata DB: the asset events, the consumer's runs and the job IDs each run read
from its triggering events.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from airflow_stack import FAKE_AWS, AirflowStack, Expression, dag_file_source, running_stack, wait_for
from conftest import AIRFLOW_3, AIRFLOW_VERSION, FAILURE_MESSAGE
from packaging.version import Version

from airflow_entityresolution.compat import SHARED_STREAMS
from airflow_entityresolution.emulator import EmulatorServer, EntityResolutionEmulator, Fault, JobScript
from airflow_entityresolution.emulator.default_definitions import default_matching_definition
from airflow_entityresolution.emulator.state import DEFAULT_ACCOUNT_ID
from airflow_entityresolution.emulator.wire import DEFAULT_REGION

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not AIRFLOW_3, reason="asset watchers need Airflow 3"),
]

LIST = "ListMatchingJobs"
GET = "GetMatchingJob"
CONSUMER_TASK = "report"
POLL_SECONDS = 1
METRICS = {"inputRecords": 120, "totalRecordsProcessed": 120, "recordsNotProcessed": 0, "matchIDs": 48}
IMMEDIATE = {"incrementalRunConfig": {"incrementalRunType": "IMMEDIATE"}}
# Few attempts a poll, so that a fault of a dozen requests spans several polls, not one long backoff.
FEW_RETRIES = {"retries": {"mode": "standard", "max_attempts": 2}}
needs_shared_streams = pytest.mark.skipif(not SHARED_STREAMS, reason="shared streams are new in Airflow 3.3")


@dataclass(frozen=True)
class Watcher:
    """An asset watched on a workflow, with its trigger's arguments."""

    name: str
    workflow_name: str
    statuses: tuple[str, ...] = ("SUCCEEDED",)
    botocore_config: dict[str, Any] | None = None

    @property
    def trigger_kwargs(self) -> dict[str, Any]:
        return {
            "workflow_name": self.workflow_name,
            "statuses": list(self.statuses),
            "waiter_delay": POLL_SECONDS,
            "botocore_config": self.botocore_config,
        }

    @property
    def uri(self) -> str:
        return f"entityresolution://matching/{self.workflow_name}/jobs/{self.name}"

    @property
    def watermark_key(self) -> str:
        """The Variable the watcher keeps its watermark in, as the triggerer names it."""
        from airflow_entityresolution.triggers import EntityResolutionMatchingJobEventTrigger

        return EntityResolutionMatchingJobEventTrigger(**self.trigger_kwargs).watermark_key


@dataclass(frozen=True)
class Consumer:
    """A consumer DAG scheduled on one watched asset; its task returns what each triggering event said."""

    dag_id: str
    watcher: Watcher

    def source(self) -> str:
        return dag_file_source(
            self.dag_id,
            "from airflow_entityresolution.triggers import EntityResolutionMatchingJobEventTrigger",
            f"""
            @task(task_id={CONSUMER_TASK!r})
            def report(*, triggering_asset_events=None):
                return [
                    {{
                        "job_id": event.extra["payload"]["job_id"],
                        "status": event.extra["payload"]["job"]["status"],
                        "metrics": event.extra["payload"]["job"].get("metrics", {{}}),
                    }}
                    for event in triggering_asset_events[jobs]
                ]

            report()
            """,
            preamble=f"""
            jobs = Asset(
                {self.watcher.uri!r},
                watchers=[
                    AssetWatcher(
                        name={self.watcher.name!r},
                        trigger=EntityResolutionMatchingJobEventTrigger(**{self.watcher.trigger_kwargs!r}),
                    )
                ],
            )
            """,
            sdk_names=("Asset", "AssetWatcher", "task"),
            schedule=Expression("[jobs]"),
        )


FIVE_JOBS = Consumer("events_five_jobs", Watcher("five_jobs", "events-five-jobs"))
RESTART = Consumer("events_restart", Watcher("restart", "events-restart"))
SHARED_SUCCEEDED = Consumer("events_shared_succeeded", Watcher("shared_succeeded", "events-shared"))
SHARED_ANY = Consumer(
    "events_shared_any", Watcher("shared_any", "events-shared", statuses=("SUCCEEDED", "FAILED"))
)
FLAKY_LIST = Consumer(
    "events_flaky_list", Watcher("flaky_list", "events-flaky-list", botocore_config=FEW_RETRIES)
)
PAST_JOBS = Consumer("events_past_jobs", Watcher("past_jobs", "events-past-jobs"))
PAST_JOB_COUNT = 60
CONSUMERS = (FIVE_JOBS, RESTART, FLAKY_LIST, PAST_JOBS) + (
    (SHARED_SUCCEEDED, SHARED_ANY) if SHARED_STREAMS else ()
)


@dataclass
class Deployment:
    """The module's stack, the emulator behind its ``aws_default``, and what the tests saw announced."""

    stack: AirflowStack
    emulator: EntityResolutionEmulator

    def end_job(self, consumer: Consumer, status: str = "SUCCEEDED") -> str:
        """New data arrives: the workflow starts a job by itself, which then ends with ``status``."""
        workflow = consumer.watcher.workflow_name
        message = FAILURE_MESSAGE if status == "FAILED" else None
        job_id = self.emulator.data_arrived(workflow, JobScript(running_seconds=None, metrics=METRICS))
        self.emulator.finish_job(job_id, status, message)
        return job_id

    def runs(self, consumer: Consumer) -> list[tuple[str, str]]:
        """The consumer's runs, oldest first: (run ID, state)."""
        return [
            (run_id, state)
            for run_id, state in self.stack.db.query(
                "SELECT run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id", (consumer.dag_id,)
            )
        ]

    def wait_for_runs(self, consumer: Consumer, count: int, timeout: float = 90) -> None:
        """Wait until the consumer has ``count`` runs; fail at once if it gets more."""

        def created() -> bool:
            self.stack.processes.check_alive()
            runs = self.runs(consumer)
            assert len(runs) <= count, f"{consumer.dag_id} ran {len(runs)} times, expected {count}: {runs}"
            return len(runs) == count

        wait_for(
            f"{count} runs of {consumer.dag_id}", created, timeout, interval=0.2, hint=self.stack.logs.hint()
        )

    def reports(self, consumer: Consumer) -> list[list[dict[str, Any]]]:
        """Once every run of the consumer has ended, what each run's task read from its triggering events."""
        wait_for(
            f"every run of {consumer.dag_id} to end",
            lambda: all(state in ("success", "failed") for _, state in self.runs(consumer)),
            120,
            hint=self.stack.logs.hint(),
        )
        runs = self.runs(consumer)
        assert [state for _, state in runs] == ["success"] * len(runs), runs
        return [self.stack.db.xcom_value(consumer.dag_id, run_id, CONSUMER_TASK) for run_id, _ in runs]

    def reported_job_ids(self, consumer: Consumer) -> list[str]:
        """Every job ID the consumer's ended runs read from their triggering events."""
        return [
            report["job_id"]
            for run_id, state in self.runs(consumer)
            if state == "success"
            for report in self.stack.db.xcom_value(consumer.dag_id, run_id, CONSUMER_TASK)
        ]

    def wait_for_announced(self, consumer: Consumer, job_ids: list[str]) -> None:
        """Wait until the asset events of the consumer's asset are ``job_ids``, in any order."""
        wait_for(
            f"{job_ids} to be announced",
            lambda: sorted(self.announced_job_ids(consumer)) == sorted(job_ids),
            90,
            hint=self.stack.logs.hint(),
        )

    def announced_job_ids(self, consumer: Consumer) -> list[str]:
        """The job ID of every asset event of the consumer's asset, oldest first."""
        rows = self.stack.db.query(
            "SELECT e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id "
            "WHERE a.uri = ? ORDER BY e.id",
            (consumer.watcher.uri,),
        )
        return [json.loads(extra)["payload"]["job_id"] for (extra,) in rows]

    def watermark(self, watcher: Watcher) -> dict[str, Any] | None:
        """The watcher's watermark, read as a user reads a Variable; ``None`` before its first poll."""
        if not self.stack.db.has_variable(watcher.watermark_key):
            return None
        answer = self.stack.api.call("GET", f"/api/v2/variables/{watcher.watermark_key}")
        return json.loads(answer["value"])

    def wait_for_polls(self, watcher: Watcher, polls: int) -> None:
        """Wait until the watcher has listed its workflow ``polls`` more times: time enough to announce."""
        target = self.emulator.count(LIST, watcher.workflow_name) + polls
        wait_for(
            f"{polls} more polls of {watcher.workflow_name}",
            lambda: self.emulator.count(LIST, watcher.workflow_name) >= target,
            timeout=30 + 5 * polls,
            interval=0.2,
            hint=self.stack.logs.hint(),
        )


def immediate_definition(workflow: str) -> dict[str, Any]:
    """The emulator's usual matching workflow, run by the service itself whenever new data arrives."""
    return {**default_matching_definition(DEFAULT_ACCOUNT_ID, DEFAULT_REGION, workflow), **IMMEDIATE}


def past_jobs(emulator: EntityResolutionEmulator, workflow: str, count: int) -> None:
    """Jobs that ended before anything watched the workflow; one in four FAILED."""
    for index in range(count):
        emulator.start_job_after(
            workflow,
            0,
            JobScript(running_seconds=0, metrics=METRICS)
            if index % 4
            else JobScript.failed(FAILURE_MESSAGE, running_seconds=0),
        )
    wait_for(
        f"{count} past jobs of {workflow} to end",
        lambda: all(job.status in ("SUCCEEDED", "FAILED") for job in emulator.jobs(workflow)),
        10,
    )


def parse_again_once_assets_are_active(stack: AirflowStack) -> None:
    """
    Have the DAG processor parse every consumer's file again, once the scheduler has activated its asset.

    Airflow 3.0 registers an asset's watchers before it activates a new asset, so a watcher starts
    at its file's second parse (``min_file_process_interval``, 30 s by default, later); this stack
    parses a file again only when it changes.
    """
    wait_for(
        "the watched assets to be active",
        lambda: stack.db.query("SELECT COUNT(*) FROM asset_active")[0][0] >= len(CONSUMERS),
        60,
        hint=stack.logs.hint(),
    )
    for consumer in CONSUMERS:
        stack.write_dag_file(f"{consumer.dag_id}.py", consumer.source())


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """
    The emulator with every test's workflow (and the past jobs of one), and Airflow's processes with every
    consumer deployed, ready once every watcher has polled and written its watermark.
    """
    emulator = EntityResolutionEmulator(concurrency="unlimited")
    for workflow in {consumer.watcher.workflow_name for consumer in CONSUMERS}:
        emulator.add_matching_workflow(workflow, definition=immediate_definition(workflow))
    past_jobs(emulator, PAST_JOBS.watcher.workflow_name, PAST_JOB_COUNT)
    home = Path(tmp_path_factory.mktemp("airflow-home"))
    dags = {consumer.dag_id: consumer.source() for consumer in CONSUMERS}
    with EmulatorServer(emulator):
        env = {"AIRFLOW_CONN_AWS_DEFAULT": emulator.airflow_connection(), **FAKE_AWS}
        with running_stack(home, env, dags) as stack:
            deployment = Deployment(stack, emulator)
            if Version("3.1") > AIRFLOW_VERSION:
                parse_again_once_assets_are_active(stack)
            for consumer in CONSUMERS:
                wait_for(
                    f"the watcher of {consumer.dag_id} to poll",
                    lambda consumer=consumer: deployment.watermark(consumer.watcher),
                    120,
                    hint=stack.logs.hint(),
                )
            yield deployment


@pytest.mark.timeout(300)
def test_five_self_started_jobs_three_succeeded_make_exactly_three_consumer_runs(
    deployment: Deployment,
) -> None:
    consumer = FIVE_JOBS
    succeeded: list[str] = []
    for status in ("SUCCEEDED", "FAILED", "SUCCEEDED", "FAILED", "SUCCEEDED"):
        job_id = deployment.end_job(consumer, status)
        if status == "SUCCEEDED":
            succeeded.append(job_id)
            deployment.wait_for_runs(consumer, len(succeeded))
        else:
            # Time enough for a watcher that (wrongly) announced FAILED jobs to do so.
            deployment.wait_for_polls(consumer.watcher, 3)
    deployment.wait_for_polls(consumer.watcher, 3)

    reports = deployment.reports(consumer)
    assert [[report["job_id"] for report in run] for run in reports] == [[job_id] for job_id in succeeded]
    assert all(run[0]["status"] == "SUCCEEDED" and run[0]["metrics"] == METRICS for run in reports)
    assert deployment.announced_job_ids(consumer) == succeeded
    assert deployment.emulator.count("StartMatchingJob") == 0, "every job started by itself"
    assert deployment.emulator.count(GET, consumer.watcher.workflow_name) == 3, "one Get per announced job"


@pytest.mark.timeout(400)
def test_a_triggerer_sigkilled_between_completions_announces_each_once(deployment: Deployment) -> None:
    consumer, stack = RESTART, deployment.stack
    first = deployment.end_job(consumer)
    deployment.wait_for_runs(consumer, 1)
    # Killed once the watermark holds the first job, as a triggerer may be at any time after that.
    wait_for(
        "the watermark to take the first job",
        lambda: first in (deployment.watermark(consumer.watcher) or {}).get("known", {}),
        60,
        hint=stack.logs.hint(),
    )
    triggerer_before = stack.db.latest_job_id("TriggererJob")
    killed = stack.processes.kill("triggerer")
    assert len(killed) >= 2, f"the triggerer and its trigger runner, killed: {killed}"

    while_down = deployment.end_job(consumer)
    lists_while_down = deployment.emulator.count(LIST, consumer.watcher.workflow_name)
    time.sleep(3 * POLL_SECONDS)
    assert deployment.emulator.count(LIST, consumer.watcher.workflow_name) == lists_while_down, (
        "nothing polled while no triggerer ran"
    )
    stack.processes.restart("triggerer")
    deployment.wait_for_runs(consumer, 2, timeout=120)
    assert stack.db.latest_job_id("TriggererJob") > triggerer_before

    last = deployment.end_job(consumer)
    deployment.wait_for_runs(consumer, 3)
    deployment.wait_for_polls(consumer.watcher, 3)

    reports = deployment.reports(consumer)
    assert [[report["job_id"] for report in run] for run in reports] == [[first], [while_down], [last]]
    assert deployment.announced_job_ids(consumer) == [first, while_down, last]
    assert deployment.emulator.count(GET, consumer.watcher.workflow_name) == 3, "no job described twice"


@needs_shared_streams
@pytest.mark.timeout(300)
def test_two_watchers_on_one_workflow_share_one_list_per_interval(deployment: Deployment) -> None:
    emulator, workflow = deployment.emulator, SHARED_SUCCEEDED.watcher.workflow_name
    window = 10 * POLL_SECONDS
    before = emulator.count(LIST, workflow)
    time.sleep(window)
    lists = emulator.count(LIST, workflow) - before
    # A poll sleeps a whole interval after it ends, so a window holds at most one poll per interval and one.
    assert 1 <= lists <= window / POLL_SECONDS + 1, f"{lists} List calls in {window} s for two watchers"

    failed = deployment.end_job(SHARED_SUCCEEDED, "FAILED")
    deployment.wait_for_runs(SHARED_ANY, 1)
    succeeded = deployment.end_job(SHARED_SUCCEEDED)
    deployment.wait_for_runs(SHARED_SUCCEEDED, 1)
    deployment.wait_for_runs(SHARED_ANY, 2)
    deployment.wait_for_polls(SHARED_SUCCEEDED.watcher, 3)

    assert deployment.announced_job_ids(SHARED_SUCCEEDED) == [succeeded]
    assert deployment.announced_job_ids(SHARED_ANY) == [failed, succeeded]
    assert [run[0]["job_id"] for run in deployment.reports(SHARED_ANY)] == [failed, succeeded]
    assert emulator.count(GET, workflow) == 2, "one Get per job, for both watchers"


@pytest.mark.timeout(300)
def test_a_listing_throttled_then_failing_loses_and_doubles_nothing(deployment: Deployment) -> None:
    consumer, emulator = FLAKY_LIST, deployment.emulator
    workflow = consumer.watcher.workflow_name
    faults = (
        Fault.throttle(count=6, operation=LIST, workflow_name=workflow),
        Fault.server_error(count=6, operation=LIST, workflow_name=workflow),
    )
    emulator.inject(*faults)
    during = [deployment.end_job(consumer), deployment.end_job(consumer)]
    wait_for(
        "every fault to be answered",
        lambda: _faults_answered(emulator, workflow) == len(faults) * 6,
        90,
        hint=deployment.stack.logs.hint(),
    )
    deployment.wait_for_announced(consumer, during)
    after = deployment.end_job(consumer)
    deployment.wait_for_announced(consumer, [*during, after])
    # Events announced in one poll reach the metadata DB one by one, and Airflow may start a run
    # with the first of them only: the others then come with the next event's run
    # (apache/airflow#54659). So the consumer's runs are counted by the events they read.
    wait_for(
        "the consumer to read the last job",
        lambda: after in deployment.reported_job_ids(consumer),
        120,
        hint=deployment.stack.logs.hint(),
    )
    deployment.wait_for_polls(consumer.watcher, 3)

    assert sorted(deployment.announced_job_ids(consumer)) == sorted([*during, after])
    assert sorted(deployment.reported_job_ids(consumer)) == sorted([*during, after])
    codes = {request.error_code for request in emulator.requests if request.fault is not None}
    assert codes == {"InternalServerException", "ThrottlingException"}


def _faults_answered(emulator: EntityResolutionEmulator, workflow: str) -> int:
    return sum(
        1
        for request in emulator.requests
        if request.fault is not None and request.operation == LIST and request.workflow_name == workflow
    )


@pytest.mark.timeout(300)
def test_sixty_past_jobs_over_three_pages_are_not_announced(deployment: Deployment) -> None:
    consumer, emulator = PAST_JOBS, deployment.emulator
    workflow = consumer.watcher.workflow_name
    deployment.wait_for_polls(consumer.watcher, 6)
    assert deployment.runs(consumer) == []
    assert deployment.announced_job_ids(consumer) == []
    assert _pages_per_poll(emulator, workflow) == {3}
    assert emulator.count(GET, workflow) == 0

    new = deployment.end_job(consumer)
    deployment.wait_for_runs(consumer, 1)
    deployment.wait_for_polls(consumer.watcher, 3)
    assert deployment.announced_job_ids(consumer) == [new]
    assert deployment.reports(consumer) == [[{"job_id": new, "status": "SUCCEEDED", "metrics": METRICS}]]


def _pages_per_poll(emulator: EntityResolutionEmulator, workflow: str) -> set[int]:
    """
    The List requests of each poll: requests less than an interval apart belong to one poll.

    The trigger sleeps a whole interval after each poll, so two polls' requests are always further
    apart than that, however slowly a loaded machine answers one poll's pages.
    """
    times = [
        request.time
        for request in emulator.requests
        if request.operation == LIST and request.workflow_name == workflow
    ]
    polls: list[int] = []
    for index, moment in enumerate(times):
        if index and moment - times[index - 1] < POLL_SECONDS:
            polls[-1] += 1
        else:
            polls.append(1)
    return set(polls)
