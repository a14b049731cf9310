"""Requests served by shard groups (type ids 80-95).

Answers (replies.py): Value for a get, Written for a put or delete, or an ErrorReply
(errors.py): wrong_group (with the group's config `num`), not_leader (with the
`leader` address when known), retry, not_ready, session_expired, key_too_long,
value_too_large or bad_request.

A write's `new_session` says whether it may be the first of its client id in the key's
bucket (see roles/shard/sessions.py): True when the client has not had a write there
acknowledged lately, False otherwise; None (what a client from before sessions expired
sends, by leaving the field out) takes a missing session as new, as before.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class KvGet:
    key: bytes


@dataclass(frozen=True, slots=True)
class KvPut:
    client_id: int
    seq: int
    key: bytes
    value: bytes
    new_session: bool | None = None


@dataclass(frozen=True, slots=True)
class KvDelete:
    client_id: int
    seq: int
    key: bytes
    new_session: bool | None = None


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
