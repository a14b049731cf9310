"""WriteBatch: a Ready's persist and apply duties as one value, written with `write_batch`.

A convenience of the storage tests only: the driver (runtime/raft_node.py) calls
NodeStore's `install_snapshot`, `apply` and `write_log` itself, at different moments
of its pipeline. Not atomic across the environments: an exception from `apply` writes
nothing, a failed log write keeps the state written before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eraft_trio.raft.types import Entry, HardState, SnapshotMeta
from eraft_trio.storage.errors import InvalidBatchError
from eraft_trio.storage.log_write import ApplyFunction, LogWrite
from eraft_trio.storage.node_store import NodeStore


@dataclass(frozen=True, slots=True)
class WriteBatch:
    """Written in field order: first the state environment's install, then the apply in
    one transaction of the state environment, then the log environment's part in one
    transaction.

    - `install_snapshot`: replace the state machine with the staged snapshot of this
      position and reset the log to start after it;
    - `entries`: replace stored entries from `entries[0].index` on;
    - `hard_state`: store it;
    - `apply`: run against the tables, recording `applied_index`/`applied_term` (which
      may also be given alone, e.g. after applying only no-ops); its result is returned;
    - `compact_to`: drop entries up to this position, which must be applied already.
    """

    install_snapshot: SnapshotMeta | None = None
    entries: Sequence[Entry] = field(default_factory=tuple)
    hard_state: HardState | None = None
    apply: ApplyFunction | None = None
    applied_index: int | None = None
    applied_term: int = 0
    compact_to: SnapshotMeta | None = None

    def __post_init__(self) -> None:
        if self.apply is not None and self.applied_index is None:
            raise InvalidBatchError(
                "apply needs applied_index: the position it brings the tables to"
            )
        LogWrite(entries=self.entries)  # refuses entries that do not follow each other

    def log_write(self) -> LogWrite:
        return LogWrite(self.install_snapshot, self.entries, self.hard_state, self.compact_to)


def write_batch(store: NodeStore, batch: WriteBatch) -> list[Any]:
    """The batch's duties in order: install, apply, then the log part; apply's result."""
    log_write = batch.log_write()
    if batch.install_snapshot is not None:
        store.install_snapshot(batch.install_snapshot)
    result: list[Any] = []
    if batch.applied_index is not None:
        result = store.apply(batch.apply, batch.applied_index, batch.applied_term)
    if not log_write.empty:
        store.write_log(log_write)
    return result
