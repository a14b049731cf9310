"""The bodies of the state environment's write transactions, each checking Raft's invariants."""

from __future__ import annotations

from typing import Any

import lmdb

from eraft_trio.raft.types import SnapshotMeta

from . import meta_table
from .errors import InvalidBatchError, SnapshotError
from .lmdb_view import LmdbTableView
from .log_write import ApplyFunction
from .sub_dbs import SubDbs


def install_snapshot_in_txn(txn: lmdb.Transaction[bytes], dbs: SubDbs, meta: SnapshotMeta) -> None:
    applied = meta_table.get_applied(txn, dbs.meta)
    if meta.index < applied.index:
        raise InvalidBatchError(
            f"snapshot at {meta.index} is behind the applied index {applied.index}; "
            "installing it would undo applied entries"
        )
    staged = meta_table.get_staging(txn, dbs.meta)
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
    meta_table.delete_staging(txn, dbs.meta)
    meta_table.put_applied(txn, dbs.meta, meta)


def apply_in_txn(
    txn: lmdb.Transaction[bytes],
    dbs: SubDbs,
    apply: ApplyFunction | None,
    target: SnapshotMeta,
) -> list[Any]:
    applied = meta_table.get_applied(txn, dbs.meta)
    if target.index < applied.index or (apply is not None and target.index == applied.index):
        raise InvalidBatchError(
            f"applied index {target.index} does not advance past the stored {applied.index}"
        )
    result: list[Any] = []
    if apply is not None:
        result = apply(LmdbTableView(txn, dbs.sm, writable=True))
    meta_table.put_applied(txn, dbs.meta, target)
    return result
