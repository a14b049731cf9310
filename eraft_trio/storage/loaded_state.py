"""What a restarting node reads back from its store."""

from __future__ import annotations

from dataclasses import dataclass, field

from eraft_trio.raft.types import Entry, HardState, SnapshotMeta


@dataclass(frozen=True, slots=True)
class LoadedState:
    """The persisted Raft state plus the position the state-machine tables are at.

    `entries` are the stored entries after `snapshot.index`; `applied`/`applied_term`
    describe the tables, so a restart resumes applying from `applied + 1` without replay.
    """

    hard_state: HardState = field(default_factory=HardState)
    snapshot: SnapshotMeta = field(default_factory=SnapshotMeta)
    entries: list[Entry] = field(default_factory=list)
    applied: int = 0
    applied_term: int = 0
