"""Requests served by shard groups (type ids 80-95).

Answers (replies.py): Value for a get, VersionedValue for a KvGetVersioned, Written for
a put or delete, CompareFailed for a compare-and-set whose comparison failed, or an
ErrorReply (errors.py): wrong_group (with the group's config `num`), not_leader (with
the `leader` address when known), retry, not_ready, session_expired, key_too_long,
value_too_large or bad_request.

A write's `new_session` says whether it may be the first of its client id in the key's
bucket (see roles/shard/sessions.py): True when the client has not had a write there
acknowledged lately, False otherwise; None (what a client from before sessions expired
sends, by leaving the field out) takes a missing session as new, as before.

A write with `if_version` (0: the key must be absent) or `if_value` is a compare-and-set
(roles/shard/conditions.py): at most one of them; it answers Written when the comparison
held, and CompareFailed (the key as compared, nothing written) when it did not.
`KvGetVersioned` is a get that also answers the key's version and mod revision (a plain
`KvGet` stays as small as it was).
"""

from __future__ import annotations

from dataclasses import dataclass


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
    """A group pulling `bucket` asks its old owner for rows after `after_key` (migration).

    `with_events`: send the bucket's watch history and head too (what pullers do; without
    it a chunk holds rows and sessions only, and the new owner starts the bucket's history
    compacted through the largest mod revision it installed)."""

    config_num: int
    bucket: int
    after_key: bytes | None
    max_bytes: int
    with_events: bool = False


@dataclass(frozen=True, slots=True)
class DropBucket:
    """The new owner of `bucket` tells the old one it may delete its copy (GC)."""

    config_num: int
    bucket: int
