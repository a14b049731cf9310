"""Client: linearizable get / put / delete and compare-and-set against the shard groups,
for trio programs.

It caches the latest config (which group serves which bucket) and each group's
leader; a "wrong_group" answer refreshes the config, a "not_leader" answer follows
the hint, and every failure is retried with backoff until the operation timeout.
Writes are exactly-once: each concurrent operation holds a session slot (client id,
sequence number) that its retries reuse.

Shard groups forget a session unused for their session_ttl_s (an hour by default). A
slot remembers when it last had a write acknowledged in each bucket, and marks a write
to a bucket it has not written for SESSION_IDLE_SECONDS as possibly new there, so a
session the group may have forgotten is started afresh instead of refused. A retry
whose session expired all the same (a client stalled past the TTL between two tries)
raises SessionExpired: the group cannot tell whether the first try applied.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast, overload

import trio

from eraft_trio.client.results import CasResult, DeleteResult, GetResult, PutResult
from eraft_trio.client.txn import TxnCompare, TxnOp, TxnResult, run_txn
from eraft_trio.client.watch import DEFAULT_MAX_WAIT, Watch, open_watch
from eraft_trio.errors import (
    BadRequest,
    EraftError,
    OperationTimeout,
    SessionExpired,
    single_exception,
)
from eraft_trio.group_calls.config_client import ConfigClient
from eraft_trio.group_calls.deadline import Deadline
from eraft_trio.group_calls.group_caller import GroupCaller, GroupUnreachable
from eraft_trio.group_calls.pool import ConnectionPool
from eraft_trio.protocol.address import parse_address
from eraft_trio.protocol.errors import ErrorCode, ErrorReply
from eraft_trio.protocol.keys import bucket_of
from eraft_trio.protocol.lease import KvPutLeased
from eraft_trio.protocol.limits import DEFAULT_MAX_VALUE_BYTES, request_refusal
from eraft_trio.protocol.replies import Value, VersionedValue, Written
from eraft_trio.protocol.shard import KvDelete, KvGet, KvGetVersioned, KvPut
from eraft_trio.transport.handshake import ANY_CLUSTER
from eraft_trio.transport.security import Security

if TYPE_CHECKING:
    from eraft_trio.client.leases import Grant, KeptLease, Revoked
    from eraft_trio.client.lock import HeldLock
    from eraft_trio.client.scan import ScanIterator

DEFAULT_CONFIG_SERVERS = ("127.0.0.1:8088", "127.0.0.1:8089", "127.0.0.1:8090")
DEFAULT_TIMEOUT = 10.0
# A shard group's answers that refuse the request itself: retrying cannot change them.
REFUSALS = frozenset(
    {
        ErrorCode.KEY_TOO_LONG,
        ErrorCode.VALUE_TOO_LARGE,
        ErrorCode.BAD_REQUEST,
        ErrorCode.BAD_COMMAND,
        ErrorCode.LEASE_NOT_FOUND,
        ErrorCode.LEASE_BUCKET,
        ErrorCode.LEASE_FULL,
        ErrorCode.CROSS_BUCKET,
    }
)
# A slot's write to a bucket it has not had a write acknowledged in for this long is
# marked as possibly a new session there. Far below the groups' session TTL (an hour by
# default), so a session is never taken for alive when the group may have expired it.
SESSION_IDLE_SECONDS = 60.0

T = TypeVar("T")


@dataclass
class SessionSlot:
    """One client id for one write at a time: its last seq, and per bucket when its
    latest acknowledged write there started (trio clock)."""

    client_id: int
    seq: int = 0
    written: dict[int, float] = field(default_factory=dict)

    def is_new_in(self, bucket: int, now: float) -> bool:
        """Whether a write now may be this id's first in `bucket` as far as the group knows."""
        started = self.written.get(bucket)
        return started is None or now - started > SESSION_IDLE_SECONDS


def as_bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


def write_condition(
    if_version: int | None, if_absent: bool, if_value: str | bytes | None
) -> tuple[int | None, bytes | None]:
    """(if_version, if_value) of a write's keywords; BadRequest unless at most one is given.

    `if_absent` is `if_version=0` (etcd's version of a key that does not exist)."""
    given = (if_version is not None) + bool(if_absent) + (if_value is not None)
    if given > 1:
        raise BadRequest("bad_request", "give one of if_version, if_absent, if_value")
    if if_version is not None and (
        not isinstance(if_version, int) or isinstance(if_version, bool) or if_version < 0
    ):
        raise BadRequest("bad_request", f"if_version must be an integer >= 0, not {if_version!r}")
    if if_absent:
        return 0, None
    return if_version, None if if_value is None else as_bytes(if_value)


def check_lease_id(lease: Any) -> int:
    """`lease` as a lease id; BadRequest for anything that cannot be one."""
    if not isinstance(lease, int) or isinstance(lease, bool) or not 0 < lease < 2**64:
        raise BadRequest("bad_request", f"a lease id is an integer from lease_grant, not {lease!r}")
    return lease


def _expect(reply: Any, kind: type[T], request: str) -> T:
    """`reply` as the answer `request` must have (a group answering otherwise is a bug)."""
    if type(reply) is not kind:
        raise EraftError(f"{request} answered {type(reply).__name__}")
    return cast(T, reply)


def _new_client_id() -> int:
    return random.getrandbits(62)


class Client:
    def __init__(
        self,
        pool: ConnectionPool,
        config_servers: tuple[str, ...],
        timeout: float = DEFAULT_TIMEOUT,
        max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
    ) -> None:
        self.pool = pool
        self.timeout = timeout
        self.max_value_bytes = max_value_bytes
        self.config_client = ConfigClient(pool, config_servers, timeout)
        self.config: dict[str, Any] | None = None
        self._groups: dict[int, GroupCaller] = {}
        self._refreshing: trio.Event | None = None
        self._free_sessions: list[SessionSlot] = []

    @classmethod
    @asynccontextmanager
    async def connect(
        cls,
        config_servers: Sequence[str] = DEFAULT_CONFIG_SERVERS,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        cluster: str | None = None,
        security: Security | None = None,
        max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
    ) -> AsyncIterator[Client]:
        """A client of the cluster whose config group is at `config_servers`.

        `max_value_bytes` is checked before a put is sent; set it to the cluster's
        [limits] max_value_bytes when that is not the default (the nodes check too).

        Security: `security` as given (`Security.from_files(secret_file=..., ca_file=...)`),
        else `Security.from_env()`: the files ERAFT_SECRET_FILE, ERAFT_CA_FILE,
        ERAFT_CERT_FILE and ERAFT_KEY_FILE name.
        """
        servers = tuple(config_servers)
        if not servers:
            raise BadRequest("bad_address", "no config servers given")
        for addr in servers:
            try:
                parse_address(addr)
            except ValueError as exc:
                raise BadRequest("bad_address", f"config server {exc}") from None
        if security is None:
            try:
                security = Security.from_env()
            except ValueError as exc:  # SecurityConfigError names the file
                raise BadRequest("bad_security", str(exc)) from None
        try:
            async with trio.open_nursery() as nursery:
                pool = ConnectionPool(
                    nursery,
                    cluster or ANY_CLUSTER,
                    security=security,
                    security_refusals_are_final=True,
                )
                try:
                    yield cls(pool, servers, timeout, max_value_bytes)
                finally:
                    await pool.aclose()
                    nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # The caller's error reaches us wrapped by our nursery: hand it back as raised.
            raise single_exception(group) from None

    # --- the API ------------------------------------------------------------------------

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
        """Write `value`; with one condition, only if the key is at that version, absent, or
        holds that value (compare-and-set: a failed comparison is a CasResult, not an error).
        `lease` attaches the key to that lease (client/leases.py): it is deleted when the
        lease ends; the key must be in the lease's bucket."""
        k, v = as_bytes(key), as_bytes(value)
        self._check_size(k, v)
        version, expected = write_condition(if_version, if_absent, if_value)
        self._check_size(k, expected)
        if lease is not None:
            lease_id = check_lease_id(lease)
            if not k:
                raise BadRequest("bad_request", "a key put with a lease must not be empty")
            reply = await self._write(
                k,
                lambda cid, seq, new: KvPutLeased(cid, seq, k, v, lease_id, new, version, expected),
            )
        else:
            reply = await self._write(
                k, lambda cid, seq, new: KvPut(cid, seq, k, v, new, version, expected)
            )
        if version is None and expected is None:
            return PutResult.from_reply(_expect(reply, Written, "a put"))
        return CasResult.from_reply(reply, v)

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
        """Delete (a missing key is not an error); with a condition, only if the key is at
        that version or holds that value."""
        k = as_bytes(key)
        self._check_size(k, None)
        version, expected = write_condition(if_version, False, if_value)
        self._check_size(k, expected)
        reply = await self._write(
            k, lambda cid, seq, new: KvDelete(cid, seq, k, new, version, expected)
        )
        if version is None and expected is None:
            return DeleteResult.from_reply(_expect(reply, Written, "a delete"))
        return CasResult.from_reply(reply, None)

    async def get(self, key: str | bytes) -> bytes | None:
        k = as_bytes(key)
        self._check_size(k, None)
        reply = await self._call_owner(k, KvGet(k), Deadline(self.timeout))
        return _expect(reply, Value, "a get").value

    async def get_versioned(self, key: str | bytes) -> GetResult:
        """The value with the key's version and mod revision (None, 0, 0: no such key)."""
        k = as_bytes(key)
        self._check_size(k, None)
        reply = await self._call_owner(k, KvGetVersioned(k), Deadline(self.timeout))
        return GetResult.from_reply(_expect(reply, VersionedValue, "a versioned get"))

    def scan(
        self,
        prefix: str | bytes = b"",
        *,
        limit: int | None = None,
        after: str | bytes | None = None,
        keys_only: bool = False,
    ) -> ScanIterator:
        """`async for item in client.scan(...)`: every key starting with `prefix` and
        greater than `after`, in key order, the first `limit` of them (None: all), as
        ScanItems (value None with `keys_only`); fetched a page at a time (client/scan.py)."""
        from eraft_trio.client.scan import ScanIterator  # it builds on this module

        return ScanIterator(self, prefix, limit=limit, after=after, keys_only=keys_only)

    # --- leases (client/leases.py) and the lock recipe (client/lock.py) -----------------

    async def lease_grant(self, ttl: float, *, key: str | bytes) -> Grant:
        """A lease of `ttl` seconds in the bucket of `key` (attach keys of that bucket)."""
        from eraft_trio.client import leases

        return await leases.grant(self, ttl, key)

    async def keep_alive(self, lease: int) -> float:
        """Renew a lease; the TTL (seconds) it has from now. BadRequest(lease_not_found)
        once it expired or was revoked."""
        from eraft_trio.client import leases

        return await leases.keep_alive(self, lease)

    async def revoke(self, lease: int) -> Revoked:
        """End a lease now, deleting its keys in one write."""
        from eraft_trio.client import leases

        return await leases.revoke(self, lease)

    def lease(self, ttl: float, *, key: str | bytes) -> AbstractAsyncContextManager[KeptLease]:
        """`async with client.lease(ttl, key=k) as lease:` a lease kept alive every ttl/3
        while the block runs and revoked when it ends."""
        from eraft_trio.client import leases

        return leases.kept_lease(self, ttl, key)

    def lock(
        self, name: str | bytes, *, ttl: float = 10.0
    ) -> AbstractAsyncContextManager[HeldLock]:
        """`async with client.lock(name) as held:` a distributed lock (the key `name`, held
        under a lease of `ttl` s); `held.fencing_token` grows with every acquisition."""
        from eraft_trio.client import lock

        return lock.hold(self, name, ttl)

    async def txn(
        self,
        compares: Iterable[TxnCompare] = (),
        success: Iterable[TxnOp] = (),
        failure: Iterable[TxnOp] = (),
    ) -> TxnResult:
        """A transaction within one bucket (client/txn.py builds the compares and ops): if
        every compare holds, apply `success`, else `failure`, atomically and exactly once."""
        return await run_txn(self, compares, success, failure)

    def watch(
        self,
        key: str | bytes | None = None,
        *,
        prefix: str | bytes | None = None,
        from_revision: int | None = None,
        positions: dict[int, int] | None = None,
        max_wait: float = DEFAULT_MAX_WAIT,
    ) -> AbstractAsyncContextManager[Watch]:
        """Watch one key, or every key under `prefix`: `async with client.watch(...) as
        events: async for event in events` yields WatchEvents in revision order per
        bucket (client/watch.py). From `from_revision` (every bucket; None: from when
        the watch is established), or from `positions` saved from an earlier watch's
        `events.positions`. Raises Compacted when a bucket no longer holds that far back."""
        return open_watch(
            self,
            None if key is None else as_bytes(key),
            None if prefix is None else as_bytes(prefix),
            from_revision,
            positions,
            max_wait,
        )

    # --- internals ------------------------------------------------------------------------

    def _check_size(self, key: bytes, value: bytes | None) -> None:
        """BadRequest for a key or value the cluster would refuse, so it is never sent."""
        refusal = request_refusal(key, value, self.max_value_bytes)
        if refusal is not None:
            raise BadRequest(refusal.code, refusal.message)

    async def _write(self, key: bytes, make: Any, bucket: int | None = None) -> Any:
        """Send the write `make(client_id, seq, new_session)` builds to the owner of `key`'s
        bucket (or of `bucket`); the group's answer."""
        deadline = Deadline(self.timeout)
        config = self.config or await self._refresh_config(deadline, -1)
        if bucket is None:
            bucket = bucket_of(key, len(config["buckets"]))  # fixed for the cluster's life
        slot = self._free_sessions.pop() if self._free_sessions else SessionSlot(_new_client_id())
        slot.seq += 1
        started = trio.current_time()
        # Every try of this write carries the same mark: a retry is the same write.
        body = make(slot.client_id, slot.seq, slot.is_new_in(bucket, started))
        try:
            reply = await self._call_owner(key, body, deadline, bucket)
        except SessionExpired:
            raise  # the slot is dropped: its id is forgotten in that bucket
        except BaseException:
            # Reusable even after a timeout: a late duplicate of the old seq is recognised
            # as older than the session's next write and not applied.
            self._free_sessions.append(slot)
            raise
        slot.written[bucket] = started
        self._free_sessions.append(slot)
        return reply

    async def _call_owner(
        self, key: bytes, body: Any, deadline: Deadline, bucket: int | None = None
    ) -> Any:
        """The answer to `body` of the group owning `key`'s bucket (or `bucket`; never an
        ErrorReply: those are retried or raised)."""
        while True:
            config = self.config or await self._refresh_config(deadline, -1)
            buckets = config["buckets"]
            gid = buckets[bucket_of(key, len(buckets)) if bucket is None else bucket]
            addresses = config["groups"].get(str(gid))
            if gid == 0 or not addresses:
                await deadline.backoff("bucket not assigned to any group")
                await self._refresh_config(deadline, config["num"])
                continue
            group = self._group(gid, tuple(addresses))
            try:
                reply = await group.call(body, deadline, raise_unreachable=True)
            except GroupUnreachable as exc:
                # A group that left and was stopped: a newer config names the new owner.
                await deadline.backoff(str(exc))
                await self._refresh_config(deadline, config["num"])
                continue
            if type(reply) is not ErrorReply:
                return reply
            code = reply.code
            if code is ErrorCode.WRONG_GROUP:
                # Either our config is stale, or the group has not caught up with it yet.
                if (reply.num or 0) >= config["num"]:
                    await self._refresh_config(deadline, config["num"])
                await deadline.backoff("wrong group")
                continue
            if code in REFUSALS:
                raise BadRequest(code, reply.message)
            if code is ErrorCode.SESSION_EXPIRED:
                raise SessionExpired(f"session_expired: {reply.message}")
            raise EraftError(f"{code}: {reply.message}")

    def _group(self, gid: int, addresses: tuple[str, ...]) -> GroupCaller:
        group = self._groups.get(gid)
        if group is None or group.addresses != addresses:
            group = self._groups[gid] = GroupCaller(self.pool, addresses)
        return group

    async def _refresh_config(self, deadline: Deadline, seen: int) -> dict[str, Any]:
        """Fetch the latest config once for all waiting operations."""
        if self.config is not None and self.config["num"] > seen:
            return self.config
        if self._refreshing is not None:
            await self._refreshing.wait()
            if self.config is not None:
                return self.config
        self._refreshing = done = trio.Event()
        try:
            with trio.fail_after(max(0.001, deadline.remaining)):
                config = await self.config_client.query(-1)
        except trio.TooSlowError:
            raise OperationTimeout(f"no config within {deadline.timeout:g}s") from None
        finally:
            self._refreshing = None
            done.set()
        if self.config is None or config["num"] >= self.config["num"]:
            self.config = config
        return self.config
