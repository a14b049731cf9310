"""A distributed lock on leases and compare-and-set (docs/reference.md, "Recipes").

The lock is the key `name`. To take it: put it with `if_absent` under a lease of ours
granted in the key's bucket; the first put that finds the key absent holds the lock. To
release: delete it `if_value` our holder value, random per acquisition (so a lock that
already went to someone else is never deleted), then revoke the lease. Not `if_version`:
a lock key deleted by its lease's expiry and taken again starts at version 1 again, the
version our own put made, so a version cannot tell two holders apart. A holder that dies stops
renewing its lease, and the lease's expiry deletes the key: the lock frees itself after
at most `ttl` seconds (plus the leader's expiry poll).

Waiters watch the key from the holder's write on (client/watch.py) and try again when
it is deleted, released or expired; the watch's history holds the delete even when it
came before the watch started. Should the watch fail (its revision compacted away), they
try again after a capped, jittered backoff.

The fencing token is the lock key's mod revision at acquisition: it grows with every
acquisition of the lock (each is a later write to the key, and a bucket's revisions only
grow, also across a move to another group), so a resource that remembers the largest
token it saw can refuse a holder that lost the lock without knowing it (a long pause
past its TTL). Compare tokens of one lock only.
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
from eraft_trio.errors import BadRequest, EraftError, LeaseLost
from eraft_trio.protocol.errors import ErrorCode

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

    The lease keeps the lock while this process lives. `held.lease.remaining()` is how long
    the lock is surely still ours. If the lease is lost (a keep-alive found it gone, or
    none succeeded within a TTL of the last one sent: the lock may be someone else's
    already), the block is cancelled and the `async with` raises LeaseLost. That is as
    early as the client can know, not a guarantee: a pause between a check and a write can
    outlast the lease, which only the fencing token lets a resource detect.
    """
    key = as_bytes(name)
    holder = b"%016x" % random.getrandbits(64)
    while True:
        async with kept_lease(client, ttl, key) as lease:
            taken = await _acquire(client, key, holder, lease)
            if taken is None:
                continue  # our lease ended while we waited: wait on under a new one
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
            return


async def _acquire(client: Client, key: bytes, holder: bytes, lease: KeptLease) -> CasResult | None:
    """Put the key if absent under our lease, waiting for its release until it is ours;
    None if the lease ended (or may have) first: a lock under it could not be trusted."""
    waits = 0
    while not lease.lost.is_set():
        try:
            taken = await client.put(key, holder, if_absent=True, lease=lease.id)
        except BadRequest as exc:
            if exc.code == ErrorCode.LEASE_NOT_FOUND:
                return None
            raise
        if taken.succeeded:
            return taken
        with trio.CancelScope() as waiting:
            lease.cancel_on_loss(waiting)  # a lock under a lost lease cannot be trusted
            await _wait_for_release(client, key, taken, waits)
        waits += 1
    return None


async def _wait_for_release(client: Client, key: bytes, refused: CasResult, waits: int) -> None:
    """Return when the lock `key` may be free again: after its holder's delete (or its
    lease's expiry, which deletes it), seen by a watch of the key from the revision after
    the one our refused put compared; if the watch fails, after a capped, jittered pause."""
    try:
        await _deleted(client, key, refused.current.mod_revision + 1)
    except EraftError:
        backoff = min(FIRST_BACKOFF_S * 2 ** min(waits, 16), MAX_BACKOFF_S)
        # Waiting for another client's write, not for a state of ours.
        await trio.sleep(backoff * (0.5 + random.random()))


async def _deleted(client: Client, key: bytes, after: int) -> None:
    """Return once `key` is deleted at revision `after` or later (at once if it was)."""
    async with client.watch(key, from_revision=after) as events:
        async for event in events:
            if event.kind == "delete":
                return
