"""Lease requests served by shard groups, and their answers (type ids 144-151).

A lease lives in one bucket: LeaseGrant names a key, and the lease is created in that
key's bucket (hash tags put related keys there); its id is `bucket << 40 | counter`, so
LeaseKeepAlive and LeaseRevoke reach the bucket's group by the id alone. KvPutLeased is a
KvPut (shard.py; `if_version` / `if_value` make it a compare-and-set) that attaches the
key to a lease of the same bucket; it answers Written or CompareFailed (replies.py).
Grant, revoke and put are exactly once per (client_id, seq), as KvPut is; a keep-alive
needs no session. Refusals (errors.py): lease_not_found (never granted, revoked or
expired), lease_bucket (a put whose key is not in the lease's bucket), lease_full,
bad_request (a TTL outside 1 s .. 7 days, an id outside 64 bits, a leased put of the
empty key), stale_seq (a late copy of a grant or revoke), and every refusal a KvPut may get.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LeaseGrant:
    client_id: int
    seq: int
    key: bytes  # the lease's bucket is this key's
    ttl_ms: int
    new_session: bool | None = None


@dataclass(frozen=True, slots=True)
class LeaseKeepAlive:
    lease_id: int


@dataclass(frozen=True, slots=True)
class LeaseRevoke:
    client_id: int
    seq: int
    lease_id: int
    new_session: bool | None = None


@dataclass(frozen=True, slots=True)
class KvPutLeased:
    client_id: int
    seq: int
    key: bytes
    value: bytes
    lease_id: int
    new_session: bool | None = None
    if_version: int | None = None
    if_value: bytes | None = None


@dataclass(frozen=True, slots=True)
class LeaseGranted:
    """The answer to LeaseGrant: the new lease's id and TTL, and the grant's revision."""

    lease_id: int
    ttl_ms: int
    revision: int


@dataclass(frozen=True, slots=True)
class LeaseAlive:
    """The answer to LeaseKeepAlive: the lease lives `ttl_ms` from now on the group's clock."""

    lease_id: int
    ttl_ms: int


@dataclass(frozen=True, slots=True)
class LeaseRevoked:
    """The answer to LeaseRevoke: the revision of the revoke, and how many keys it deleted."""

    revision: int
    deleted: int
