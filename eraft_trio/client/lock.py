"""A distributed lock on leases and compare-and-set (docs/reference.md, "Recipes").

The lock is the key `name`. To take it: put it with `if_absent` under a lease of ours
granted in the key's bucket; the first put that finds the key absent holds the lock. To
release: delete it `if_value` our holder value, random per acquisition (so a lock that
already went to someone else is never deleted), then revoke the lease. Not `if_version`:
a lock key deleted by its lease's expiry and taken again starts at version 1 again, the
version our own put made, so a version cannot tell two holders apart. A holder that dies stops
renewing its lease, and the lease's expiry deletes the key: the lock frees itself after
at most `ttl` seconds (plus the leader's expiry poll).

Waiters poll with a capped, jittered backoff (a watch on the key's delete would wake them
at once; that is the recipe's next step once watch is in the client).

The fencing token is the lock key's mod revision at acquisition: it grows with every
acquisition of the lock (each is a later write to the key in its group), so a resource
that remembers the largest token it saw can refuse a holder that lost the lock without
knowing it (a long pause past its TTL). Revisions are per group: compare tokens of one
lock only, and not across a move of its bucket to another group.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import trio

from eraft_trio.client.kv_client import Client, as_bytes
from eraft_trio.client.leases import KeptLease, kept_lease
from eraft_trio.client.results import CasResult
from eraft_trio.errors import LeaseLost

FIRST_BACKOFF_S = 0.02
MAX_BACKOFF_S = 0.5


@dataclass(frozen=True, slots=True)
class HeldLock:
    """A lock while it is held: its key, the fencing token, the holder's value and lease."""

    key: bytes
    fencing_token: int
    holder: bytes
    lease: KeptLease


@asynccontextmanager
async def hold(client: Client, name: str | bytes, ttl: float) -> AsyncIterator[HeldLock]:
    """Wait for the lock `name`, hold it while the block runs, release it on exit.

    The lease keeps the lock while this process lives. If it is lost (a keep-alive found
    it gone, or none succeeded within a TTL of the last one sent: the lock may be someone
    else's already), the block is cancelled and the `async with` raises LeaseLost. That
    is as early as the client can know, not a guarantee: a pause between a check and a
    write can outlast the lease, which only the fencing token lets a resource detect.
    """
    key = as_bytes(name)
    holder = b"%016x" % random.getrandbits(64)
    async with kept_lease(client, ttl, key) as lease:
        taken = await _acquire(client, key, holder, lease.id)
        assert taken.revision is not None
        try:
            with trio.CancelScope() as block:
                lease.cancel_on_loss(block)
                yield HeldLock(key, taken.revision, holder, lease)
            if block.cancelled_caught:
                raise LeaseLost(
                    f"the lease of lock {key!r} was lost while the block ran (it may be "
                    "another holder's now); the block was cancelled"
                )
        finally:
            with trio.CancelScope(shield=True), trio.move_on_after(client.timeout):
                # Only our own write of the key: never a lock taken over since.
                await client.delete(key, if_value=holder)


async def _acquire(client: Client, key: bytes, holder: bytes, lease_id: int) -> CasResult:
    """Put the key if absent under our lease, polling with backoff until it is ours."""
    backoff = FIRST_BACKOFF_S
    while True:
        taken = await client.put(key, holder, if_absent=True, lease=lease_id)
        if taken.succeeded:
            return taken
        # Waiting for the holder's delete (or its lease's expiry), not for a state of ours.
        await trio.sleep(backoff * (0.5 + random.random()))
        backoff = min(backoff * 2, MAX_BACKOFF_S)
