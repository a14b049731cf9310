"""A simulated node's durable state: exactly what survives a crash."""

from __future__ import annotations

from dataclasses import dataclass, field

from eraft_trio.raft.membership import Membership
from eraft_trio.raft.types import Entry, EntryKind, HardState, SnapshotMeta


@dataclass(frozen=True, slots=True)
class AppliedEntry:
    term: int
    kind: EntryKind
    data: bytes


@dataclass(slots=True)
class MachineImage:
    """The simulated state machine: every entry applied so far, in index order.

    A real state machine keeps only the result; the simulator keeps the whole history
    (`history[i - 1]` is the entry applied at index i) so checkers can compare replicas,
    and so a snapshot is simply a copy of it.
    """

    history: list[AppliedEntry] = field(default_factory=list)
    # The membership of the last CONF_CHANGE entry applied (None: the group's first one),
    # recorded with every snapshot of this state, as a real state machine would.
    membership: Membership | None = None

    @property
    def applied_index(self) -> int:
        return len(self.history)

    @property
    def applied_term(self) -> int:
        return self.history[-1].term if self.history else 0

    def copy(self) -> MachineImage:
        return MachineImage(list(self.history), self.membership)

    def apply(self, entry: Entry) -> None:
        self.history.append(AppliedEntry(entry.term, entry.kind, entry.data))
        if entry.kind is EntryKind.CONF_CHANGE:
            self.membership = Membership.decode(entry.data)

    def commands(self) -> list[bytes]:
        return [e.data for e in self.history if e.kind is EntryKind.NORMAL]


@dataclass(slots=True)
class NodeDisk:
    """Hard state, snapshot meta, the log after the snapshot, and the state machine."""

    hard_state: HardState = field(default_factory=HardState)
    snapshot: SnapshotMeta = field(default_factory=SnapshotMeta)
    log: list[Entry] = field(default_factory=list)  # log[k].index == snapshot.index + 1 + k
    machine: MachineImage = field(default_factory=MachineImage)

    @property
    def last_index(self) -> int:
        return self.snapshot.index + len(self.log)

    def entry(self, index: int) -> Entry | None:
        offset = index - self.snapshot.index - 1
        if 0 <= offset < len(self.log):
            return self.log[offset]
        return None

    def term_at(self, index: int) -> int | None:
        """Term of the entry at `index` as this disk knows it (log, snapshot or history)."""
        if index == 0:
            return 0
        if index == self.snapshot.index:
            return self.snapshot.term
        if index > self.snapshot.index:
            found = self.entry(index)
            return found.term if found is not None else None
        if index <= self.machine.applied_index:
            return self.machine.history[index - 1].term
        return None

    def covers(self, index: int, term: int) -> bool:
        """Whether this disk durably holds the entry (index, term), possibly in a snapshot."""
        if index <= self.snapshot.index:
            return self.term_at(index) == term
        found = self.entry(index)
        return found is not None and found.term == term

    def install_snapshot(self, meta: SnapshotMeta, image: MachineImage) -> None:
        """Replace the state machine and start the log afresh after `meta` (§7)."""
        self.snapshot = meta
        self.machine = image.copy()
        self.log = []

    def write_entries(self, entries: list[Entry]) -> list[Entry]:
        """Store `entries`, replacing the stored suffix from entries[0].index; return what was cut."""
        if not entries:
            return []
        keep = entries[0].index - self.snapshot.index - 1
        removed = self.log[keep:]
        del self.log[keep:]
        self.log.extend(entries)
        return removed

    def compact(self) -> None:
        """Take a snapshot at the applied index and drop the log up to it."""
        index = self.machine.applied_index
        if index <= self.snapshot.index:
            return
        drop = index - self.snapshot.index
        self.snapshot = SnapshotMeta(index, self.machine.applied_term, self.machine.membership)
        del self.log[:drop]

    def log_size(self) -> int:
        """Entries plus data bytes held in the log (what compaction bounds)."""
        return sum(len(e.data) for e in self.log) + len(self.log)
