"""Requests served by shard groups, as registered wire types (codec ids 80-95).

Replies are plain dicts: {"ok": True}, {"value": bytes | None}, or an error
{"err": code, ...} where code is "wrong_group" (with the group's config "num"),
"not_leader" (with the "leader" address when known), "retry", "not_ready",
"session_expired" (with a "message") or "bad_request".

A write's `new_session` says whether it may be the first of its client id in the key's
bucket (see roles/shard/sessions.py): True when the client has not had a write there
acknowledged lately, False otherwise; None (what a client from before sessions expired
sends, by leaving the field out) takes a missing session as new, as before.

A write with `if_version` (0: the key must be absent) or `if_value` is a compare-and-set
(roles/shard/conditions.py): at most one of them; its answer says "succeeded", and when
false holds the key as compared instead of writing. `KvGetVersioned` is a get that also
answers the key's version and mod revision (a plain `KvGet` stays as small as it was).
"""

from __future__ import annotations

from dataclasses import dataclass

from eraft_trio.transport.codec import register


@dataclass(frozen=True, slots=True)
class KvGet:
    key: bytes


@dataclass(frozen=True, slots=True)
class KvGetVersioned:
    key: bytes


@dataclass(frozen=True, slots=True)
class KvPut:
    client_id: int
    seq: int
    key: bytes
    value: bytes
    new_session: bool | None = None
    if_version: int | None = None
    if_value: bytes | None = None


@dataclass(frozen=True, slots=True)
class KvDelete:
    client_id: int
    seq: int
    key: bytes
    new_session: bool | None = None
    if_version: int | None = None
    if_value: bytes | None = None


@dataclass(frozen=True, slots=True)
class FetchBucket:
    """A group pulling `bucket` asks its old owner for rows after `after_key` (migration)."""

    config_num: int
    bucket: int
    after_key: bytes | None
    max_bytes: int


@dataclass(frozen=True, slots=True)
class DropBucket:
    """The new owner of `bucket` tells the old one it may delete its copy (GC)."""

    config_num: int
    bucket: int


register(80, KvGet)
register(81, KvPut)
register(82, KvDelete)
register(83, FetchBucket)
register(84, DropBucket)
register(85, KvGetVersioned)
