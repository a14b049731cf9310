"""Leases: grant, keep-alive, revoke, put with a lease, expiry and a new leader's promotion.

A lease lives in one bucket (its id says which: lease_tables.py) and ends with every key
attached to it. Time is the group's clock (sessions.py): every lease entry carries the
leader's stamp, the deadline is that clock + the TTL, and expiry is an entry the leader
proposes when the earliest deadline has passed (ExpireLeases, a bounded batch), so every
replica deletes the same keys at the same log index. A new leader first proposes
PromoteLeases (deadline = max(deadline, now + ttl), as etcd's promote), so a lease is
never lost to the time the group spent electing a leader it could not keep it alive with.

Grant, revoke and put-with-lease are exactly once per (bucket, client id, seq), as puts
are (writes.py): the reply is the session's, and a retry gets it again. Keep-alive needs
no session: applying it twice only pushes the deadline as far as once does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from eraft_trio.protocol.errors import ErrorCode
from eraft_trio.roles.shard import lease_tables, replies, tables
from eraft_trio.roles.shard.buckets import Phase
from eraft_trio.roles.shard.commands import Put
from eraft_trio.roles.shard.lease_commands import (
    ExpireLeases,
    GrantLease,
    KeepAliveLease,
    LeasePut,
    PromoteLeases,
    RevokeLease,
)
from eraft_trio.roles.shard.lease_tables import Lease
from eraft_trio.roles.shard.limits import key_refusal
from eraft_trio.roles.shard.serving import served_bucket
from eraft_trio.roles.shard.sessions import GoAhead, check_session, second_of, store_reply
from eraft_trio.roles.shard.writes import write_key
from eraft_trio.storage.view import TableView

MIN_TTL_MS = 1000
MAX_TTL_MS = 7 * 24 * 3600 * 1000  # a week: longer is a key without a lease
MAX_KEYS_PER_LEASE = 1000  # bounds what one expiry or revoke entry deletes
EXPIRE_LEASES_BATCH = 100  # leases one ExpireLeases entry looks at, at most
EXPIRE_KEYS_BATCH = 1000  # an entry stops after the lease that takes it past this many keys
EMPTY_LEASE_KEY = "a key put with a lease must not be empty"


def ttl_problem(ttl_ms: int) -> str | None:
    if not MIN_TTL_MS <= ttl_ms <= MAX_TTL_MS:
        return f"a lease's TTL is {MIN_TTL_MS // 1000} s to {MAX_TTL_MS // 1000} s, not {ttl_ms} ms"
    return None


def lease_key_refusal(key: bytes) -> dict[str, Any] | None:
    """The refusal of a key no lease may hold: an empty one (an entry of a release that
    took it must still apply alike everywhere: refused, not written) or one too long."""
    if not key:
        return replies.invalid(ErrorCode.BAD_REQUEST, EMPTY_LEASE_KEY)
    return key_refusal(key)


def apply_grant(view: TableView, index: int, command: GrantLease) -> dict[str, Any]:
    """A new lease in the bucket of `command.key`: {"ok", "lease", "ttl_ms", "revision"}."""
    now = tables.advance_now(view, command.stamp_ms)
    problem = ttl_problem(command.ttl_ms)
    if problem is not None:
        return replies.invalid(ErrorCode.BAD_REQUEST, problem)
    served = served_bucket(view, command.key)
    if isinstance(served, dict):
        return served
    bucket = served.bucket
    if bucket > lease_tables.MAX_LEASE_BUCKET:  # its id would not fit 64 bits
        return replies.invalid(
            ErrorCode.BAD_REQUEST,
            f"leases live in buckets 0 .. {lease_tables.MAX_LEASE_BUCKET}, not {bucket}",
        )

    def grant() -> dict[str, Any]:
        lease_id = lease_tables.new_lease_id(view, bucket)
        if lease_id is None:
            return replies.invalid(replies.LEASE_FULL, f"bucket {bucket} granted 2**40 leases")
        lease_tables.store(view, lease_id, Lease(command.ttl_ms, now + command.ttl_ms), None)
        return replies.ok(lease=lease_id, ttl_ms=command.ttl_ms, revision=index)

    return _exactly_once(view, bucket, command, now, grant)


def apply_keep_alive(view: TableView, command: KeepAliveLease) -> dict[str, Any]:
    """Push a live lease's deadline to now + TTL: {"ok", "lease", "ttl_ms"} (what is left)."""
    now = tables.advance_now(view, command.stamp_ms)
    bucket = _lease_bucket(view, command.lease_id)
    if isinstance(bucket, dict):
        return bucket
    lease = _live(view, command.lease_id, now)
    if isinstance(lease, dict):
        return lease
    lease_tables.store(
        view, command.lease_id, replace(lease, deadline_ms=now + lease.ttl_ms), lease
    )
    return replies.ok(lease=command.lease_id, ttl_ms=lease.ttl_ms)


def apply_revoke(view: TableView, index: int, command: RevokeLease) -> dict[str, Any]:
    """End the lease and delete its keys in this entry: {"ok", "revision", "deleted": n}."""
    now = tables.advance_now(view, command.stamp_ms)
    bucket = _lease_bucket(view, command.lease_id)
    if isinstance(bucket, dict):
        return bucket

    def revoke() -> dict[str, Any]:
        lease = lease_tables.load(view, command.lease_id)
        if lease is None:
            return _not_found(command.lease_id)
        # Even one already due: its keys go now rather than at the next expiry.
        deleted = _end(view, bucket, command.lease_id, lease, index)
        return replies.ok(revision=tables.revision_for(view, bucket, index), deleted=deleted)

    return _exactly_once(view, bucket, command, now, revoke)


def apply_lease_put(view: TableView, index: int, command: LeasePut) -> dict[str, Any]:
    """A put (or compare-and-set) that attaches the key to a live lease of its bucket; the
    reply is the put's (writes.py)."""
    refusal = lease_key_refusal(command.key)
    if refusal is not None:
        return refusal
    now = tables.advance_now(view, command.stamp_ms)
    served = served_bucket(view, command.key)
    if isinstance(served, dict):
        return served
    bucket = served.bucket
    if lease_tables.lease_bucket(command.lease_id) != bucket:
        return replies.invalid(
            replies.LEASE_BUCKET,
            f"lease {command.lease_id} is in bucket "
            f"{lease_tables.lease_bucket(command.lease_id)}, key {command.key!r} in bucket "
            f"{bucket}: grant the lease with key= a key of the same bucket (a hash tag "
            "puts related keys in one bucket)",
        )

    def put() -> dict[str, Any]:
        lease = _live(view, command.lease_id, now)
        if isinstance(lease, dict):
            return lease
        row_is_new = not lease_tables.has_key_row(view, command.lease_id, command.key)
        if row_is_new and lease.keys >= MAX_KEYS_PER_LEASE:
            return replies.invalid(
                replies.LEASE_FULL,
                f"lease {command.lease_id} has {MAX_KEYS_PER_LEASE} keys, the most one may have",
            )
        state = tables.bucket_state(view, bucket)
        write = Put(
            command.client_id,
            command.seq,
            command.key,
            command.value,
            command.stamp_ms,
            command.new_session,
            command.condition,
        )
        reply = write_key(view, index, bucket, state, write)
        if reply.get("succeeded") is False:
            return reply  # nothing written, nothing attached
        # After the put (whose tables.put_entry detached the key from any lease): the key
        # stays attached until another write of it.
        lease_tables.attach(view, command.lease_id, command.key)
        if row_is_new:
            lease_tables.store(view, command.lease_id, replace(lease, keys=lease.keys + 1), lease)
        return reply

    return _exactly_once(view, bucket, command, now, put)


def apply_expire(view: TableView, index: int, command: ExpireLeases) -> dict[str, Any]:
    """End the leases due by the entry's clock, a bounded batch: {"ok", "expired": n,
    "deleted": keys, "more": bool}. A lease met in the index whose effective deadline is
    later (promoted, or in a bucket still being pulled) gets that deadline written instead."""
    now = tables.advance_now(view, command.now_ms)
    due = list(lease_tables.due(view, now, EXPIRE_LEASES_BATCH + 1))
    expired = deleted = looked = 0
    for _, lease_id in due[:EXPIRE_LEASES_BATCH]:
        looked += 1
        lease = lease_tables.load(view, lease_id)
        if lease is None:
            continue  # cannot happen: the index is kept in step with the headers
        bucket = lease_tables.lease_bucket(lease_id)
        deadline = lease_tables.effective_deadline(view, lease_id, lease)
        if tables.bucket_state(view, bucket).phase == Phase.PULLING:
            # Not served yet, so not kept alive either: it starts its TTL once served.
            deadline = max(deadline, now + lease.ttl_ms)
        if deadline > now:
            lease_tables.store(view, lease_id, replace(lease, deadline_ms=deadline), lease)
            continue
        expired += 1
        deleted += _end(view, bucket, lease_id, lease, index)
        if deleted >= EXPIRE_KEYS_BATCH:
            break
    if expired:
        lease_tables.record_expiry(view, index, expired, deleted)
    return replies.ok(expired=expired, deleted=deleted, more=len(due) > looked)


def apply_promote(view: TableView, command: PromoteLeases) -> dict[str, Any]:
    """Extend every lease to at least the group's clock + its TTL: {"ok", "promoted_ms"}."""
    now = tables.advance_now(view, command.now_ms)
    lease_tables.promote(view, now)
    return replies.ok(promoted_ms=now)


def clock(view: TableView) -> dict[str, Any]:
    """What the leader polls: the group's clock, the earliest stored deadline (None: no
    lease) and when leases were last promoted."""
    return {
        "now_ms": tables.group_now_ms(view),
        "next_deadline_ms": lease_tables.next_deadline(view),
        "promoted_ms": lease_tables.promoted_ms(view),
    }


# --- helpers ---------------------------------------------------------------------------------


def _end(view: TableView, bucket: int, lease_id: int, lease: Lease, index: int) -> int:
    """Delete the lease and the keys still attached to it (those whose holder row names
    it) in log entry `index`; how many keys went. Every key goes through
    tables.delete_entry, at the entry's revision in the bucket (watches see them)."""
    deleted = 0
    revision = tables.revision_for(view, bucket, index)
    for key in lease_tables.remove(view, lease_id, lease):
        if lease_tables.holder(view, bucket, key) != lease_id:
            continue  # written since without this lease: detached
        if tables.get_entry(view, bucket, key) is None:
            lease_tables.detach(view, bucket, key)  # cannot happen: deletes detach
            continue
        tables.delete_entry(view, bucket, key, revision)
        deleted += 1
    if deleted:
        state = tables.bucket_state(view, bucket)
        tables.store_bucket_state(view, bucket, replace(state, keys=state.keys - deleted))
    return deleted


def _lease_bucket(view: TableView, lease_id: int) -> int | dict[str, Any]:
    """The bucket a lease id names if this group serves it; else lease_not_found (an id no
    bucket could have) or wrong_group."""
    config = tables.current_config(view)
    bucket = lease_tables.lease_bucket(lease_id)
    if config.buckets and (bucket >= len(config.buckets) or not lease_tables.is_lease_id(lease_id)):
        return _not_found(lease_id)
    if not config.buckets or tables.bucket_state(view, bucket).phase != Phase.SERVING:
        return replies.refusal(replies.WRONG_GROUP, config.num)
    return bucket


def _live(view: TableView, lease_id: int, now: int) -> Lease | dict[str, Any]:
    """The lease if it exists and is not due by `now`; else lease_not_found."""
    lease = lease_tables.load(view, lease_id)
    if lease is None or lease_tables.effective_deadline(view, lease_id, lease) <= now:
        return _not_found(lease_id)
    return lease


def _not_found(lease_id: int) -> dict[str, Any]:
    return replies.invalid(
        replies.LEASE_NOT_FOUND, f"lease {lease_id} does not exist (expired or revoked)"
    )


def _exactly_once(
    view: TableView,
    bucket: int,
    command: GrantLease | RevokeLease | LeasePut,
    now_ms: int,
    act: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    """`act()`'s reply, stored as the session's; a retry gets the stored reply (writes.py's
    rules: a lower seq a plain ok, an unmarked write without a session session_expired)."""
    check = check_session(view, bucket, command, "the request")
    if not isinstance(check, GoAhead):
        return check
    reply = act()
    store_reply(view, bucket, command, reply, second_of(now_ms), check)
    return reply
