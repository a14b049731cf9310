"""AsyncioClient: the client for asyncio programs (asyncio.run, FastAPI, aiohttp), a thin
driver over the ClientPortal (a trio Client in a background thread): each call awaits
the portal's Future. Cancelling the awaiting task cancels the call in the trio thread.

    async with AsyncioClient(servers) as kv:           # or: kv = await AsyncioClient.connect(servers)
        await kv.put("k", "v")
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Concatenate, Literal, ParamSpec, TypeVar, overload

from eraft_trio.client.driver_calls import delete_any, put_any
from eraft_trio.client.kv_client import DEFAULT_CONFIG_SERVERS, DEFAULT_TIMEOUT, Client
from eraft_trio.client.leases import Grant, KeptLease, Revoked
from eraft_trio.client.lock import HeldLock
from eraft_trio.client.portal import ClientPortal
from eraft_trio.client.portal_context import hold_async
from eraft_trio.client.results import CasResult, DeleteResult, GetResult, PutResult
from eraft_trio.client.scan_merge import ScanItem
from eraft_trio.client.stream_bridge import AsyncioStream, PortalStream, TrioStreamSource
from eraft_trio.client.txn import TxnCompare, TxnOp, TxnResult
from eraft_trio.client.watch import DEFAULT_MAX_WAIT, WatchEvent
from eraft_trio.errors import ClientClosed
from eraft_trio.protocol.limits import DEFAULT_MAX_VALUE_BYTES
from eraft_trio.transport.security import Security

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class AsyncioClient:
    """Client's API for asyncio: each method submits the Client method to the portal and
    awaits it. A new Client method `m` is one line here, `return await self._call(Client.m,
    ...)`; a streaming one (returning a trio async iterator) `return self._stream(Client.m,
    ...)`, which gives an AsyncioStream."""

    def __init__(
        self,
        config_servers: Sequence[str] = DEFAULT_CONFIG_SERVERS,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        security: Security | None = None,
        max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
    ) -> None:
        """Keywords as Client.connect's. Nothing starts until `async with` or connect()."""
        self._servers = tuple(config_servers)
        self._options: dict[str, Any] = {
            "timeout": timeout,
            "security": security,
            "max_value_bytes": max_value_bytes,
        }
        self._portal: ClientPortal | None = None
        self._closed = False

    @classmethod
    async def connect(
        cls, config_servers: Sequence[str] = DEFAULT_CONFIG_SERVERS, **options: Any
    ) -> AsyncioClient:
        """A connected client (keywords as the constructor's); close it with aclose() or
        `async with`. Raises what Client.connect raises (BadRequest for a bad address)."""
        client = cls(config_servers, **options)
        await client._start()
        return client

    async def _start(self) -> None:
        if self._closed:
            raise ClientClosed("the client is closed")
        if self._portal is None:
            self._portal = ClientPortal(self._servers, self._options, name="eraft-asyncio-client")
        try:
            await asyncio.wrap_future(self._portal.ready)
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Cancel running calls, close the connections and end the client's thread."""
        self._closed = True
        portal = self._portal
        if portal is None:
            return
        portal.close_soon()
        await asyncio.shield(asyncio.wrap_future(portal.stopped))
        portal.thread.join()  # its last step is done: returns at once

    async def __aenter__(self) -> AsyncioClient:
        await self._start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __del__(self) -> None:  # dropped unclosed: end the thread (it holds no reference here)
        portal = getattr(self, "_portal", None)
        if portal is not None:
            portal.close_soon()

    def _connected(self) -> ClientPortal:
        if self._portal is None or self._closed:
            raise ClientClosed(
                "the client is closed"
                if self._closed
                else "not connected: use `async with AsyncioClient(...)` or connect()"
            )
        return self._portal

    async def _call(
        self,
        fn: Callable[Concatenate[Client, P], Awaitable[R]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        """`await fn(client, ...)` in the client's thread."""
        return await asyncio.wrap_future(self._connected().submit(fn, *args, **kwargs))

    def _stream(
        self,
        fn: Callable[Concatenate[Client, P], TrioStreamSource[T]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> AsyncioStream[T]:
        """The trio stream `fn(client, ...)` opens, as an asyncio async iterator."""
        core = PortalStream(self._connected(), lambda client: fn(client, *args, **kwargs))
        return AsyncioStream(core, owner=self)

    # --- the API: Client's, for asyncio ----------------------------------------------

    @overload
    async def put(
        self, key: str | bytes, value: str | bytes, *, lease: int | None = None
    ) -> PutResult: ...
    @overload
    async def put(
        self, key: str | bytes, value: str | bytes, *, if_version: int, lease: int | None = None
    ) -> CasResult: ...
    @overload
    async def put(
        self,
        key: str | bytes,
        value: str | bytes,
        *,
        if_absent: Literal[True],
        lease: int | None = None,
    ) -> CasResult: ...
    @overload
    async def put(
        self,
        key: str | bytes,
        value: str | bytes,
        *,
        if_value: str | bytes,
        lease: int | None = None,
    ) -> CasResult: ...

    async def put(
        self,
        key: str | bytes,
        value: str | bytes,
        *,
        if_version: int | None = None,
        if_absent: bool = False,
        if_value: str | bytes | None = None,
        lease: int | None = None,
    ) -> PutResult | CasResult:
        """Client.put's."""
        return await self._call(
            put_any,
            key,
            value,
            if_version=if_version,
            if_absent=if_absent,
            if_value=if_value,
            lease=lease,
        )

    async def get(self, key: str | bytes) -> bytes | None:
        return await self._call(Client.get, key)

    async def get_versioned(self, key: str | bytes) -> GetResult:
        return await self._call(Client.get_versioned, key)

    @overload
    async def delete(self, key: str | bytes) -> DeleteResult: ...
    @overload
    async def delete(self, key: str | bytes, *, if_version: int) -> CasResult: ...
    @overload
    async def delete(self, key: str | bytes, *, if_value: str | bytes) -> CasResult: ...

    async def delete(
        self,
        key: str | bytes,
        *,
        if_version: int | None = None,
        if_value: str | bytes | None = None,
    ) -> DeleteResult | CasResult:
        """Client.delete's."""
        return await self._call(delete_any, key, if_version=if_version, if_value=if_value)

    def scan(
        self,
        prefix: str | bytes = b"",
        *,
        limit: int | None = None,
        after: str | bytes | None = None,
        keys_only: bool = False,
    ) -> AsyncioStream[ScanItem]:
        """Client.scan's: `async for item in kv.scan(...)`; `async with` to stop early."""
        return self._stream(Client.scan, prefix, limit=limit, after=after, keys_only=keys_only)

    def watch(
        self,
        key: str | bytes | None = None,
        *,
        prefix: str | bytes | None = None,
        from_revision: int | None = None,
        positions: dict[int, int] | None = None,
        max_wait: float = DEFAULT_MAX_WAIT,
    ) -> AsyncioStream[WatchEvent]:
        """Client.watch's, as `async with kv.watch(...) as events: async for e in events`
        (it never ends by itself). To resume, keep {e.bucket: e.resume_revision} of the
        events handled and pass it as `positions=` (client/watch.py)."""
        return self._stream(
            Client.watch,
            key,
            prefix=prefix,
            from_revision=from_revision,
            positions=positions,
            max_wait=max_wait,
        )

    async def lease_grant(self, ttl: float, *, key: str | bytes) -> Grant:
        """Client.lease_grant's (keep the lease alive with keep_alive)."""
        return await self._call(Client.lease_grant, ttl, key=key)

    async def keep_alive(self, lease: int) -> float:
        return await self._call(Client.keep_alive, lease)

    async def revoke(self, lease: int) -> Revoked:
        return await self._call(Client.revoke, lease)

    def lease(self, ttl: float, *, key: str | bytes) -> AbstractAsyncContextManager[KeptLease]:
        """`async with kv.lease(ttl, key=k) as lease:` Client.lease's: kept alive in the
        client's thread while the block runs, revoked when it ends. Read `lease.lost` with
        `lease.lost.is_set()` (it is a trio Event: never await it here)."""
        return hold_async(self._connected(), lambda client: client.lease(ttl, key=key))

    def lock(
        self, name: str | bytes, *, ttl: float = 10.0
    ) -> AbstractAsyncContextManager[HeldLock]:
        """`async with kv.lock(name) as held:` Client.lock's: if the lease is lost while
        the block runs, the block's task is cancelled and LeaseLost raised."""
        return hold_async(self._connected(), lambda client: client.lock(name, ttl=ttl))

    async def txn(
        self,
        compares: Iterable[TxnCompare] = (),
        success: Iterable[TxnOp] = (),
        failure: Iterable[TxnOp] = (),
    ) -> TxnResult:
        """Client.txn's."""
        return await self._call(Client.txn, compares, success, failure)
