"""What one durable write of the log holds (LogWrite), and the shape of an apply."""

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


def _check_consecutive(entries: Sequence[Entry]) -> None:
    for before, after in zip(entries, entries[1:], strict=False):
        if after.index != before.index + 1:
            raise InvalidBatchError(
                f"entries must have consecutive indexes: {after.index} follows {before.index}"
            )
