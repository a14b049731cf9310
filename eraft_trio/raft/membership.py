"""Who belongs to a group: voters, learners, and the outgoing voters while a change is joint.

As etcd-io/raft's `ConfState`, with its invariants (see `Membership.check`). A membership
travels in the log as the data of a CONF_CHANGE entry and in a snapshot's meta; both
carry the whole resulting membership, not the changes, so a node learns it from one
entry (or one snapshot) alone. The encoding is a line of ASCII (`encode`): the core
stays free of codecs, and a conf change is rare and small.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from eraft_trio.raft.quorum import JointConfig


class MembershipError(ValueError):
    """A membership or a change of it that Raft cannot work with (reason in the message)."""


@dataclass(frozen=True, slots=True)
class Membership:
    """The members of a group at one point of its log.

    - `voters`: the (incoming) voters; any majority of them decides.
    - `outgoing`: while joint, the voters before the change; a majority of them must
      agree too. Empty outside a joint config.
    - `learners`: receive the log and snapshots but neither vote nor count for commit.
    - `learners_next`: voters being demoted to learners by a joint change: still voters
      of `outgoing`, they become learners when the joint config is left (a node cannot
      be a voter and a learner at once).
    - `auto_leave`: the leader leaves the joint config by itself once it commits.
    - `addresses`: (node, "host:port") pairs the driver attaches so that every member,
      a node that joined later included, can reach the others. The core carries them
      with the membership, keeps only those of members, and never reads them.
    """

    voters: frozenset[int]
    learners: frozenset[int] = frozenset()
    outgoing: frozenset[int] = frozenset()
    learners_next: frozenset[int] = frozenset()
    auto_leave: bool = False
    addresses: tuple[tuple[int, str], ...] = ()

    @classmethod
    def of(cls, voters: Iterable[int], learners: Iterable[int] = ()) -> Membership:
        return cls(frozenset(voters), frozenset(learners))

    @property
    def joint(self) -> bool:
        return bool(self.outgoing)

    @property
    def all_voters(self) -> frozenset[int]:
        """Every node whose vote counts, in either half."""
        return self.voters | self.outgoing

    @property
    def members(self) -> frozenset[int]:
        """Every node the leader replicates to: voters of both halves and learners."""
        return self.voters | self.outgoing | self.learners | self.learners_next

    def address_map(self) -> dict[int, str]:
        return dict(self.addresses)

    def with_addresses(self, addresses: dict[int, str]) -> Membership:
        """The same membership with the addresses of its members among `addresses`."""
        kept = tuple(sorted((n, a) for n, a in addresses.items() if n in self.members))
        return replace(self, addresses=kept)

    def quorum(self) -> JointConfig:
        return JointConfig.of(self.voters, self.outgoing)

    def check(self) -> None:
        """Raise MembershipError unless the invariants of a membership hold."""
        if not self.voters:
            raise MembershipError("no voters left: a group needs at least one")
        both = self.learners & self.all_voters
        if both:
            raise MembershipError(f"nodes {sorted(both)} are both voters and learners")
        if not self.learners_next <= self.outgoing:
            raise MembershipError("learners_next must be outgoing voters")
        if self.learners_next & self.voters:
            raise MembershipError("learners_next must not be incoming voters")
        if not self.joint and (self.learners_next or self.auto_leave):
            raise MembershipError("learners_next and auto_leave only exist in a joint config")

    def describe(self) -> str:
        """One line, e.g. `voters=(1 2 3)&&(1 2) learners=(4)`, as etcd prints a ConfState."""

        def ids(nodes: frozenset[int]) -> str:
            return "(" + " ".join(str(n) for n in sorted(nodes)) + ")"

        text = "voters=" + ids(self.voters)
        if self.joint:
            text += "&&" + ids(self.outgoing)
        if self.learners:
            text += " learners=" + ids(self.learners)
        if self.learners_next:
            text += " learners_next=" + ids(self.learners_next)
        if self.auto_leave:
            text += " autoleave"
        return text

    # --- as the data of a CONF_CHANGE entry ---------------------------------------------------

    def encode(self) -> bytes:
        """`voters=1,2,3 learners=4 outgoing= learners_next= auto_leave=0`, ASCII, then
        ` addresses=1@h:p,2@h:p` when there are any (an address holds no space or comma)."""

        def ids(nodes: frozenset[int]) -> str:
            return ",".join(str(n) for n in sorted(nodes))

        text = (
            f"voters={ids(self.voters)} learners={ids(self.learners)}"
            f" outgoing={ids(self.outgoing)} learners_next={ids(self.learners_next)}"
            f" auto_leave={int(self.auto_leave)}"
        )
        if self.addresses:
            text += " addresses=" + ",".join(f"{n}@{a}" for n, a in self.addresses)
        return text.encode()

    @classmethod
    def decode(cls, data: bytes) -> Membership:
        try:
            fields = dict(word.split("=", 1) for word in data.decode("ascii").split())

            def ids(name: str) -> frozenset[int]:
                text = fields[name]
                return frozenset(int(n) for n in text.split(",")) if text else frozenset()

            membership = cls(
                voters=ids("voters"),
                learners=ids("learners"),
                outgoing=ids("outgoing"),
                learners_next=ids("learners_next"),
                auto_leave=fields["auto_leave"] == "1",
                addresses=_addresses(fields.get("addresses", "")),
            )
        except (ValueError, KeyError) as error:
            raise MembershipError(f"not an encoded membership: {data[:80]!r}") from error
        membership.check()
        return membership


def _addresses(text: str) -> tuple[tuple[int, str], ...]:
    pairs = []
    for item in text.split(",") if text else []:
        node, address = item.split("@", 1)
        if not address:
            raise ValueError(f"empty address for node {node}")
        pairs.append((int(node), address))
    return tuple(sorted(pairs))
