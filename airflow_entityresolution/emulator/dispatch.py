"""Operation routing: the operation that answers a parsed request, run on the jobs and resources."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from airflow_entityresolution.emulator.job_table import JobTable
from airflow_entityresolution.emulator.replies import Reply, ServiceError
from airflow_entityresolution.emulator.resource_types import ResourceType, ResourceVerb
from airflow_entityresolution.emulator.wire import ApiCall
from airflow_entityresolution.emulator.workflows import ResourceStore
from airflow_entityresolution.jobs import Verb


class Operations:
    """
    Every operation the emulator answers, on its jobs and its workflows and ID namespaces.

    Nothing here locks: the emulator calls it under its own lock.

    :param jobs: the jobs, and the workflows' scripts.
    :param resources: the workflows and ID namespaces.
    """

    def __init__(self, jobs: JobTable, resources: ResourceStore) -> None:
        self._jobs = jobs
        self._resources = resources

    def answer(self, call: ApiCall, now: float) -> Reply:
        """Run the operation ``call`` names, and answer with its result or the error it raised."""
        perform = self._operation_for(call, now)
        if perform is None:
            return ServiceError(
                "UnknownOperationException", f"No operation answers {call.method} {call.path}."
            ).reply()
        try:
            return Reply(200, perform())
        except ServiceError as error:
            return error.reply()

    def _operation_for(self, call: ApiCall, now: float) -> Callable[[], dict[str, Any]] | None:
        if call.resource is not None and call.resource_verb is not None:
            return functools.partial(self._resource_call, call.resource, call.resource_verb, call, now)
        if call.kind is not None and call.verb is not None:
            job_calls = {
                Verb.START: self._jobs.start,
                Verb.GET: self._jobs.get,
                Verb.LIST: self._jobs.list_page,
            }
            return functools.partial(job_calls[call.verb], call.kind, call, now)
        return None

    def _resource_call(
        self, resource_type: ResourceType, verb: ResourceVerb, call: ApiCall, now: float
    ) -> dict[str, Any]:
        store = self._resources
        if verb is ResourceVerb.LIST:
            return store.list_page(resource_type, call.region, call.query)
        if verb is ResourceVerb.CREATE:
            return self._jobs.keep_workflow(store.create(resource_type, call.region, call.body)).created()
        # The current model and API reference answer ResourceNotFoundException to a Delete of a
        # missing resource too; older documentation said such a Delete succeeds.
        resource = store.existing(resource_type, call.region, call.workflow_name, verb)
        if verb is ResourceVerb.GET:
            return resource.description()
        self._jobs.forget_workflow(resource, now)
        return store.delete(resource)
