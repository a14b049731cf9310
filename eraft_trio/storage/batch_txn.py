"""The bodies of the store's write transactions, each checking Raft's invariants.

The log environment takes `write_log_in_txn`; the state environment takes
`install_snapshot_in_txn` and `apply_in_txn`.
"""

from __future__ import annotations

from typing import Any

import lmdb

from eraft_trio.raft.types import SnapshotMeta

from . import log_table, meta_table
from .errors import InvalidBatchError, SnapshotError
from .lmdb_view import LmdbTableView
from .sub_dbs import LogDbs, SubDbs
from .write_batch import ApplyFunction, LogWrite


def write_log_in_txn(
    txn: lmdb.Transaction[bytes], dbs: LogDbs, write: LogWrite, durable_applied: int
) -> None:
    """`durable_applied`: the state's applied index as of a flush, which bounds compaction."""
    if write.reset_to is not None:
        txn.drop(dbs.log, delete=False)
        meta_table.put_snapshot(txn, dbs.meta, write.reset_to)
    if write.entries:
        _store_entries(txn, dbs, write)
    if write.hard_state is not None:
        meta_table.put_hard_state(txn, dbs.meta, write.hard_state)
    if write.compact_to is not None:
        _compact(txn, dbs, write.compact_to, durable_applied)


def _store_entries(txn: lmdb.Transaction[bytes], dbs: LogDbs, write: LogWrite) -> None:
    first = write.entries[0].index
    base = meta_table.get_snapshot(txn, dbs.meta)
    stored_last = log_table.last_index(txn, dbs.log)
    last = base.index if stored_last is None else stored_last
    if first > last + 1:
        raise InvalidBatchError(
            f"entries start at {first}, leaving a gap after the last entry {last}"
        )
    if first <= base.index:
        # Compacted entries are applied, so committed; Raft never replaces them (§5.3).
        raise InvalidBatchError(
            f"entries start at {first}, replacing compacted entries (up to {base.index})"
        )
    log_table.delete_from(txn, dbs.log, first)
    log_table.append(txn, dbs.log, write.entries)


def _compact(
    txn: lmdb.Transaction[bytes], dbs: LogDbs, compact_to: SnapshotMeta, durable_applied: int
) -> None:
    base = meta_table.get_snapshot(txn, dbs.meta)
    if compact_to.index <= base.index:
        return  # already compacted that far
    if compact_to.index > durable_applied:
        raise InvalidBatchError(
            f"cannot compact to {compact_to.index}: only {durable_applied} is durably "
            "applied, and the state must hold every compacted entry"
        )
    stored_term = log_table.term_at(txn, dbs.log, compact_to.index)
    if stored_term != compact_to.term:
        raise InvalidBatchError(
            f"compaction term {compact_to.term} differs from the term {stored_term} "
            f"of entry {compact_to.index}"
        )
    log_table.delete_through(txn, dbs.log, compact_to.index)
    meta_table.put_snapshot(txn, dbs.meta, compact_to)


def install_snapshot_in_txn(txn: lmdb.Transaction[bytes], dbs: SubDbs, meta: SnapshotMeta) -> None:
    applied = meta_table.get_applied(txn, dbs.meta)
    if meta.index < applied.index:
        raise InvalidBatchError(
            f"snapshot at {meta.index} is behind the applied index {applied.index}; "
            "installing it would undo applied entries"
        )
    staged = meta_table.get_staging(txn, dbs.meta)
    if staged is None or staged.meta != meta:
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
    meta_table.put_snapshot(txn, dbs.meta, meta)
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
