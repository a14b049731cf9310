"""Client writes (put, delete): applied only in a serving bucket, exactly once per client seq."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from eraft_trio.roles.shard import replies, tables
from eraft_trio.roles.shard.buckets import Phase, bucket_of
from eraft_trio.roles.shard.commands import Delete, Put
from eraft_trio.roles.shard.limits import key_refusal
from eraft_trio.roles.shard.sessions import second_of
from eraft_trio.storage.view import TableView


def apply_write(view: TableView, command: Put | Delete) -> dict[str, Any]:
    """Apply a put or delete, or repeat the reply to a retry; refuse if the bucket is not served.

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
    config = tables.current_config(view)
    if not config.buckets:
        return replies.refusal(replies.WRONG_GROUP, config.num)
    bucket = bucket_of(command.key, len(config.buckets))
    state = tables.bucket_state(view, bucket)
    if state.phase != Phase.SERVING:
        return replies.refusal(replies.WRONG_GROUP, config.num)

    session = tables.load_session(view, bucket, command.client_id)
    if session is not None and command.seq <= session.seq:
        return session.reply if command.seq == session.seq else replies.ok()
    if session is None and command.new_session is False:
        return replies.invalid(
            replies.SESSION_EXPIRED,
            f"the session of client {command.client_id} in bucket {bucket} expired (unused "
            "longer than the group's session_ttl_s); the write is not applied now, and an "
            "earlier try of it may or may not have been",
        )

    keys = state.keys
    if isinstance(command, Put):
        keys += tables.put_value(view, bucket, command.key, command.value)
    else:
        keys -= tables.delete_value(view, bucket, command.key)
    if keys != state.keys:
        tables.store_bucket_state(view, bucket, replace(state, keys=keys))
    reply = replies.ok()
    tables.store_session(
        view, bucket, command.client_id, tables.Session(command.seq, reply, now_s), session
    )
    return reply
