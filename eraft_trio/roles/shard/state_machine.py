"""The shard role's replicated state machine: decode a command, apply it, answer reads."""

from __future__ import annotations

from typing import Any

from eraft_trio.roles.shard import leases, migration, queries, replies, sessions
from eraft_trio.roles.shard.commands import (
    CommandDecodeError,
    Delete,
    DropBucket,
    ExpireSessions,
    GcDone,
    InstallChunk,
    NewConfig,
    Put,
    Txn,
    decode_command,
)
from eraft_trio.roles.shard.lease_commands import (
    ExpireLeases,
    GrantLease,
    KeepAliveLease,
    LeasePut,
    PromoteLeases,
    RevokeLease,
)
from eraft_trio.roles.shard.txn import apply_txn
from eraft_trio.roles.shard.writes import apply_write
from eraft_trio.storage.view import TableView


class ShardStateMachine:
    """A `StateMachine` for shard group `gid`; every bit of state lives in the view's tables.

    Commands are `commands.encode_command` bytes. Replies (msgpack-friendly dicts):
      Put / Delete    {"ok": True, "revision": r, "version": v} (r from tables.revision_for;
                      a delete: "deleted": bool instead of "version"); a conditional one adds "succeeded": True, or
                      writes nothing and answers {"ok": True, "succeeded": False, "value",
                      "version", "mod_revision"} (the key as compared); a retry gets its
                      first reply again
                      {"err": "wrong_group", "num": N} if the key's bucket is not served
                      {"err": "key_too_long", "message": ...}
                      {"err": "session_expired", "message": ...} for a write not marked
                      new_session that finds no session (it expired since an earlier try)
      NewConfig       {"ok": True, "num": N} or {"err": "not_ready", "num": current}
                      (not the next config, or a migration unfinished) or bad_config
      InstallChunk    {"ok": True, "applied": True, "done": bool} when installed,
                      {"ok": True, "applied": False, "num": current} when stale or a duplicate,
                      {"err": "bad_chunk", "message": ...} when it does not fit the stream
      DropBucket      {"ok": True, "dropped": bool} or {"err": "not_ready", "num": current}
      GcDone          {"ok": True, "removed": bool}
      ExpireSessions  {"ok": True, "expired": n, "more": bool} (more: another batch is due)
      lease commands  leases.py (GrantLease, KeepAliveLease, RevokeLease, LeasePut,
                      ExpireLeases, PromoteLeases)
      Txn             {"ok": True, "succeeded", "revision", "results"} (txn.py), or a refusal
      undecodable     {"err": "bad_command", "message": ...}
    Reads (`read(view, query)`; a query is a tuple, or the list msgpack makes of it):
      ("get", key)         {"value": bytes or None} or wrong_group
      ("get_versioned", key)
                           {"value", "version", "mod_revision"} (None, 0, 0: absent) or
                           wrong_group
      ("scan", [(bucket, after)...], prefix, max_rows, max_bytes, keys_only)
                           a page of those buckets' rows with the prefix (scan.py):
                           {"pages": [[bucket, [[key, value, version, mod_revision]...],
                           more]...], "moved": [buckets not served here], "num": N}
      ("fetch", num, bucket, cursor, max_bytes[, with_events])
                           the old owner's chunk of a bucket it handed off at config num:
                           {"rows": [[key, record]...], "done": bool,
                           "sessions": [[client id, seq, reply, last use]...]}, about max_bytes at most; or not_ready. The cursor
                           is opaque: None first, then the one `("pulls",)` reports.
      ("watch", [[bucket, revision]...], key, is_prefix, max_events, max_bytes)
                           {"num", "buckets": [[bucket, status, next, events]...]}
                           (watch_reads.py)
      ("config",)          the current config's JSON form {"num", "buckets", "groups"}
      ("pulls",)           [{"bucket", "gid" (old owner), "num", "cursor", "addresses"}...]
      ("gcs",)             [{"bucket", "num", "gid" (old owner), "addresses"}...]: old owners
                           still to be told to drop a bucket (DropBucket there, then GcDone here)
      ("session_clock",)   {"now_ms": the group's clock, "oldest_s": the least recently
                           used session's last use in seconds, or None}
      ("lease_clock",)     {"now_ms", "next_deadline_ms" (None: no lease), "promoted_ms"}
      ("status",)          {"gid", "num", "buckets": [{"bucket", "state", "keys", "num", "gid"}...]
                           (every bucket not NONE), "gcs": pending notice count}
    Anything else: {"err": "bad_query", "message": ...}.
    """

    def __init__(self, gid: int) -> None:
        if gid <= 0:
            raise ValueError(f"a shard group id is a positive integer, not {gid}")
        self.gid = gid

    def apply(self, view: TableView, index: int, command: bytes) -> Any:
        """Apply one committed command at log index `index` (a write's revision comes
        from it: tables.revision_for)."""
        try:
            decoded = decode_command(command)
        except CommandDecodeError as error:
            return replies.invalid(replies.BAD_COMMAND, str(error))
        match decoded:
            case Put() | Delete():
                return apply_write(view, index, decoded)
            case NewConfig():
                return migration.apply_new_config(view, self.gid, decoded)
            case InstallChunk():
                return migration.apply_install_chunk(view, decoded)
            case DropBucket():
                return migration.apply_drop_bucket(view, decoded)
            case GcDone():
                return migration.apply_gc_done(view, decoded)
            case ExpireSessions():
                return sessions.apply_expire(view, decoded)
            case GrantLease():
                return leases.apply_grant(view, index, decoded)
            case KeepAliveLease():
                return leases.apply_keep_alive(view, decoded)
            case RevokeLease():
                return leases.apply_revoke(view, index, decoded)
            case LeasePut():
                return leases.apply_lease_put(view, index, decoded)
            case ExpireLeases():
                return leases.apply_expire(view, index, decoded)
            case PromoteLeases():
                return leases.apply_promote(view, decoded)
            case Txn():
                return apply_txn(view, index, decoded)
        raise AssertionError(f"decode_command returned {decoded!r}")

    def read(self, view: TableView, query: Any) -> Any:
        return queries.answer(view, self.gid, query)
