"""The state environment (data_dir itself): its sub-databases, the small records of `meta`,
and the bodies of its write transactions, each checking Raft's invariants.

Sub-databases: `meta` (identity, format, applied position, staging marker), `sm` (every
state-machine table) and `staging` (a snapshot being received). The Raft log is not
here: it is in the write-ahead log (wal.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lmdb
import msgpack

from eraft_trio.raft.membership import Membership
from eraft_trio.raft.types import SnapshotMeta

from .errors import InvalidBatchError, SnapshotError
from .lmdb_view import LmdbTableView
from .log_write import ApplyFunction

META_DB = b"meta"  # small records: see the functions below
# Stores made by 0.1.0's development builds also hold an empty `log` sub-db, once the log.
OLD_LOG_DB = b"log"
SM_DB = b"sm"  # table + NUL + key -> value: every state-machine table
STAGING_DB = b"staging"  # rows of a snapshot being received, same layout as `sm`

ALL_DB_NAMES = (META_DB, OLD_LOG_DB, SM_DB, STAGING_DB)


@dataclass(frozen=True, slots=True)
class SubDbs:
    meta: Any
    sm: Any
    staging: Any


def open_sub_dbs(env: lmdb.Environment) -> SubDbs:
    """Open (creating on first use) every sub-database; handles stay valid until env.close()."""
    return SubDbs(
        meta=env.open_db(META_DB),
        sm=env.open_db(SM_DB),
        staging=env.open_db(STAGING_DB),
    )


# --- the records of `meta` ----------------------------------------------------------

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


# --- the bodies of the write transactions -------------------------------------------


def install_snapshot_in_txn(txn: lmdb.Transaction[bytes], dbs: SubDbs, meta: SnapshotMeta) -> None:
    applied = get_applied(txn, dbs.meta)
    if meta.index < applied.index:
        raise InvalidBatchError(
            f"snapshot at {meta.index} is behind the applied index {applied.index}; "
            "installing it would undo applied entries"
        )
    staged = get_staging(txn, dbs.meta)
    # The marker keeps the position only; the membership travels in `meta`.
    if staged is None or (staged.meta.index, staged.meta.term) != (meta.index, meta.term):
        raise SnapshotError(
            f"no complete staging of snapshot (index {meta.index}, term {meta.term}) to install; "
            f"staging holds {staged.meta if staged else 'nothing'}"
        )
    txn.drop(dbs.sm, delete=False)
    cursor = txn.cursor(db=dbs.staging)
    for key, value in cursor:  # staging is sorted and sm now empty: append in order
        txn.put(key, value, db=dbs.sm, append=True)
    txn.drop(dbs.staging, delete=False)
    delete_staging(txn, dbs.meta)
    put_applied(txn, dbs.meta, meta)


def apply_in_txn(
    txn: lmdb.Transaction[bytes],
    dbs: SubDbs,
    apply: ApplyFunction | None,
    target: SnapshotMeta,
) -> list[Any]:
    applied = get_applied(txn, dbs.meta)
    if target.index < applied.index or (apply is not None and target.index == applied.index):
        raise InvalidBatchError(
            f"applied index {target.index} does not advance past the stored {applied.index}"
        )
    result: list[Any] = []
    if apply is not None:
        result = apply(LmdbTableView(txn, dbs.sm, writable=True))
    put_applied(txn, dbs.meta, target)
    return result
