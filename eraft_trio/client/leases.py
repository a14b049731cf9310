"""Leases for the trio Client (kv_client.py's thin methods import this module when used): grant, keep-alive, revoke, and a lease kept alive in the
background while a block runs (docs/reference.md, "Leases").

A lease lives in the bucket of the key it is granted with (`key=`); `put(k, v, lease=id)`
then attaches keys of that bucket (a hash tag, `lock{jobs}:a`, puts related keys there),
and they are deleted, in one log entry, when the lease is revoked or expires. The id
names the bucket (`id >> 40`), so keep-alive and revoke go straight to its group.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import trio

from eraft_trio.client.kv_client import Client, _expect, as_bytes, check_lease_id
from eraft_trio.errors import BadRequest, EraftError, single_exception
from eraft_trio.group_calls.deadline import Deadline
from eraft_trio.protocol.errors import ErrorCode
from eraft_trio.protocol.lease import (
    LeaseAlive,
    LeaseGrant,
    LeaseGranted,
    LeaseKeepAlive,
    LeaseRevoke,
    LeaseRevoked,
)

MIN_TTL_S = 1.0
MAX_TTL_S = 7 * 24 * 3600.0
COUNTER_BITS = 40  # a lease id is bucket << 40 | counter (roles/shard/lease_tables.py)


@dataclass(frozen=True, slots=True)
class Grant:
    """A granted lease: its id (give it to put(..., lease=id)), its TTL and the revision of
    the grant."""

    id: int
    ttl: float  # seconds
    revision: int


@dataclass(frozen=True, slots=True)
class Revoked:
    revision: int  # the revoke's
    deleted: int  # keys it deleted


@dataclass
class KeptLease:
    """A lease kept alive in the background by `Client.lease`. `lost` is set once the
    lease may be gone: a keep-alive found it gone, or `deadline` passed.

    `deadline` (trio's clock) is when the group expires the lease at the earliest, as
    far as this client can know: the send time of the last keep-alive that succeeded
    (or of the grant) plus the TTL; the group stamps the keep-alive after it was sent, so
    its own deadline is no earlier.
    """

    id: int
    ttl: float
    deadline: float = math.inf
    lost: trio.Event = field(default_factory=trio.Event)
    _on_lost: list[trio.CancelScope] = field(default_factory=list)

    def remaining(self) -> float:
        """Seconds the lease is surely still alive (0 once lost): how long a holder may
        still act under it (docs/reference.md, "Recipes")."""
        if self.lost.is_set():
            return 0.0
        return max(0.0, self.deadline - trio.current_time())

    def mark_lost(self) -> None:
        """Set `lost` and cancel every scope given to cancel_on_loss."""
        self.lost.set()
        for scope in self._on_lost:
            scope.cancel()

    def cancel_on_loss(self, scope: trio.CancelScope) -> None:
        """Cancel `scope` when the lease is lost (at once if it is already)."""
        self._on_lost.append(scope)
        if self.lost.is_set():
            scope.cancel()


def ttl_ms_of(ttl: float) -> int:
    """A TTL in seconds as the whole milliseconds sent; BadRequest outside 1 s .. 7 days."""
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not math.isfinite(ttl):
        raise BadRequest("bad_request", f"a lease TTL is a number of seconds, not {ttl!r}")
    if not MIN_TTL_S <= ttl <= MAX_TTL_S:
        raise BadRequest(
            "bad_request", f"a lease TTL is {MIN_TTL_S:g} to {MAX_TTL_S:g} seconds, not {ttl:g}"
        )
    return int(ttl * 1000)


def lease_bucket(lease_id: int, nbuckets: int) -> int:
    """The bucket a lease id names; BadRequest(lease_not_found) if no bucket could have it."""
    bucket = check_lease_id(lease_id) >> COUNTER_BITS
    if bucket >= nbuckets:
        raise BadRequest(ErrorCode.LEASE_NOT_FOUND, f"lease {lease_id} does not exist")
    return bucket


async def grant(client: Client, ttl: float, key: str | bytes) -> Grant:
    ttl_ms = ttl_ms_of(ttl)
    k = as_bytes(key)
    client._check_size(k, None)
    reply = await client._write(k, lambda cid, seq, new: LeaseGrant(cid, seq, k, ttl_ms, new))
    granted = _expect(reply, LeaseGranted, "a lease grant")
    return Grant(granted.lease_id, granted.ttl_ms / 1000, granted.revision)


async def keep_alive(client: Client, lease_id: int) -> float:
    """Renew the lease; the TTL it has from now, in seconds."""
    deadline = Deadline(client.timeout)
    config = client.config or await client._refresh_config(deadline, -1)
    bucket = lease_bucket(lease_id, len(config["buckets"]))
    reply = await client._call_owner(b"", LeaseKeepAlive(lease_id), deadline, bucket)
    return _expect(reply, LeaseAlive, "a keep-alive").ttl_ms / 1000


async def revoke(client: Client, lease_id: int) -> Revoked:
    """End the lease now and delete its keys (one log entry)."""
    config = client.config or await client._refresh_config(Deadline(client.timeout), -1)
    bucket = lease_bucket(lease_id, len(config["buckets"]))
    reply = await client._write(
        b"", lambda cid, seq, new: LeaseRevoke(cid, seq, lease_id, new), bucket
    )
    revoked = _expect(reply, LeaseRevoked, "a revoke")
    return Revoked(revoked.revision, revoked.deleted)


@asynccontextmanager
async def kept_lease(client: Client, ttl: float, key: str | bytes) -> AsyncIterator[KeptLease]:
    """Grant a lease, keep it alive every ttl/3 while the block runs, revoke it on exit."""
    sent = trio.current_time()
    granted = await grant(client, ttl, key)
    lease = KeptLease(granted.id, granted.ttl, deadline=sent + granted.ttl)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_keep_alive_loop, client, lease)
            try:
                yield lease
            finally:
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # The block's own error reaches us wrapped by our nursery: hand it back as raised.
        raise single_exception(group) from None
    finally:
        # Also when the block was cancelled: the revoke must still reach the group
        # (bounded by the client's timeout); a lease already gone is fine.
        with trio.CancelScope(shield=True), trio.move_on_after(client.timeout):
            try:
                await revoke(client, lease.id)
            except BadRequest as exc:
                if exc.code != ErrorCode.LEASE_NOT_FOUND:
                    raise


# After a keep-alive failed (the group electing a leader, say), the next try comes this
# fraction of the TTL later: several tries fit before the deadline.
RETRY_FRACTION = 0.1


async def _keep_alive_loop(client: Client, lease: KeptLease) -> None:
    """Renew every ttl/3 after the last renewal's send; set `lost` when the lease is gone
    or its deadline passes (each try is bounded by the time left, not the client's
    timeout: an answer after the deadline cannot save the lease anyway)."""
    if lease.deadline == math.inf:  # made without one (kept_lease gives the grant's)
        lease.deadline = trio.current_time() + lease.ttl
    next_try = lease.deadline - lease.ttl + lease.ttl / 3
    while True:
        await trio.sleep_until(min(next_try, lease.deadline))
        if trio.current_time() >= lease.deadline:
            lease.mark_lost()
            return
        sent = trio.current_time()
        with trio.move_on_at(lease.deadline):
            try:
                ttl = await keep_alive(client, lease.id)
            except BadRequest as exc:
                if exc.code == ErrorCode.LEASE_NOT_FOUND:
                    lease.mark_lost()
                    return
                raise
            except EraftError:
                # The group may be electing a leader (which extends every lease): try
                # again soon, until the deadline says the lease may be gone.
                next_try = trio.current_time() + lease.ttl * RETRY_FRACTION
                continue
            lease.deadline = sent + ttl
            next_try = sent + lease.ttl / 3
