"""Config changes and bucket migration: new configs, installed chunks, drops and GC notices.

The rules are the 6.824 shardkv ones. Configs apply strictly one after another, and
only once every migration of the current config is finished, so a bucket is pulled
from the group that owned it in the config just before, which has applied that same
config, frozen the bucket (HANDOFF) and serves it from exactly that state.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from eraft_trio.roles.shard import lease_tables, replies, tables, transfer, watch_events
from eraft_trio.roles.shard.buckets import SERVING_EMPTY, BucketState, Phase
from eraft_trio.roles.shard.commands import DropBucket, GcDone, InstallChunk, NewConfig
from eraft_trio.roles.shard.placement import NO_GROUP, Placement
from eraft_trio.storage.view import TableView


def apply_new_config(view: TableView, gid: int, command: NewConfig) -> dict[str, Any]:
    """Move group `gid` to the next config, or refuse (not_ready) and change nothing."""
    current = tables.current_config(view)
    new = Placement.from_json(command.config)  # decode_command already validated it
    if new.num != current.num + 1 or tables.migrating(view):
        return replies.refusal(replies.NOT_READY, current.num)
    if current.buckets and len(new.buckets) != len(current.buckets):
        return replies.invalid(
            replies.BAD_CONFIG,
            f"config {new.num} has {len(new.buckets)} buckets, not {len(current.buckets)}",
        )
    for bucket in range(len(new.buckets)):
        was_ours = current.owner(bucket) == gid
        is_ours = new.owner(bucket) == gid
        if was_ours == is_ours:
            continue  # serving stays serving; not ours stays NONE
        state = tables.bucket_state(view, bucket)
        if is_ours:
            tables.store_bucket_state(view, bucket, _gained(current, new, bucket))
        elif new.owner(bucket) == NO_GROUP:
            # Nobody will ever pull it, and a later owner starts it empty (from gid 0).
            tables.delete_bucket_rows(view, bucket)
            tables.store_bucket_state(view, bucket, BucketState())
        else:
            tables.store_bucket_state(
                view, bucket, BucketState(Phase.HANDOFF, num=new.num, keys=state.keys)
            )
            lease_tables.unindex_bucket(view, bucket)  # frozen: the new owner expires them
    tables.advance_config(view, new)
    return replies.ok(num=new.num)


def _gained(current: Placement, new: Placement, bucket: int) -> BucketState:
    old_owner = current.owner(bucket)
    if old_owner == NO_GROUP:
        return SERVING_EMPTY  # an unassigned bucket has no data anywhere
    return BucketState(Phase.PULLING, num=new.num, from_gid=old_owner)


def apply_install_chunk(view: TableView, command: InstallChunk) -> dict[str, Any]:
    """Install a pulled chunk if it is the next one expected; a duplicate or stale one is ignored.

    Ignoring rather than refusing keeps the puller simple: after a leader change it may
    propose the same chunk twice, and only the first copy in the log takes effect.
    """
    current = tables.current_config(view)
    state = tables.bucket_state(view, command.bucket)
    expected = (
        state.phase == Phase.PULLING
        and state.num == command.config_num == current.num
        and state.cursor == command.after_key
    )
    if not expected:
        return replies.ok(applied=False, num=current.num)
    problem = transfer.chunk_problem(
        command.bucket,
        len(current.buckets),
        command.after_key,
        command.rows,
        command.sessions,
        command.leases,
        command.events,
    )
    if problem is not None:
        return replies.invalid(replies.BAD_CHUNK, problem)

    keys = state.keys
    # Rows are the old owner's records, version and mod revision included: a moved key
    # keeps both (its mod revision is then the old group's log index, tables.Entry).
    for key, record in command.rows:
        keys += tables.put_record(view, command.bucket, key, record)
    _note_revisions(view, command)
    # Sessions keep their last use from the old owner. One from an owner that predates
    # expiry has none and stays out of the age index, as it was there: this group's clock
    # may be 0 or stale, and an age taken from it would expire the session at once, so
    # that a retry of its last write would be applied twice.
    for client_id, seq, reply, used_s in command.sessions:
        session = tables.Session(seq, reply, used_s)
        previous = tables.load_session(view, command.bucket, client_id)
        tables.store_session(view, command.bucket, client_id, session, previous)
    now_ms = tables.advance_now(view, command.stamp_ms)  # this group's clock may be stale
    for row, raw in command.leases:
        lease_tables.install_row(view, row, raw, now_ms)
    if not command.done:
        cursor = transfer.next_cursor(
            command.after_key, command.rows, command.sessions, command.leases, command.events
        )
        tables.store_bucket_state(view, command.bucket, replace(state, cursor=cursor, keys=keys))
        return replies.ok(applied=True, done=False)

    _install_watch_head(view, command)
    tables.store_bucket_state(view, command.bucket, replace(SERVING_EMPTY, keys=keys))
    # Served from now: its leases get a TTL from now, as a new leader gives (the holders'
    # keep-alives were refused during the move).
    lease_tables.serve_bucket(view, command.bucket, now_ms)
    old_owner = state.from_gid
    addresses = tables.previous_config(view).addresses(old_owner)
    tables.add_gc_notice(view, tables.GcNotice(state.num, command.bucket, old_owner, addresses))
    return replies.ok(applied=True, done=True)


def _note_revisions(view: TableView, command: InstallChunk) -> None:
    """Install the chunk's watch events, and keep the bucket's last revision at least
    the largest mod revision installed (all an old owner without watch heads tells)."""
    for revision, ordinal, data in command.events:
        watch_events.install_event(
            view, watch_events.event_key(command.bucket, revision, ordinal), data
        )
    if not command.rows or command.head is not None:
        return
    largest = max(tables.decode_record(record).mod_revision for _, record in command.rows)
    current = watch_events.head(view, command.bucket) or watch_events.Head()
    if largest > current.last_revision:
        watch_events.store_head(view, command.bucket, replace(current, last_revision=largest))


def _install_watch_head(view: TableView, command: InstallChunk) -> None:
    """The bucket's watch head at its new owner, once the last chunk is in.

    The old owner's head as it is (its history came with it), except `last_index`: 0, as
    this group's log indexes say nothing about the old one's. From an old owner without
    one: the largest mod revision installed is the last revision, and the history, which
    did not come, starts compacted through it.
    """
    if command.head is not None:
        moved = watch_events.Head.decode(command.head)
        watch_events.store_head(view, command.bucket, replace(moved, last_index=0))
        return
    current = watch_events.head(view, command.bucket) or watch_events.Head()
    watch_events.store_head(
        view, command.bucket, replace(current, last_index=0, compacted=current.last_revision)
    )


def apply_drop_bucket(view: TableView, command: DropBucket) -> dict[str, Any]:
    """At the old owner: delete a handed-off bucket once its new owner has it (idempotent)."""
    current = tables.current_config(view)
    state = tables.bucket_state(view, command.bucket)
    if state.phase == Phase.HANDOFF and state.num == command.config_num:
        tables.delete_bucket_rows(view, command.bucket)
        tables.store_bucket_state(view, command.bucket, BucketState())
        return replies.ok(dropped=True)
    if command.config_num <= current.num:
        # Already dropped: a HANDOFF holds configs back, so one from an earlier (or this)
        # config that is no longer here was dropped before.
        return replies.ok(dropped=False)
    return replies.refusal(replies.NOT_READY, current.num)


def apply_gc_done(view: TableView, command: GcDone) -> dict[str, Any]:
    """At the new owner: the old owner deleted its copy, so stop telling it to."""
    removed = tables.remove_gc_notice(view, command.config_num, command.bucket)
    return replies.ok(removed=removed)
