"""The aiobotocore clients that the waits of one triggerer share."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types_aiobotocore_entityresolution.client import (
        EntityResolutionClient as AsyncEntityResolutionClient,
    )

    from airflow_entityresolution.hooks import EntityResolutionHook


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
    async def lease(self, hook: EntityResolutionHook) -> AsyncIterator[AsyncEntityResolutionClient]:
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
    async def _open(lease: _Lease, hook: EntityResolutionHook) -> AsyncEntityResolutionClient:
        # The Amazon provider leaves get_async_conn unannotated: it returns aiobotocore's client context.
        context: AbstractAsyncContextManager[AsyncEntityResolutionClient]
        context = await hook.get_async_conn()  # type: ignore[no-untyped-call]
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
