"""The aiobotocore clients that the waits of one triggerer share."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from types_aiobotocore_entityresolution.client import (
        EntityResolutionClient as AsyncEntityResolutionClient,
    )


class ClientSource(Protocol):
    """
    What opens a shared client: :class:`~airflow_entityresolution.hooks.EntityResolutionHook` is one.

    The hook leases its clients from here, so this module knows it only by this interface.
    """

    @property
    def client_key(self) -> tuple[Hashable, ...]:
        """What distinguishes the clients it opens: sources with equal keys share one."""
        ...

    async def get_async_conn(self) -> AbstractAsyncContextManager[AsyncEntityResolutionClient]:
        """Open an aiobotocore client, as a context that closes it."""
        ...


@dataclass
class _Lease:
    # Set as soon as the lease is made, by the wait that makes it.
    opening: asyncio.Future[AsyncEntityResolutionClient] = field(init=False)
    context: AbstractAsyncContextManager[AsyncEntityResolutionClient] | None = None
    users: int = 0


class _SharedAsyncClients:
    """
    aiobotocore clients shared by every wait in one event loop that uses the same connection settings.

    A triggerer runs hundreds of waits in one loop; one client each would cost one
    connection pool each. The last wait to release a client closes it.
    """

    def __init__(self) -> None:
        self._leases: dict[Hashable, _Lease] = {}

    @asynccontextmanager
    async def lease(self, hook: ClientSource) -> AsyncIterator[AsyncEntityResolutionClient]:
        key = (id(asyncio.get_running_loop()), *hook.client_key)
        lease = self._leases.get(key)
        if lease is None:
            lease = self._leases[key] = _Lease()
            lease.opening = asyncio.ensure_future(self._open(lease, hook))
        lease.users += 1
        try:
            # Shielded: a wait cancelled while the client opens must not cancel the opening for the others.
            yield await asyncio.shield(lease.opening)
        finally:
            lease.users -= 1
            if lease.users == 0:
                del self._leases[key]
                await self._close(lease)

    @staticmethod
    async def _open(lease: _Lease, hook: ClientSource) -> AsyncEntityResolutionClient:
        context = await hook.get_async_conn()
        client = await context.__aenter__()
        lease.context = context
        return client

    @staticmethod
    async def _close(lease: _Lease) -> None:
        if not lease.opening.done():
            await asyncio.wait([lease.opening])
        if lease.context is not None:
            await lease.context.__aexit__(None, None, None)

    def __len__(self) -> int:
        return len(self._leases)


shared_async_clients = _SharedAsyncClients()
"""The one registry of shared clients: :meth:`EntityResolutionHook.shared_async_client` leases from it."""
