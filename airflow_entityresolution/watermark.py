"""
What an event trigger has announced, kept in an Airflow Variable so that it outlives the triggerer.

A trigger's code cannot reach the metadata DB, and its keyword arguments cannot change once
stored; a Variable is the one store that every Airflow 3 triggerer can read and write, through
its supervisor, and that a triggerer taking the watcher over reads the same. One Variable per
watcher holds a small JSON document: the jobs already announced (or already ended when the
watcher began), by ID, and a floor below which no job is announced.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

HORIZON = datetime.timedelta(days=7)
"""How long a job stays in a watermark after the newest job in it ended; the floor trails by as much."""

FORMAT_VERSION = 1


def identity_digest(identity: Mapping[str, Any]) -> str:
    """A stable hash of a JSON mapping, which shows nothing of what it hashes."""
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:40]


def watermark_key(identity: Mapping[str, Any]) -> str:
    """
    The Variable key of the watcher with ``identity``: a hash, so no workflow or connection name shows.

    A key that named a secret-looking word would have the supervisor mask the value it reads back.
    """
    return f"{Watermark.PREFIX}{identity_digest(identity)}"


def end_moment(iso: str) -> datetime.datetime:
    """A job's ``endTime``, as the JSON descriptions write it, as a moment: strings misorder offsets."""
    return datetime.datetime.fromisoformat(iso)


@dataclass
class Watermark:
    """
    The jobs one watcher announced, and those it never will.

    :param key: the Variable's key.
    :param floor: the ISO-8601 ``endTime`` before which no job is announced, or ``None``.
    :param known: ``endTime`` by job ID of the jobs announced and persisted, or ended before the
        watcher began.
    :param description: what the Variable is for, as its description shows it to a user.
    """

    PREFIX = "entityresolution-watermark-"

    key: str
    floor: str | None = None
    known: dict[str, str] = field(default_factory=dict)
    description: str = ""
    pending: dict[str, str] = field(default_factory=dict)
    """Announced, but not yet known to be in the metadata DB: kept in memory only."""

    @classmethod
    def baseline(
        cls,
        key: str,
        ended: Mapping[str, str],
        look_back: float,
        now: datetime.datetime,
        description: str = "",
    ) -> Watermark:
        """
        Start a watcher: the jobs in ``ended`` (``endTime`` by ID) count as seen, but inside the look-back.

        Without a look-back nothing is compared with the triggerer's clock: the jobs that had
        ended at the first poll are what came before.
        """
        if not look_back:
            watermark = cls(key, None, dict(ended), description)
            if ended:
                watermark._prune()
            return watermark
        cutoff = now - datetime.timedelta(seconds=look_back)
        return cls(key, cutoff.isoformat(), {}, description)

    @classmethod
    def from_json(cls, key: str, document: Mapping[str, Any]) -> Watermark:
        if document.get("v") != FORMAT_VERSION:
            raise ValueError(f"Variable {key} holds no watermark of version {FORMAT_VERSION}: {document!r}")
        return cls(key, document["floor"], dict(document["known"]))

    def to_json(self) -> dict[str, Any]:
        return {"v": FORMAT_VERSION, "floor": self.floor, "known": self.known}

    def is_new(self, job_id: str, end_time: str) -> bool:
        """Whether the job, which ended at ``end_time``, is still to be announced."""
        if job_id in self.known or job_id in self.pending:
            return False
        return self.floor is None or end_moment(end_time) >= end_moment(self.floor)

    def announce(self, job_id: str, end_time: str) -> None:
        self.pending[job_id] = end_time

    def commit(self, job_ids: Iterable[str]) -> bool:
        """Move announced jobs, now known to be persisted, from pending to known; return whether any moved."""
        moved = [job_id for job_id in job_ids if job_id in self.pending]
        for job_id in moved:
            self.known[job_id] = self.pending.pop(job_id)
        if moved:
            self._prune()
        return bool(moved)

    def _prune(self) -> None:
        # Measured from the jobs' own end times, so the triggerer's clock plays no part.
        newest = max(end_moment(end) for end in self.known.values())
        cutoff = newest - HORIZON
        old = [job_id for job_id, end in self.known.items() if end_moment(end) < cutoff]
        if not old:
            return
        for job_id in old:
            del self.known[job_id]
        if self.floor is None or end_moment(self.floor) < cutoff:
            self.floor = cutoff.isoformat()


async def load_watermark(key: str) -> Watermark | None:
    """Read a watermark through the triggerer's supervisor; ``None`` only when no Variable has the key."""
    from airflow.sdk.exceptions import ErrorType
    from airflow.sdk.execution_time.comms import ErrorResponse, GetVariable, VariableResult

    answer = await _supervisor_comms().asend(GetVariable(key=key))
    if isinstance(answer, VariableResult):
        return Watermark.from_json(key, json.loads(answer.value or "null") or {})
    if isinstance(answer, ErrorResponse) and answer.error == ErrorType.VARIABLE_NOT_FOUND:
        return None
    # Taking a failed read for a new watcher would re-baseline it, and skip what it had yet to announce.
    raise RuntimeError(f"Cannot read the watermark Variable {key}: {answer!r}")


async def save_watermark(watermark: Watermark) -> None:
    """Write a watermark, with its description, through the triggerer's supervisor."""
    from airflow.sdk.execution_time.comms import ErrorResponse, PutVariable

    value = json.dumps(watermark.to_json())
    answer = await _supervisor_comms().asend(
        PutVariable(key=watermark.key, value=value, description=watermark.description)
    )
    # A lost write would have a restarted watcher start over from then, skipping what it had yet to announce.
    if isinstance(answer, ErrorResponse):
        raise RuntimeError(f"Cannot write the watermark Variable {watermark.key}: {answer!r}")


def _supervisor_comms() -> Any:
    # Read at each call: the triggerer sets it once its runner process is connected.
    from airflow.sdk.execution_time import task_runner

    comms = getattr(task_runner, "SUPERVISOR_COMMS", None)
    if comms is None:
        raise RuntimeError(
            "An Entity Resolution event trigger keeps its watermark in an Airflow Variable, through "
            "the triggerer's supervisor: it runs only in a triggerer, as an asset watcher"
        )
    return comms
