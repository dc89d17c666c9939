"""
Jobs that workflows start by themselves: on new data, or at a planned moment, with no Start call.

No thread starts them. The emulator starts each planned job the next time it reads its clock at
or past the job's moment, before it does anything else, and dates the job that moment: Get,
List, the quota and the jobs' own clocks then see it exactly as if it had started on time.
"""

from __future__ import annotations

import heapq
import itertools
import uuid
from dataclasses import dataclass, field

from airflow_entityresolution.emulator.clock import Clock
from airflow_entityresolution.emulator.job_table import JobTable
from airflow_entityresolution.emulator.scripts import JobScript, ScriptedWorkflow, check_script_metrics


@dataclass(frozen=True, order=True)
class PlannedStart:
    """
    A job a workflow will start by itself.

    :param at: when, on the monotonic clock.
    :param sequence: the order it was planned in, which orders starts planned for one moment.
    :param job_id: the ID the job will have.
    :param workflow: the workflow that starts it.
    :param script: how it runs; ``None`` takes the workflow's next script when it starts.
    """

    at: float
    sequence: int
    job_id: str = field(compare=False)
    workflow: ScriptedWorkflow = field(compare=False)
    script: JobScript | None = field(compare=False)


class SelfStarts:
    """
    The jobs workflows will start by themselves, and the clock reading that starts them; it does not lock.

    :param jobs: the jobs they join.
    :param clock: the clock they start by.
    """

    def __init__(self, jobs: JobTable, clock: Clock) -> None:
        self._jobs = jobs
        self._clock = clock
        self._planned: list[PlannedStart] = []
        self._sequence = itertools.count()

    def read_clock(self) -> float:
        """Read the monotonic clock, first starting every planned job whose moment has come, at its moment."""
        now = self._clock.monotonic()
        while self._planned and self._planned[0].at <= now:
            planned = heapq.heappop(self._planned)
            self._jobs.self_start(planned.workflow, planned.script, planned.job_id, planned.at)
        return now

    def plan(self, workflow: ScriptedWorkflow, script: JobScript | None, seconds: float) -> str:
        """Have ``workflow`` start a job by itself ``seconds`` from now (at once for 0); return its ID."""
        if seconds < 0:
            raise ValueError(f"A job cannot start {seconds} seconds from now: the clock never goes back.")
        if script is not None:
            check_script_metrics(workflow.family, script)
        job_id = uuid.uuid4().hex
        at = self.read_clock() + seconds
        heapq.heappush(self._planned, PlannedStart(at, next(self._sequence), job_id, workflow, script))
        self.read_clock()
        return job_id

    def on_new_data(self, workflow: ScriptedWorkflow, script: JobScript | None) -> str:
        """Start a job now, as the service does when new data reaches an ``IMMEDIATE`` workflow."""
        if not workflow.runs_on_new_data:
            raise ValueError(
                f"The {workflow.family.label} workflow {workflow.name!r} has no incremental run type "
                "IMMEDIATE: the service runs it only when a Start call asks."
            )
        return self.plan(workflow, script, 0.0)

    def clear(self) -> None:
        """Forget every planned start."""
        self._planned.clear()
