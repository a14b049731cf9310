"""Majority arithmetic in one place: which index a quorum holds, and how a vote stands.

As etcd-io/raft's `quorum` package: the core asks a quorum configuration, never counts
nodes itself. A group decides by a `JointConfig`: during a membership change by joint
consensus (thesis §4.3) both its halves, the incoming and the outgoing voters, must agree;
outside one the outgoing half is empty and the joint config behaves as its incoming
majority (see NO_LIMIT and the empty-config vote convention below).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# What an empty configuration reports as committed: larger than any index, so that a
# joint configuration with one empty half behaves as its other half (as etcd does).
NO_LIMIT = 2**63 - 1


class VoteResult(enum.Enum):
    PENDING = "pending"  # neither a quorum of yes nor of no yet
    LOST = "lost"  # a quorum can no longer say yes
    WON = "won"  # a quorum said yes


@dataclass(frozen=True, slots=True)
class MajorityConfig:
    """A set of voters, any majority of which decides (§5.2, §5.3)."""

    voters: frozenset[int]

    @classmethod
    def of(cls, voters: Iterable[int]) -> MajorityConfig:
        return cls(frozenset(voters))

    @property
    def quorum(self) -> int:
        return len(self.voters) // 2 + 1

    def committed_index(self, acked: Mapping[int, int]) -> int:
        """The largest index that a majority of voters has acknowledged.

        `acked` maps a voter to the index it has acknowledged (for the log: its match
        index); voters missing from it count as 0, others not in the config are ignored.
        """
        if not self.voters:
            return NO_LIMIT
        indexes = sorted((acked.get(v, 0) for v in self.voters), reverse=True)
        # The quorum-th largest: that many voters hold it or more.
        return indexes[self.quorum - 1]

    def vote_result(self, votes: Mapping[int, bool]) -> VoteResult:
        """How an election stands given the votes so far (True: granted).

        Voters that have not answered may still say yes; votes from nodes outside the
        config do not count.
        """
        if not self.voters:
            return VoteResult.WON  # by convention, so a joint config's empty half agrees
        granted = missing = 0
        for v in self.voters:
            vote = votes.get(v)
            if vote is None:
                missing += 1
            elif vote:
                granted += 1
        if granted >= self.quorum:
            return VoteResult.WON
        if granted + missing >= self.quorum:
            return VoteResult.PENDING
        return VoteResult.LOST


@dataclass(frozen=True, slots=True)
class JointConfig:
    """Two majorities that must both agree (thesis §4.3): while a group changes its
    voters from `outgoing` to `incoming`, neither set alone may commit or elect."""

    incoming: MajorityConfig
    outgoing: MajorityConfig = MajorityConfig(frozenset())

    @classmethod
    def of(cls, incoming: Iterable[int], outgoing: Iterable[int] = ()) -> JointConfig:
        return cls(MajorityConfig.of(incoming), MajorityConfig.of(outgoing))

    @property
    def voters(self) -> frozenset[int]:
        """Every node whose vote or acknowledgement counts, in either half."""
        return self.incoming.voters | self.outgoing.voters

    def committed_index(self, acked: Mapping[int, int]) -> int:
        """The largest index both halves hold: the smaller of their committed indexes."""
        return min(self.incoming.committed_index(acked), self.outgoing.committed_index(acked))

    def vote_result(self, votes: Mapping[int, bool]) -> VoteResult:
        """Won when both halves won, lost when either lost, pending otherwise."""
        first = self.incoming.vote_result(votes)
        second = self.outgoing.vote_result(votes)
        if first is second:
            return first
        if VoteResult.LOST in (first, second):
            return VoteResult.LOST
        return VoteResult.PENDING
