"""SyncClient: the blocking client, a thin driver over the ClientPortal (a trio Client in a
background thread): each call waits on the portal's Future."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Concatenate, Literal, ParamSpec, TypeVar, overload

from eraft_trio.client.driver_calls import delete_any, put_any
from eraft_trio.client.kv_client import DEFAULT_CONFIG_SERVERS, DEFAULT_TIMEOUT, Client
from eraft_trio.client.leases import Grant, KeptLease, Revoked
from eraft_trio.client.lock import HeldLock
from eraft_trio.client.portal import ClientPortal
from eraft_trio.client.portal_context import hold_blocking
from eraft_trio.client.results import CasResult, DeleteResult, GetResult, PutResult
from eraft_trio.client.scan_merge import ScanItem
from eraft_trio.client.stream_bridge import BlockingStream, PortalStream, TrioStreamSource
from eraft_trio.client.txn import TxnCompare, TxnOp, TxnResult
from eraft_trio.client.watch import DEFAULT_MAX_WAIT, WatchEvent
from eraft_trio.protocol.limits import DEFAULT_MAX_VALUE_BYTES
from eraft_trio.transport.security import Security

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class SyncClient:
    """Client's API, blocking: each method submits the Client method to the portal and
    waits. A new Client method `m` is one line here, `return self._call(Client.m, ...)`;
    a streaming one (returning a trio async iterator) `return self._stream(Client.m, ...)`,
    which gives a BlockingStream."""

    def __init__(
        self,
        config_servers: Sequence[str] = DEFAULT_CONFIG_SERVERS,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        security: Security | None = None,
        max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
    ) -> None:
        """Keywords as Client.connect's (security defaults from ERAFT_SECRET_FILE etc.)."""
        options: dict[str, Any] = {
            "timeout": timeout,
            "security": security,
            "max_value_bytes": max_value_bytes,
        }
        self._portal = ClientPortal(config_servers, options, name="eraft-sync-client")
        try:
            self._portal.ready.result()  # Client.connect's error, raised here
        except BaseException:
            self._portal.close()
            raise

    def _call(
        self,
        fn: Callable[Concatenate[Client, P], Awaitable[R]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        """`await fn(client, ...)` in the client's thread, waited for; interrupted (Ctrl-C),
        the call is cancelled there too."""
        future = self._portal.submit(fn, *args, **kwargs)
        try:
            return future.result()
        except BaseException:
            future.cancel()
            raise

    def _stream(
        self,
        fn: Callable[Concatenate[Client, P], TrioStreamSource[T]],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> BlockingStream[T]:
        """The trio stream `fn(client, ...)` opens, as a blocking iterator."""
        core = PortalStream(self._portal, lambda client: fn(client, *args, **kwargs))
        return BlockingStream(core, owner=self)

    # --- the API: Client's, blocking --------------------------------------------------

    @overload
    def put(
        self, key: str | bytes, value: str | bytes, *, lease: int | None = None
    ) -> PutResult: ...
    @overload
    def put(
        self, key: str | bytes, value: str | bytes, *, if_version: int, lease: int | None = None
    ) -> CasResult: ...
    @overload
    def put(
        self,
        key: str | bytes,
        value: str | bytes,
        *,
        if_absent: Literal[True],
        lease: int | None = None,
    ) -> CasResult: ...
    @overload
    def put(
        self,
        key: str | bytes,
        value: str | bytes,
        *,
        if_value: str | bytes,
        lease: int | None = None,
    ) -> CasResult: ...

    def put(
        self,
        key: str | bytes,
        value: str | bytes,
        *,
        if_version: int | None = None,
        if_absent: bool = False,
        if_value: str | bytes | None = None,
        lease: int | None = None,
    ) -> PutResult | CasResult:
        """Client.put's, blocking."""
        return self._call(
            put_any,
            key,
            value,
            if_version=if_version,
            if_absent=if_absent,
            if_value=if_value,
            lease=lease,
        )

    def get(self, key: str | bytes) -> bytes | None:
        return self._call(Client.get, key)

    def get_versioned(self, key: str | bytes) -> GetResult:
        return self._call(Client.get_versioned, key)

    @overload
    def delete(self, key: str | bytes) -> DeleteResult: ...
    @overload
    def delete(self, key: str | bytes, *, if_version: int) -> CasResult: ...
    @overload
    def delete(self, key: str | bytes, *, if_value: str | bytes) -> CasResult: ...

    def delete(
        self,
        key: str | bytes,
        *,
        if_version: int | None = None,
        if_value: str | bytes | None = None,
    ) -> DeleteResult | CasResult:
        """Client.delete's, blocking."""
        return self._call(delete_any, key, if_version=if_version, if_value=if_value)

    def scan(
        self,
        prefix: str | bytes = b"",
        *,
        limit: int | None = None,
        after: str | bytes | None = None,
        keys_only: bool = False,
    ) -> BlockingStream[ScanItem]:
        """Client.scan's, as a blocking iterator; `with` or close() to stop early."""
        return self._stream(Client.scan, prefix, limit=limit, after=after, keys_only=keys_only)

    def watch(
        self,
        key: str | bytes | None = None,
        *,
        prefix: str | bytes | None = None,
        from_revision: int | None = None,
        positions: dict[int, int] | None = None,
        max_wait: float = DEFAULT_MAX_WAIT,
    ) -> BlockingStream[WatchEvent]:
        """Client.watch's, as a blocking iterator: `with kv.watch(...) as events: for e in events`
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

    def lease_grant(self, ttl: float, *, key: str | bytes) -> Grant:
        """Client.lease_grant's, blocking (keep the lease alive with keep_alive)."""
        return self._call(Client.lease_grant, ttl, key=key)

    def keep_alive(self, lease: int) -> float:
        return self._call(Client.keep_alive, lease)

    def revoke(self, lease: int) -> Revoked:
        return self._call(Client.revoke, lease)

    def lease(self, ttl: float, *, key: str | bytes) -> AbstractContextManager[KeptLease]:
        """`with kv.lease(ttl, key=k) as lease:` Client.lease's, blocking: kept alive in the
        client's thread while the block runs, revoked when it ends. Read `lease.lost` with
        `lease.lost.is_set()` (it is a trio Event: never wait on it here)."""
        return hold_blocking(self._portal, lambda client: client.lease(ttl, key=key))

    def lock(self, name: str | bytes, *, ttl: float = 10.0) -> AbstractContextManager[HeldLock]:
        """`with kv.lock(name) as held:` Client.lock's, blocking. A thread cannot be
        interrupted: if the lease is lost meanwhile, LeaseLost is raised when the block
        ends (`held.lease.lost.is_set()` says it earlier); the fencing token is the guard."""
        return hold_blocking(self._portal, lambda client: client.lock(name, ttl=ttl))

    def txn(
        self,
        compares: Iterable[TxnCompare] = (),
        success: Iterable[TxnOp] = (),
        failure: Iterable[TxnOp] = (),
    ) -> TxnResult:
        """Client.txn's, blocking."""
        return self._call(Client.txn, compares, success, failure)

    def close(self) -> None:
        """Cancel running calls, close the connections and end the thread."""
        self._portal.close()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # dropped unclosed: end the thread (it holds no reference here)
        portal = getattr(self, "_portal", None)
        if portal is not None:
            portal.close_soon()
