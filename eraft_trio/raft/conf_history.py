"""The memberships a node's log defines: its snapshot's, then one per CONF_CHANGE entry.

A membership is in force from the moment its entry is in the log (docs/divergence.md,
"Membership"), so the node's current membership is that of the last CONF_CHANGE entry
in its log, or its snapshot's when there is none. When a follower's uncommitted tail is
replaced, the memberships it carried go with it, and the node falls back to the one
before, as the thesis requires (§4.1). The records are few (one per change still in the
log), so keeping them checked against the log costs nothing worth measuring.
"""

from __future__ import annotations

from collections.abc import Iterable

from eraft_trio.raft.log import RaftLog
from eraft_trio.raft.membership import Membership
from eraft_trio.raft.types import Entry, EntryKind


class ConfHistory:
    def __init__(self, bootstrap: Membership, base: Membership | None) -> None:
        # What the group was started with (RaftConfig.peers), for as long as no snapshot
        # or entry says otherwise.
        self._bootstrap = bootstrap
        # The membership at the snapshot's index; None: still the bootstrap one.
        self._base = base
        self._records: list[tuple[int, int, Membership]] = []  # (index, term, membership)

    def current(self) -> Membership:
        if self._records:
            return self._records[-1][2]
        return self._base or self._bootstrap

    def at(self, index: int) -> Membership | None:
        """The membership at `index` (not before the snapshot), None while the bootstrap one."""
        found = self._base
        for record_index, _, membership in self._records:
            if record_index > index:
                break
            found = membership
        return found

    def in_force_at(self, index: int) -> Membership:
        """As `at`, with the bootstrap membership for None."""
        return self.at(index) or self._bootstrap

    @property
    def last_index(self) -> int:
        """The index of the last CONF_CHANGE entry in the log; 0 if none is."""
        return self._records[-1][0] if self._records else 0

    def appended(self, log: RaftLog, entries: Iterable[Entry]) -> None:
        """`entries` were offered to the log (some may have replaced its tail)."""
        self._records = [r for r in self._records if log.term(r[0]) == r[1]]
        known = {r[0] for r in self._records}
        added = False
        for entry in entries:
            if (
                entry.kind is EntryKind.CONF_CHANGE
                and entry.index not in known
                and log.term(entry.index) == entry.term
            ):
                self._records.append((entry.index, entry.term, Membership.decode(entry.data)))
                added = True
        if added:
            self._records.sort(key=lambda r: r[0])

    def compacted(self, index: int) -> Membership | None:
        """The log forgot entries up to `index`: fold their memberships into the base."""
        self._base = self.at(index)
        self._records = [r for r in self._records if r[0] > index]
        return self._base

    def restored(self, base: Membership | None) -> None:
        """The log was replaced by a snapshot whose membership is `base`."""
        self._base = base
        self._records = []
