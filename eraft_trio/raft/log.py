"""The in-memory Raft log of one node: entries after the last snapshot, plus its cursors.

The whole uncompacted tail lives in memory (the driver compacts it by entries and by
data bytes, see `compaction_point`), so the core never reads storage. Cursors, always ordered
`snapshot.index <= applied <= commit` and `applied <= stable <= last_index`:
- `stable`: the last entry known durable on this node's disk;
- `commit`: the last entry known committed (§5.3);
- `applied`: the last entry handed to the driver to apply (and acknowledged).
"""

from __future__ import annotations

from collections.abc import Sequence

from eraft_trio.raft.membership import Membership
from eraft_trio.raft.types import Entry, SnapshotMeta

# What an entry costs on the wire besides its data (term, index, kind and the headers of
# the AppendEntries columns): counted in `slice`, so that a batch of many tiny entries stays
# within the byte limit the receiving node's frame limit is derived from.
ENTRY_OVERHEAD_BYTES = 24


class LogInvariantError(AssertionError):
    """The log was asked to do something Raft's safety argument forbids."""


class RaftLog:
    __slots__ = (
        "snapshot",
        "entries",
        "data_bytes",
        "stable",
        "commit",
        "applied",
        "pending_snapshot",
    )

    def __init__(
        self, snapshot: SnapshotMeta, entries: Sequence[Entry], commit: int, applied: int
    ) -> None:
        self.snapshot = snapshot
        self.entries: list[Entry] = list(entries)
        for offset, entry in enumerate(self.entries):
            if entry.index != snapshot.index + 1 + offset:
                raise LogInvariantError(f"log entries not contiguous at {entry.index}")
        # The data bytes of the entries held, so the driver can bound memory in bytes.
        self.data_bytes = sum(len(e.data) for e in self.entries)
        self.stable = self.last_index
        self.applied = max(applied, snapshot.index)
        self.commit = max(commit, self.applied)
        if self.commit > self.last_index:
            raise LogInvariantError(f"commit {self.commit} beyond last index {self.last_index}")
        # A snapshot received from the leader that the driver has not yet made durable.
        self.pending_snapshot: SnapshotMeta | None = None

    # --- positions ------------------------------------------------------------------------

    @property
    def first_index(self) -> int:
        return self.snapshot.index + 1

    @property
    def last_index(self) -> int:
        return self.snapshot.index + len(self.entries)

    @property
    def last_term(self) -> int:
        return self.entries[-1].term if self.entries else self.snapshot.term

    def term(self, index: int) -> int | None:
        """The term of the entry at `index`, or None if it was compacted or does not exist."""
        if index == self.snapshot.index:
            return self.snapshot.term
        offset = index - self.snapshot.index - 1
        if offset < 0 or offset >= len(self.entries):
            return None
        return self.entries[offset].term

    def matches(self, index: int, term: int) -> bool:
        return self.term(index) == term

    def is_up_to_date(self, last_index: int, last_term: int) -> bool:
        """Whether a candidate's log is at least as up-to-date as ours (§5.4.1)."""
        return last_term > self.last_term or (
            last_term == self.last_term and last_index >= self.last_index
        )

    # --- reading ----------------------------------------------------------------------------

    def slice(self, lo: int, hi: int, max_bytes: int) -> list[Entry]:
        """Entries lo..hi-1 (all present), at most `max_bytes` of data and per-entry
        overhead (ENTRY_OVERHEAD_BYTES), but at least one."""
        start = lo - self.snapshot.index - 1
        stop = hi - self.snapshot.index - 1
        if start < 0:
            raise LogInvariantError(f"slice from compacted index {lo}")
        out = self.entries[start:stop]
        total = 0
        for count, entry in enumerate(out):
            total += len(entry.data) + ENTRY_OVERHEAD_BYTES
            if total > max_bytes and count > 0:
                return out[:count]
        return out

    def unstable_entries(self) -> list[Entry]:
        return self.entries[self.stable - self.snapshot.index :]

    def next_committed(self, max_bytes: int) -> list[Entry]:
        """Committed entries not yet applied; only durable ones, so replay never skips."""
        hi = min(self.commit, self.stable)
        if hi <= self.applied:
            return []
        return self.slice(self.applied + 1, hi + 1, max_bytes)

    def find_conflict_by_term(self, index: int, term: int) -> int:
        """The largest index <= `index` whose term is <= `term` (fast backtracking, §5.3)."""
        index = min(index, self.last_index)
        while index > self.snapshot.index:
            entry_term = self.term(index)
            if entry_term is not None and entry_term <= term:
                return index
            index -= 1
        return index

    # --- writing ----------------------------------------------------------------------------

    def append(self, entries: Sequence[Entry]) -> None:
        """Leader's append at the end of its own log."""
        if entries and entries[0].index != self.last_index + 1:
            raise LogInvariantError(f"append at {entries[0].index}, last is {self.last_index}")
        self.entries.extend(entries)
        self.data_bytes += sum(len(e.data) for e in entries)

    def maybe_append(
        self, prev_index: int, prev_term: int, commit: int, entries: Sequence[Entry]
    ) -> int | None:
        """Follower's side of AppendEntries: the new last matching index, or None on mismatch."""
        if not self.matches(prev_index, prev_term):
            return None
        last_new = prev_index + len(entries)
        for pos, entry in enumerate(entries):
            if entry.index <= self.snapshot.index:
                continue  # compacted, hence committed, hence identical (Log Matching)
            if self.term(entry.index) != entry.term:
                if entry.index <= self.commit:
                    raise LogInvariantError(
                        f"entry {entry.index} conflicts with committed log (commit {self.commit})"
                    )
                self._truncate_and_append(entries[pos:])
                break
        self.commit_to(min(commit, last_new))
        return last_new

    def _truncate_and_append(self, entries: Sequence[Entry]) -> None:
        first = entries[0].index
        self._drop(first - self.snapshot.index - 1, len(self.entries))
        self.stable = min(self.stable, first - 1)
        self.entries.extend(entries)
        self.data_bytes += sum(len(e.data) for e in entries)

    def commit_to(self, index: int) -> bool:
        if index > self.commit:
            if index > self.last_index:
                raise LogInvariantError(f"commit {index} beyond last index {self.last_index}")
            self.commit = index
            return True
        return False

    def stable_to(self, index: int, term: int) -> None:
        # The entry may have been replaced while the driver was writing it; by Log
        # Matching, an entry with the same index and term means the same prefix.
        if index > self.stable and self.matches(index, term):
            self.stable = index

    def applied_to(self, index: int) -> None:
        self.applied = max(self.applied, index)

    def restore(self, meta: SnapshotMeta) -> None:
        """Replace the whole log with a snapshot received from the leader (§7)."""
        self.snapshot = meta
        self.entries = []
        self.data_bytes = 0
        self.stable = meta.index
        self.commit = meta.index
        self.applied = meta.index
        self.pending_snapshot = meta

    def compact(self, index: int, membership: Membership | None = None) -> None:
        """Forget entries up to `index`, which must be applied (and hence durable);
        `membership` is the group's membership at `index` (see SnapshotMeta)."""
        if index <= self.snapshot.index:
            return
        if index > self.applied:
            raise LogInvariantError(f"compact to {index} beyond applied {self.applied}")
        term = self.term(index)
        assert term is not None
        self._drop(0, index - self.snapshot.index)
        self.snapshot = SnapshotMeta(index, term, membership)

    def compaction_point(self, max_entries: int, max_bytes: int) -> int | None:
        """Where to compact so that the log holds at most about `max_entries` applied
        entries and `max_bytes` of data, keeping a tail of applied entries (a fifth of
        each bound) so a follower a little behind catches up from the log, not from a
        snapshot; None while the log is within both bounds or nothing can go."""
        applied_entries = self.applied - self.snapshot.index
        if applied_entries <= max_entries and self.data_bytes <= max_bytes:
            return None
        keep_entries, keep_bytes = max(1, max_entries // 5), max_bytes // 5
        index = max(self.applied - keep_entries, self.snapshot.index)
        tail = self.entries[index - self.snapshot.index : applied_entries]
        tail_bytes = sum(len(e.data) for e in tail)
        for entry in tail:  # a tail of large entries keeps fewer of them
            if tail_bytes <= keep_bytes:
                break
            tail_bytes -= len(entry.data)
            index = entry.index
        return index if index > self.snapshot.index else None

    def _drop(self, start: int, stop: int) -> None:
        self.data_bytes -= sum(len(e.data) for e in self.entries[start:stop])
        del self.entries[start:stop]
