"""Reads and writes the small records of the `meta` sub-db: positions, staging, identity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lmdb
import msgpack

from eraft_trio.raft.membership import Membership
from eraft_trio.raft.types import SnapshotMeta

# 4: the shard role's kv rows carry each key's version and mod revision (roles/shard/tables.py).
# 3: the log and hard state in a write-ahead log (data_dir/raft-wal), the tables here.
# Formats 1 and 2 were development builds of 0.1.0 (the log in LMDB). Older formats are
# refused, not converted (0.x: a node starts empty and catches up from its group).
FORMAT_VERSION = 4

FORMAT_KEY = b"format"
IDENTITY_KEY = b"identity"
APPLIED_KEY = b"applied"  # index and term of the last entry applied to `sm`
STAGING_KEY = b"staging"  # which snapshot the `staging` sub-db is receiving
STAGING_GENERATION_KEY = b"staging_generation"  # never reset, so stale stagers stay stale

Identity = dict[str, str | int]


@dataclass(frozen=True, slots=True)
class StagingMarker:
    """The snapshot being staged, and the generation of the stager that owns the area."""

    meta: SnapshotMeta
    generation: int


def _get(txn: lmdb.Transaction[bytes], db: Any, key: bytes) -> Any:
    raw = txn.get(key, db=db)
    return None if raw is None else msgpack.unpackb(raw, raw=False)


def _put(txn: lmdb.Transaction[bytes], db: Any, key: bytes, value: Any) -> None:
    txn.put(key, msgpack.packb(value, use_bin_type=True), db=db)


def get_format(txn: lmdb.Transaction[bytes], db: Any) -> int | None:
    value = _get(txn, db, FORMAT_KEY)
    return None if value is None else int(value)


def put_format(txn: lmdb.Transaction[bytes], db: Any) -> None:
    _put(txn, db, FORMAT_KEY, FORMAT_VERSION)


def get_identity(txn: lmdb.Transaction[bytes], db: Any) -> Identity | None:
    value = _get(txn, db, IDENTITY_KEY)
    return None if value is None else dict(value)


def put_identity(txn: lmdb.Transaction[bytes], db: Any, identity: Identity) -> None:
    _put(txn, db, IDENTITY_KEY, dict(identity))


def _get_position(txn: lmdb.Transaction[bytes], db: Any, key: bytes) -> SnapshotMeta:
    value = _get(txn, db, key)
    if value is None:
        return SnapshotMeta()
    # [index, term] or [index, term, membership]: written before memberships changed,
    # or while the group's is still the one it was started with (nil).
    index, term, *rest = value
    encoded = rest[0] if rest else None
    membership = None if encoded is None else Membership.decode(encoded)
    return SnapshotMeta(index=index, term=term, membership=membership)


def _put_position(
    txn: lmdb.Transaction[bytes], db: Any, key: bytes, position: SnapshotMeta
) -> None:
    membership = position.membership
    encoded = None if membership is None else membership.encode()
    _put(txn, db, key, [position.index, position.term, encoded])


def get_applied(txn: lmdb.Transaction[bytes], db: Any) -> SnapshotMeta:
    """The applied position: (index, term) of the last applied entry and the group's
    membership there, which a snapshot of the tables carries to whoever installs it."""
    return _get_position(txn, db, APPLIED_KEY)


def put_applied(txn: lmdb.Transaction[bytes], db: Any, applied: SnapshotMeta) -> None:
    _put_position(txn, db, APPLIED_KEY, applied)


def get_staging(txn: lmdb.Transaction[bytes], db: Any) -> StagingMarker | None:
    value = _get(txn, db, STAGING_KEY)
    if value is None:
        return None
    index, term, generation = value
    return StagingMarker(SnapshotMeta(index=index, term=term), generation)


def put_staging(txn: lmdb.Transaction[bytes], db: Any, marker: StagingMarker) -> None:
    _put(txn, db, STAGING_KEY, [marker.meta.index, marker.meta.term, marker.generation])


def delete_staging(txn: lmdb.Transaction[bytes], db: Any) -> None:
    txn.delete(STAGING_KEY, db=db)


def next_staging_generation(txn: lmdb.Transaction[bytes], db: Any) -> int:
    generation = int(_get(txn, db, STAGING_GENERATION_KEY) or 0) + 1
    _put(txn, db, STAGING_GENERATION_KEY, generation)
    return generation
