"""
The emulator's HTTP front: the rest-json wire protocol of the Entity Resolution job, workflow
and ID namespace calls.

One catch-all route parses each request into an
:class:`~airflow_entityresolution.emulator.wire.ApiCall` and writes the
:class:`~airflow_entityresolution.emulator.replies.Reply` the emulator gives back.
Paths are parsed from the raw request line because a ``workflowName`` may hold
a percent-encoded ``/``: decoding before splitting would turn a name like
``a/../b`` into other path segments.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import json
import re
import socket
import threading
import uuid
from collections.abc import Mapping
from types import TracebackType
from urllib.parse import parse_qsl, unquote

from aiohttp import web

from airflow_entityresolution.emulator.replies import Reply
from airflow_entityresolution.emulator.resource_types import RESOURCE_BY_COLLECTION, ResourceVerb
from airflow_entityresolution.emulator.state import EntityResolutionEmulator
from airflow_entityresolution.emulator.wire import DEFAULT_REGION, KIND_BY_COLLECTION, ApiCall
from airflow_entityresolution.jobs import Verb

CREDENTIAL_SCOPE = re.compile(r"Credential=(?P<access_key_id>[^/,\s]+)/\d{8}/(?P<region>[^/,\s]+)/")
# (method, number of path segments) -> the job call; paths are /{collection}/{workflowName}/jobs[/{jobId}].
ROUTES: Mapping[tuple[str, int], Verb] = {
    ("POST", 3): Verb.START,
    ("GET", 3): Verb.LIST,
    ("GET", 4): Verb.GET,
}
# (method, number of path segments) -> the workflow or ID namespace call; paths are /{collection}[/{name}].
RESOURCE_ROUTES: Mapping[tuple[str, int], ResourceVerb] = {
    ("POST", 1): ResourceVerb.CREATE,
    ("GET", 1): ResourceVerb.LIST,
    ("GET", 2): ResourceVerb.GET,
    ("DELETE", 2): ResourceVerb.DELETE,
}
# Benchmarks open hundreds of connections at once; the default backlog of 128 would refuse some.
LISTEN_BACKLOG = 1024
# Long enough for in-flight answers to finish, short enough that a pending latency fault cannot stall
# a stop: aiohttp waits for a busy handler up to twice this long before it drops the connection.
SHUTDOWN_TIMEOUT_SECONDS = 0.5


def region_of(headers: Mapping[str, str]) -> str:
    """Read the region from a SigV4 ``Authorization`` header's credential scope."""
    scope = CREDENTIAL_SCOPE.search(headers.get("Authorization", ""))
    return scope["region"] if scope else DEFAULT_REGION


def access_key_of(headers: Mapping[str, str]) -> str | None:
    """Read the access key ID a request was signed with (never the secret, which is not sent)."""
    scope = CREDENTIAL_SCOPE.search(headers.get("Authorization", ""))
    return scope["access_key_id"] if scope else None


def parse_call(method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> ApiCall:
    """
    Turn a request into an :class:`ApiCall`, decoding each path segment on its own.

    :param method: the HTTP method.
    :param raw_path: the request target as sent, percent-encoding intact, query included.
    :param headers: the request headers.
    :param body: the request body.
    """
    path, _, query_string = raw_path.partition("?")
    call = ApiCall(
        method=method,
        path=path,
        region=region_of(headers),
        access_key_id=access_key_of(headers),
        query=dict(parse_qsl(query_string, keep_blank_values=True)),
        body=body,
    )
    leading, *segments = path.split("/")
    segments = [unquote(segment) for segment in segments]
    if leading:
        return call
    return _resource_call(call, segments) or _job_call(call, segments) or call


def _job_call(call: ApiCall, segments: list[str]) -> ApiCall | None:
    """Route ``/{collection}/{workflowName}/jobs[/{jobId}]``."""
    verb = ROUTES.get((call.method, len(segments)))
    if verb is None or segments[0] not in KIND_BY_COLLECTION or segments[2] != "jobs":
        return None
    return dataclasses.replace(
        call,
        kind=KIND_BY_COLLECTION[segments[0]],
        verb=verb,
        workflow_name=segments[1],
        job_id=segments[3] if verb is Verb.GET else None,
    )


def _resource_call(call: ApiCall, segments: list[str]) -> ApiCall | None:
    """Route ``/{collection}`` and ``/{collection}/{name}``; a Create is logged under its body's name."""
    verb = RESOURCE_ROUTES.get((call.method, len(segments)))
    resource = RESOURCE_BY_COLLECTION.get(segments[0])
    if verb is None or resource is None:
        return None
    name = segments[1] if len(segments) == 2 else None
    if verb is ResourceVerb.CREATE:
        name = resource.name_in_create_body(call.body)
    return dataclasses.replace(call, resource=resource, resource_verb=verb, workflow_name=name)


def encode_reply(reply: Reply, status: int) -> web.Response:
    """Write a reply as a rest-json response with HTTP ``status``."""
    body = json.dumps(reply.payload).encode()
    if reply.truncate_body:
        body = body[: len(body) // 2]
    headers = {"x-amzn-RequestId": str(uuid.uuid4())}
    if reply.error_code is not None:
        headers["x-amzn-ErrorType"] = reply.error_code
    return web.Response(status=status, body=body, content_type="application/json", headers=headers)


def create_app(emulator: EntityResolutionEmulator) -> web.Application:
    """
    Build the aiohttp application that serves ``emulator``.

    :param emulator: the service that answers the requests.
    """

    async def handle(request: web.Request) -> web.StreamResponse:
        call = parse_call(request.method, request.raw_path, request.headers, await request.read())
        reply = emulator.handle(call)
        if reply.delay_seconds:
            await asyncio.sleep(reply.delay_seconds)
        if reply.status is None:
            return _drop_connection(request)
        return encode_reply(reply, reply.status)

    app = web.Application()
    app.router.add_route("*", "/{path:.*}", handle)
    return app


def _drop_connection(request: web.Request) -> web.StreamResponse:
    """Close the connection so that the client reads no answer at all."""
    if request.transport is not None:
        request.transport.close()
    # aiohttp cannot write this to a closed transport, and drops it silently.
    return web.Response(status=500)


class EmulatorServer:
    """
    Serve an :class:`EntityResolutionEmulator` over HTTP from a daemon thread with its own event loop.

    The port is bound by :meth:`start`, so :attr:`endpoint_url` is right as soon as it returns.
    Use it as a context manager, or call :meth:`start` and :meth:`stop`.

    :param emulator: the service to serve; a fresh one if ``None``.
    :param host: the address to listen on.
    :param port: the port to listen on; 0 picks a free one.
    """

    def __init__(
        self, emulator: EntityResolutionEmulator | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.emulator = emulator if emulator is not None else EntityResolutionEmulator()
        self.host = host
        self.port = port
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_requested: asyncio.Event | None = None

    @property
    def endpoint_url(self) -> str:
        """The URL clients pass as ``endpoint_url``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> EmulatorServer:
        """Bind the port, start serving, and return once requests are answered."""
        if self._thread is not None:
            raise RuntimeError("The server is already running.")
        listener = socket.create_server((self.host, self.port), backlog=LISTEN_BACKLOG)
        self.port = listener.getsockname()[1]
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=asyncio.run,
            args=(self._serve(listener, ready),),
            name=f"entity-resolution-emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        try:
            ready.result()
        except BaseException:
            self._thread.join()
            self._thread = None
            raise
        self.emulator.endpoint_url = self.endpoint_url
        return self

    def stop(self) -> None:
        """Stop serving, close every connection, and wait for the server thread to end."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        if thread.is_alive() and self._loop is not None and self._stop_requested is not None:
            self._loop.call_soon_threadsafe(self._stop_requested.set)
        thread.join()
        if self.emulator.endpoint_url == self.endpoint_url:
            self.emulator.endpoint_url = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    async def _serve(self, listener: socket.socket, ready: concurrent.futures.Future[None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_requested = asyncio.Event()
        runner = web.AppRunner(
            create_app(self.emulator), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS
        )
        try:
            await runner.setup()
            await web.SockSite(runner, listener, backlog=LISTEN_BACKLOG).start()
        except BaseException as error:
            listener.close()
            await runner.cleanup()
            ready.set_exception(error)
            return
        ready.set_result(None)
        try:
            await self._stop_requested.wait()
        finally:
            await runner.cleanup()
