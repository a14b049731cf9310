"""Client writes (put, delete, and their compare-and-set forms): applied only in a serving
bucket, exactly once per client seq, each stamping the key with its version and revision."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from eraft_trio.roles.shard import conditions, replies, tables
from eraft_trio.roles.shard.buckets import BucketState
from eraft_trio.roles.shard.commands import Delete, Put
from eraft_trio.roles.shard.limits import key_refusal
from eraft_trio.roles.shard.serving import served_bucket
from eraft_trio.roles.shard.sessions import GoAhead, check_session, second_of, store_reply
from eraft_trio.storage.view import TableView


def apply_write(view: TableView, index: int, command: Put | Delete) -> dict[str, Any]:
    """Apply a put or delete at log index `index`, or repeat the reply to a retry; refuse if
    the bucket is not served.

    A put stores the key's next version and the revision of the write
    (tables.revision_for: the log index, or past the bucket's last revision) as its mod
    revision and answers
    {"ok": True, "revision": r, "version": v}; a delete answers {"ok": True,
    "revision": r, "deleted": bool}. A conditional one (`condition`) also says
    "succeeded": True, or when its comparison fails writes nothing and answers
    {"ok": True, "succeeded": False, "value", "version", "mod_revision"} with the key as
    it was compared (value None and 0, 0 when absent). The reply is the session's, so a
    retry of a failed comparison gets the same answer, not a second comparison.

    Sessions are kept per (bucket, client id), so they move with the bucket: a retry that
    reaches the new owner after a migration finds the seq there and is not applied twice.
    A client id has at most one write outstanding, so a seq below the stored one is an old
    retry whose caller has long moved on: it gets a plain ok and changes nothing.

    Sessions expire (sessions.py). A client marks a write that may be its session's
    first in the bucket (`new_session`); a write without that mark that finds no
    session is a retry whose session expired since its first try: it may have applied
    then, so it is refused (session_expired) rather than applied a second time.
    """
    # The node that took the request refused long keys already; this check is for the
    # log itself (entries written by older nodes, or by anything else that proposes).
    refusal = key_refusal(command.key)
    if refusal is not None:
        return refusal
    now_s = second_of(tables.advance_now(view, command.stamp_ms))
    served = served_bucket(view, command.key)
    if isinstance(served, dict):
        return served
    bucket, state = served
    check = check_session(view, bucket, command, "the write")
    if not isinstance(check, GoAhead):
        return check
    reply = _write(view, index, bucket, state, command)
    store_reply(view, bucket, command, reply, now_s, check)
    return reply


def _write(
    view: TableView, index: int, bucket: int, state: BucketState, command: Put | Delete
) -> dict[str, Any]:
    """Compare (if asked), write, count the bucket's keys; the reply."""
    condition = command.condition
    if condition is None:
        version = tables.get_version(view, bucket, command.key)  # the value is not copied
    else:
        current = tables.get_entry(view, bucket, command.key)
        if not conditions.holds(condition, current):
            return _compare_failed(current)
        version = 0 if current is None else current.version
    keys = state.keys
    revision = tables.revision_for(view, bucket, index)
    # Reply dicts written out rather than through replies.ok: this is every put's path.
    reply: dict[str, Any]
    if isinstance(command, Put):
        tables.put_entry(view, bucket, command.key, command.value, version + 1, revision)
        keys += version == 0
        reply = {"ok": True, "revision": revision, "version": version + 1}
    else:
        if version:
            tables.delete_entry(view, bucket, command.key, revision)
            keys -= 1
        reply = {"ok": True, "revision": revision, "deleted": version > 0}
    if keys != state.keys:
        tables.store_bucket_state(view, bucket, replace(state, keys=keys))
    if condition is not None:
        reply["succeeded"] = True
    return reply


# The key write of a put or delete once its session and bucket are checked (a put with a
# lease, leases.py, attaches the key after it).
write_key = _write


def _compare_failed(current: tables.Entry | None) -> dict[str, Any]:
    """The answer of a conditional write whose comparison failed: the key as compared."""
    if current is None:
        return replies.ok(succeeded=False, value=None, version=0, mod_revision=0)
    return replies.ok(
        succeeded=False,
        value=current.value,
        version=current.version,
        mod_revision=current.mod_revision,
    )
