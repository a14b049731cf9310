"""Raft's safety invariants, checked incrementally as simulated nodes persist and apply."""

from __future__ import annotations

from collections.abc import Sequence

from eraft_trio.raft.membership import Membership
from eraft_trio.raft.types import Entry, EntryKind, HardState, SnapshotMeta
from eraft_trio.sim.disk import AppliedEntry, MachineImage, NodeDisk
from eraft_trio.sim.violations import (
    APPLIED_ONCE,
    COMMITTED_NEVER_LOST,
    ELECTION_SAFETY,
    LEADER_COMPLETENESS,
    LOG_MATCHING,
    ONE_VOTE_PER_TERM,
    READY_CONTRACT,
    STATE_MACHINE_SAFETY,
    TERM_MONOTONIC,
    InvariantViolation,
)


class SafetyChecker:
    """Remembers what the whole cluster ever did and fails on the first contradiction.

    Every check costs time proportional to what changed, so it can run on every step:
    - log matching is checked entry by entry: the first (index, term) seen anywhere fixes
      that entry's data and its predecessor's term, and by induction the whole prefix;
    - "committed" means some node durably recorded a commit index covering the entry;
      the term of the node that recorded it bounds the term the entry was committed in,
      which is what leader completeness is about (§5.4.3);
    - the first node to apply an index fixes what every node must apply there.
    """

    def __init__(self, node_ids: Sequence[int], *, unique_commands: bool) -> None:
        self.node_ids = tuple(node_ids)
        # The membership of the last committed CONF_CHANGE entry: whose disks must hold
        # the newest committed entry (see check_durable).
        self.committed_membership = Membership.of(node_ids)
        self._committed_membership_index = 0
        # Memberships written to some disk after the committed one, by index: a leader
        # may be in the one after the committed membership and commit by its majority.
        self._pending_memberships: dict[tuple[int, int], Membership] = {}
        self.unique_commands = unique_commands
        self.leader_of_term: dict[int, int] = {}
        self._entry_record: dict[tuple[int, int], tuple[EntryKind, bytes, int]] = {}
        self.committed_terms: list[int] = []  # [i - 1]: term of committed entry i
        # For each term some node recorded a commit in, the highest index it recorded.
        self._committed_by_term: dict[int, int] = {}
        self.applied: list[AppliedEntry] = []  # the one true applied sequence
        self._applied_commands: set[bytes] = set()
        self._completeness_checked: set[tuple[int, int]] = set()

    @property
    def max_committed(self) -> int:
        return len(self.committed_terms)

    # --- elections -------------------------------------------------------------------------

    def check_leader(self, node_id: int, term: int) -> None:
        """Election safety (Figure 3): one leader per term, for the whole run."""
        holder = self.leader_of_term.setdefault(term, node_id)
        if holder != node_id:
            raise InvariantViolation(
                ELECTION_SAFETY, f"nodes {holder} and {node_id} both led term {term}"
            )

    def check_leader_log(self, node_id: int, term: int, disk: NodeDisk) -> None:
        """Leader completeness (§5.4.3): a new leader holds every entry committed before its term."""
        if (node_id, term) in self._completeness_checked:
            return
        self._completeness_checked.add((node_id, term))
        needed = max((i for t, i in self._committed_by_term.items() if t < term), default=0)
        if needed and not disk.covers(needed, self.committed_terms[needed - 1]):
            raise InvariantViolation(
                LEADER_COMPLETENESS,
                f"node {node_id} leads term {term} but lacks committed entry {needed} "
                f"(term {self.committed_terms[needed - 1]}); its log has term "
                f"{disk.term_at(needed)} there",
            )

    # --- persistence -----------------------------------------------------------------------

    def check_hard_state(
        self, node_id: int, old: HardState, new: HardState, disk: NodeDisk
    ) -> None:
        """Terms and votes are durable promises (§5.1, §5.2); commits record what is committed."""
        if new.term < old.term or new.commit < old.commit:
            raise InvariantViolation(TERM_MONOTONIC, f"node {node_id} persisted {new} over {old}")
        if new.term == old.term and old.vote is not None and new.vote != old.vote:
            raise InvariantViolation(
                ONE_VOTE_PER_TERM,
                f"node {node_id} voted for {old.vote} then {new.vote} in term {new.term}",
            )
        for index in range(old.commit + 1, new.commit + 1):
            self._record_commit(node_id, index, disk)
        if new.commit > old.commit:
            best = self._committed_by_term.get(new.term, 0)
            self._committed_by_term[new.term] = max(best, new.commit)

    def _record_commit(self, node_id: int, index: int, disk: NodeDisk) -> None:
        term = disk.term_at(index)
        if term is None:
            raise InvariantViolation(
                READY_CONTRACT,
                f"node {node_id} persisted commit index {index} beyond its durable log "
                f"(last index {disk.last_index}, snapshot {disk.snapshot.index})",
            )
        if index <= len(self.committed_terms):
            if self.committed_terms[index - 1] != term:
                raise InvariantViolation(
                    STATE_MACHINE_SAFETY,
                    f"node {node_id} committed index {index} at term {term}, but term "
                    f"{self.committed_terms[index - 1]} was committed there before",
                )
        elif index == len(self.committed_terms) + 1:
            self.committed_terms.append(term)
            record = self._entry_record.get((index, term))
            if record is not None and record[0] is EntryKind.CONF_CHANGE:
                self.committed_membership = Membership.decode(record[1])
                self._committed_membership_index = index
                self._pending_memberships = {
                    k: m for k, m in self._pending_memberships.items() if k[0] > index
                }
        else:
            # Commit indices grow one entry at a time on every disk, from a common 0.
            for gap in range(len(self.committed_terms) + 1, index + 1):
                self._record_commit(node_id, gap, disk)

    def check_entries(
        self, node_id: int, disk: NodeDisk, entries: list[Entry], removed: list[Entry]
    ) -> None:
        """Called after `entries` replaced `removed` on a disk."""
        first = entries[0].index
        for offset, entry in enumerate(entries):
            if entry.index != first + offset:
                raise InvariantViolation(
                    READY_CONTRACT, f"node {node_id}: Ready.entries not contiguous at {entry.index}"
                )
        for gone in removed:
            # Cutting an uncommitted suffix is how followers converge (§5.3); cutting the
            # committed entry itself is a lost write.
            index = gone.index
            if (
                index <= self.max_committed
                and self.committed_terms[index - 1] == gone.term
                and not disk.covers(index, gone.term)
            ):
                raise InvariantViolation(
                    COMMITTED_NEVER_LOST,
                    f"node {node_id} overwrote committed entry {index} (term {gone.term}) "
                    f"with term {disk.term_at(index)}",
                )
        for entry in entries:
            prev_term = disk.term_at(entry.index - 1)
            if prev_term is None:
                raise InvariantViolation(
                    READY_CONTRACT, f"node {node_id}: entry {entry.index} leaves a gap in the log"
                )
            key = (entry.index, entry.term)
            if (
                entry.kind is EntryKind.CONF_CHANGE
                and entry.index > self._committed_membership_index
            ):
                self._pending_memberships[key] = Membership.decode(entry.data)
            seen = self._entry_record.setdefault(key, (entry.kind, entry.data, prev_term))
            if seen != (entry.kind, entry.data, prev_term):
                raise InvariantViolation(
                    LOG_MATCHING,
                    f"node {node_id} stored entry {key} = {entry.data!r} after term {prev_term}; "
                    f"elsewhere it is {seen[1]!r} after term {seen[2]}",
                )

    def check_snapshot(
        self, node_id: int, disk: NodeDisk, meta: SnapshotMeta, image: MachineImage
    ) -> None:
        if image.applied_index != meta.index or image.applied_term != meta.term:
            raise InvariantViolation(
                READY_CONTRACT,
                f"node {node_id}: snapshot {meta} does not describe the staged state "
                f"({image.applied_index}, {image.applied_term})",
            )
        if meta.index < disk.machine.applied_index:
            raise InvariantViolation(
                STATE_MACHINE_SAFETY,
                f"node {node_id} would roll its state machine back from "
                f"{disk.machine.applied_index} to snapshot {meta.index}",
            )

    # --- applying --------------------------------------------------------------------------

    def check_apply(self, node_id: int, disk: NodeDisk, entry: Entry) -> None:
        machine = disk.machine
        if entry.index != machine.applied_index + 1:
            raise InvariantViolation(
                READY_CONTRACT,
                f"node {node_id} asked to apply {entry.index} after {machine.applied_index}",
            )
        if entry.index > disk.hard_state.commit:
            raise InvariantViolation(
                READY_CONTRACT,
                f"node {node_id} asked to apply {entry.index} beyond commit {disk.hard_state.commit}",
            )
        if disk.term_at(entry.index) != entry.term:
            raise InvariantViolation(
                READY_CONTRACT,
                f"node {node_id} asked to apply {entry} that is not in its durable log",
            )
        applied = AppliedEntry(entry.term, entry.kind, entry.data)
        if entry.index <= len(self.applied):
            if self.applied[entry.index - 1] != applied:
                raise InvariantViolation(
                    STATE_MACHINE_SAFETY,
                    f"node {node_id} applied {applied} at index {entry.index}; another node "
                    f"applied {self.applied[entry.index - 1]}",
                )
            return
        if self.unique_commands and entry.kind is EntryKind.NORMAL and entry.data:
            if entry.data in self._applied_commands:
                raise InvariantViolation(
                    APPLIED_ONCE, f"command {entry.data!r} applied again at index {entry.index}"
                )
            self._applied_commands.add(entry.data)
        self.applied.append(applied)

    # --- every step ------------------------------------------------------------------------

    def check_durable(self, disks: Sequence[NodeDisk]) -> None:
        """The newest committed entry sits on a majority of the voters' disks, so no crash
        can lose it. `disks[i]` is node i's.

        Whose voters: the leader that committed it was in the last committed membership
        or in the one change after it (one change at a time), so a majority of the
        (incoming) voters of one of those: the committed one, or one written to some disk
        after it. Any later leader needs a majority of one of them too, and those
        majorities overlap (a simple change moves one voter; a joint one keeps the old
        voters as its outgoing half).
        """
        index = self.max_committed
        if index == 0:
            return
        term = self.committed_terms[index - 1]
        candidates = [self.committed_membership, *self._pending_memberships.values()]
        for membership in candidates:
            voters = membership.voters
            holders = sum(1 for v in voters if v < len(disks) and disks[v].covers(index, term))
            if holders >= len(voters) // 2 + 1:
                return
        raise InvariantViolation(
            COMMITTED_NEVER_LOST,
            f"committed entry {index} (term {term}) is not durable on a majority of the "
            f"voters of {self.committed_membership.describe()} or of a membership after it",
        )
