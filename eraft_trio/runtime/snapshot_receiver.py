"""SnapshotReceiver: stages one snapshot transfer at a time, chunk by chunk, verified.

A transfer is named by (term, leader, the leader's transfer counter). Its chunks are
taken only in order; the first chunk of a newer transfer replaces the current one, and
any refusal of a current transfer's chunk ends that transfer (its sender gives up on a
refusal, so nothing would ever continue it) and discards what it staged. A complete
transfer is one whose last chunk arrived in order and whose totals match the staging.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from eraft_trio.protocol.errors import ErrorCode
from eraft_trio.protocol.node import SnapshotChunk
from eraft_trio.runtime.executors import Executor
from eraft_trio.storage.errors import SnapshotError
from eraft_trio.storage.node_store import NodeStore
from eraft_trio.storage.snapshot import SnapshotStager

# Refusals (protocol/errors.py says what each means).
STALE = ErrorCode.STALE
UNKNOWN_TRANSFER = ErrorCode.UNKNOWN_TRANSFER
OUT_OF_ORDER = ErrorCode.OUT_OF_ORDER
CORRUPT = ErrorCode.CORRUPT
MISMATCH = ErrorCode.MISMATCH


class TransferId(NamedTuple):
    term: int
    src: int
    number: int

    @classmethod
    def of(cls, chunk: SnapshotChunk) -> TransferId:
        return cls(chunk.term, chunk.src, chunk.transfer)

    def is_older_than(self, other: TransferId) -> bool:
        # Only one leader per term, so counters compare only within a term and leader.
        if self.term != other.term:
            return self.term < other.term
        return self.src == other.src and self.number < other.number


@dataclass
class _Transfer:
    id: TransferId
    stager: SnapshotStager
    next_seq: int = 0

    def agrees_with(self, chunk: SnapshotChunk) -> bool:
        stager = self.stager
        return (stager.meta, stager.rows_staged, stager.checksum) == (
            chunk.meta,
            chunk.rows,
            chunk.checksum,
        )


class SnapshotReceiver:
    """Not safe for concurrent calls: its caller takes chunks one at a time."""

    def __init__(self, store: NodeStore, executor: Executor) -> None:
        self._store = store
        self._executor = executor  # where staging runs (off the trio thread, in production)
        self._current: _Transfer | None = None

    async def receive(self, chunk: SnapshotChunk) -> ErrorCode | None:
        """Stage `chunk`; None when it was taken (for a `done` chunk: the transfer is
        complete and its snapshot staged), otherwise why it was refused."""
        transfer = self._current
        if transfer is None or transfer.id != TransferId.of(chunk):
            if chunk.seq != 0:
                return UNKNOWN_TRANSFER
            if transfer is not None and TransferId.of(chunk).is_older_than(transfer.id):
                return STALE
            transfer = await self._begin(chunk)
        elif chunk.seq != transfer.next_seq:
            return await self._end(transfer, OUT_OF_ORDER)
        try:
            if chunk.data:
                await self._executor.run(transfer.stager.add_chunk, chunk.data)
        except SnapshotError:
            return await self._end(transfer, CORRUPT)
        if not transfer.agrees_with(chunk):
            return await self._end(transfer, MISMATCH)
        transfer.next_seq += 1
        if chunk.done:
            self._current = None  # staged in full: installing it is the core's business
        return None

    async def _begin(self, chunk: SnapshotChunk) -> _Transfer:
        stager = await self._executor.run(self._store.begin_staging, chunk.meta)
        self._current = _Transfer(TransferId.of(chunk), stager)
        return self._current

    async def _end(self, transfer: _Transfer, refusal: ErrorCode) -> ErrorCode:
        """Abandon the current transfer and discard its staging; returns `refusal`."""
        self._current = None
        await self._executor.run(transfer.stager.discard)
        return refusal
