"""What one durable write of the driver holds: the persist and apply duties of a Ready."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eraft_trio.raft.types import Entry, HardState, SnapshotMeta

from .errors import InvalidBatchError
from .view import TableView

ApplyFunction = Callable[[TableView], list[Any]]


@dataclass(frozen=True, slots=True)
class LogWrite:
    """One transaction of the log environment, in field order.

    - `reset_to`: a snapshot was installed at this position: drop every entry;
    - `entries`: replace stored entries from `entries[0].index` on;
    - `hard_state`: store it;
    - `compact_to`: drop entries up to this position, which must be durably applied.
    """

    reset_to: SnapshotMeta | None = None
    entries: Sequence[Entry] = field(default_factory=tuple)
    hard_state: HardState | None = None
    compact_to: SnapshotMeta | None = None

    def __post_init__(self) -> None:
        _check_consecutive(self.entries)

    @property
    def empty(self) -> bool:
        return not (self.reset_to or self.entries or self.hard_state or self.compact_to)


@dataclass(frozen=True, slots=True)
class WriteBatch:
    """A Ready's persist and apply duties, written in field order (NodeStore.write_batch):
    first the state environment's install, then the log environment's part in one
    transaction, then the apply in one transaction of the state environment.

    - `install_snapshot`: replace the state machine with the staged snapshot of this
      position and reset the log to start after it;
    - `entries`: replace stored entries from `entries[0].index` on;
    - `hard_state`: store it;
    - `apply`: run against the tables, recording `applied_index`/`applied_term` (which
      may also be given alone, e.g. after applying only no-ops); its result is returned.
      It may run more than once (a retry after the map grew), so it must be a function
      of the tables only;
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
        _check_consecutive(self.entries)

    def log_write(self) -> LogWrite:
        return LogWrite(self.install_snapshot, self.entries, self.hard_state, self.compact_to)


def _check_consecutive(entries: Sequence[Entry]) -> None:
    for before, after in zip(entries, entries[1:], strict=False):
        if after.index != before.index + 1:
            raise InvalidBatchError(
                f"entries must have consecutive indexes: {after.index} follows {before.index}"
            )
