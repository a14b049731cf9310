"""Carries out a WriteBatch inside one LMDB write transaction, checking Raft's invariants."""

from __future__ import annotations

from typing import Any

import lmdb

from eraft_trio.raft.types import SnapshotMeta

from . import log_table, meta_table
from .errors import InvalidBatchError, SnapshotError
from .lmdb_view import LmdbTableView
from .sub_dbs import SubDbs
from .write_batch import WriteBatch


def write_batch_in_txn(txn: lmdb.Transaction[bytes], dbs: SubDbs, batch: WriteBatch) -> list[Any]:
    if batch.install_snapshot is not None:
        _install_snapshot(txn, dbs, batch.install_snapshot)
    if batch.entries:
        _store_entries(txn, dbs, batch)
    if batch.hard_state is not None:
        meta_table.put_hard_state(txn, dbs.meta, batch.hard_state)
    result: list[Any] = []
    if batch.applied_index is not None:
        result = _apply(txn, dbs, batch)
    if batch.compact_to is not None:
        _compact(txn, dbs, batch.compact_to)
    return result


def _install_snapshot(txn: lmdb.Transaction[bytes], dbs: SubDbs, meta: SnapshotMeta) -> None:
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
    txn.drop(dbs.log, delete=False)
    meta_table.put_snapshot(txn, dbs.meta, meta)
    meta_table.put_applied(txn, dbs.meta, meta)


def _store_entries(txn: lmdb.Transaction[bytes], dbs: SubDbs, batch: WriteBatch) -> None:
    first = batch.entries[0].index
    snapshot = meta_table.get_snapshot(txn, dbs.meta)
    applied = meta_table.get_applied(txn, dbs.meta)
    stored_last = log_table.last_index(txn, dbs.log)
    last = snapshot.index if stored_last is None else stored_last
    if first > last + 1:
        raise InvalidBatchError(
            f"entries start at {first}, leaving a gap after the last entry {last}"
        )
    if first <= applied.index:
        # Applied entries are committed; Raft never replaces them (Log Matching, §5.3).
        raise InvalidBatchError(
            f"entries start at {first}, replacing applied entries (applied index {applied.index})"
        )
    log_table.delete_from(txn, dbs.log, first)
    log_table.append(txn, dbs.log, batch.entries)


def _apply(txn: lmdb.Transaction[bytes], dbs: SubDbs, batch: WriteBatch) -> list[Any]:
    assert batch.applied_index is not None
    target = SnapshotMeta(index=batch.applied_index, term=batch.applied_term)
    applied = meta_table.get_applied(txn, dbs.meta)
    if target.index < applied.index or (batch.apply is not None and target.index == applied.index):
        raise InvalidBatchError(
            f"applied index {target.index} does not advance past the stored {applied.index}"
        )
    stored_term = _term_at(txn, dbs, target.index)
    if stored_term is None:
        raise InvalidBatchError(f"applied index {target.index} is not in the stored log")
    if stored_term != target.term:
        raise InvalidBatchError(
            f"applied term {target.term} differs from the term {stored_term} of entry {target.index}"
        )
    result: list[Any] = []
    if batch.apply is not None:
        result = batch.apply(LmdbTableView(txn, dbs.sm, writable=True))
    meta_table.put_applied(txn, dbs.meta, target)
    return result


def _compact(txn: lmdb.Transaction[bytes], dbs: SubDbs, compact_to: SnapshotMeta) -> None:
    snapshot = meta_table.get_snapshot(txn, dbs.meta)
    if compact_to.index <= snapshot.index:
        return  # already compacted that far
    applied = meta_table.get_applied(txn, dbs.meta)
    if compact_to.index > applied.index:
        raise InvalidBatchError(
            f"cannot compact to {compact_to.index}: only {applied.index} is applied, and the "
            "snapshot must hold every compacted entry"
        )
    stored_term = log_table.term_at(txn, dbs.log, compact_to.index)
    if stored_term != compact_to.term:
        raise InvalidBatchError(
            f"compaction term {compact_to.term} differs from the term {stored_term} "
            f"of entry {compact_to.index}"
        )
    log_table.delete_through(txn, dbs.log, compact_to.index)
    meta_table.put_snapshot(txn, dbs.meta, compact_to)


def _term_at(txn: lmdb.Transaction[bytes], dbs: SubDbs, index: int) -> int | None:
    snapshot = meta_table.get_snapshot(txn, dbs.meta)
    if index == snapshot.index:
        return snapshot.term
    if index < snapshot.index:
        return None
    return log_table.term_at(txn, dbs.log, index)
