"""
Airflow's REST API (v2), called the way an operator of a deployment or its UI calls it.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .waiting import StackError

HEALTHY_PARTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")


@dataclass
class RestApi:
    """
    A client of one API server.

    :param base_url: the API server's address, e.g. ``http://127.0.0.1:8080``.
    """

    base_url: str
    _token: str | None = field(default=None, init=False, repr=False)
    _token_asked: bool = field(default=False, init=False, repr=False)

    def token(self) -> str | None:
        """
        The token every REST call carries: the simple auth manager's all-admins token.

        Airflow 3.0 to 3.2 want it even when every user is an admin; 3.3 takes calls without it.
        """
        if not self._token_asked:
            try:
                with urllib.request.urlopen(self.base_url + "/auth/token", timeout=30) as response:
                    self._token = json.loads(response.read())["access_token"]
            except urllib.error.HTTPError:
                self._token = None
            self._token_asked = True
        return self._token

    def call(self, method: str, path: str, body: Any = None, timeout: float = 30) -> Any:
        """
        Call the REST API and return the decoded JSON answer; :class:`StackError` on an HTTP error.

        :param method: the HTTP method.
        :param path: the path below the server's address, e.g. ``/api/v2/variables/key``.
        :param body: what to send as JSON, if anything.
        :param timeout: seconds before the call gives up.
        """
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token := self.token():
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            raise StackError(f"{method} {path} answered {error.code}: {detail}") from error
        return json.loads(payload) if payload else None

    def healthy(self) -> dict[str, Any] | None:
        """``/api/v2/monitor/health``'s report if it says every component is healthy; else ``None``."""
        try:
            report = self.call("GET", "/api/v2/monitor/health", timeout=5)
        except (OSError, StackError):
            return None
        if all((report.get(part) or {}).get("status") == "healthy" for part in HEALTHY_PARTS):
            return report
        return None

    def trigger_dag(self, dag_id: str, run_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """
        Create a manual DAG run, and return its run ID.

        :param conf: the run's conf, if any.
        """
        answer = self.call(
            "POST",
            f"/api/v2/dags/{_quote(dag_id)}/dagRuns",
            {"dag_run_id": run_id, "logical_date": None, "conf": dict(conf or {})},
        )
        return answer["dag_run_id"]

    def set_task_state(self, dag_id: str, run_id: str, task_id: str, state: str) -> Any:
        """Mark a task instance ``success``, ``failed`` or ``skipped``, as the UI's "Mark as" does."""
        return self.call(
            "PATCH",
            f"/api/v2/dags/{_quote(dag_id)}/dagRuns/{_quote(run_id)}/taskInstances/{_quote(task_id)}",
            {"new_state": state},
        )

    def clear_task(self, dag_id: str, run_id: str, task_id: str) -> list[Any]:
        """Clear a task instance whatever its state, as the UI's "Clear" does; returns the cleared ones."""
        answer = self.call(
            "POST",
            f"/api/v2/dags/{_quote(dag_id)}/clearTaskInstances",
            {"dry_run": False, "dag_run_id": run_id, "task_ids": [task_id], "only_failed": False},
        )
        return answer["task_instances"]


def _quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")
