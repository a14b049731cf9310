"""From a group's membership and a list of changes, the membership after them (pure).

The rules of etcd-io/raft's `confchange` package, restated:
- A change that alters at most one voter is *simple*: it takes the group straight to the
  new membership, since any majority of the old voters and any majority of the new ones
  then overlap (thesis §4.1).
- Anything larger goes through a *joint* membership (thesis §4.3): the old voters become
  `outgoing`, the changes apply to the incoming ones, and both majorities must agree
  until the group leaves the joint config (with `auto_leave`, the leader proposes that
  itself once the joint entry commits).
- Refused, with a MembershipError naming the reason: a change while joint (leave first),
  a node named twice in one change (a learner and a voter at once, say), removing the
  last voter, removing a node that is not a member, a change that changes nothing, and a
  simple change of more than one voter.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, replace

from eraft_trio.raft.membership import Membership, MembershipError


class ChangeKind(enum.Enum):
    ADD_VOTER = "v"  # a new voter, or a learner promoted
    ADD_LEARNER = "l"  # a new learner, or a voter demoted
    REMOVE = "r"


@dataclass(frozen=True, slots=True)
class ConfChange:
    kind: ChangeKind
    node: int

    @classmethod
    def parse(cls, text: str) -> ConfChange:
        """`v4` (add voter 4), `l5` (add learner 5), `r2` (remove 2)."""
        try:
            return cls(ChangeKind(text[:1]), int(text[1:]))
        except ValueError as error:
            raise MembershipError(
                f"bad change {text!r}: expected v<node>, l<node> or r<node>"
            ) from error

    def describe(self) -> str:
        return f"{self.kind.value}{self.node}"


def change_membership(
    current: Membership, changes: Sequence[ConfChange], *, joint: bool | None = None
) -> Membership:
    """The membership after `changes`; no changes on a joint membership leaves it.

    `joint`: None picks a simple change when it is safe and an auto-leaving joint one
    otherwise; True forces a joint change (auto-leaving); False forces a simple one.
    """
    if current.joint:
        if changes:
            raise MembershipError(
                "a membership change is joint already: leave it before changing again"
            )
        return leave_joint(current)
    if not changes:
        raise MembershipError("no changes given (and the membership is not joint)")
    named = [c.node for c in changes]
    twice = sorted({n for n in named if named.count(n) > 1})
    if twice:
        raise MembershipError(f"nodes {twice} named more than once in one change")
    if joint is None:
        joint = _voters_changed(current, changes) > 1
    new = enter_joint(current, changes, auto_leave=True) if joint else simple(current, changes)
    if replace(new, outgoing=frozenset(), auto_leave=False) == current:
        raise MembershipError("the change leaves the membership as it is")
    return new


def simple(current: Membership, changes: Sequence[ConfChange]) -> Membership:
    if current.joint:
        raise MembershipError("a simple change cannot be made while joint")
    if _voters_changed(current, changes) > 1:
        raise MembershipError(
            "more than one voter changed: such a change must go through a joint config"
        )
    new = _apply(current, changes)
    new.check()
    return new


def enter_joint(
    current: Membership, changes: Sequence[ConfChange], *, auto_leave: bool
) -> Membership:
    if current.joint:
        raise MembershipError("already joint: leave the joint config first")
    if not current.voters:
        raise MembershipError("cannot make a membership without voters joint")
    staged = replace(current, outgoing=current.voters)
    new = replace(_apply(staged, changes), auto_leave=auto_leave)
    new.check()
    return new


def leave_joint(current: Membership) -> Membership:
    if not current.joint:
        raise MembershipError("not joint: there is nothing to leave")
    new = Membership(
        voters=current.voters,
        learners=current.learners | current.learners_next,
        addresses=current.addresses,
    )
    new = new.with_addresses(new.address_map())  # the outgoing voters' go with them
    new.check()
    return new


def _voters_changed(current: Membership, changes: Sequence[ConfChange]) -> int:
    after = _apply(current, changes)
    return len(after.voters ^ current.voters)


def _apply(m: Membership, changes: Sequence[ConfChange]) -> Membership:
    voters, learners, learners_next = set(m.voters), set(m.learners), set(m.learners_next)
    for change in changes:
        node = change.node
        match change.kind:
            case ChangeKind.ADD_VOTER:
                voters.add(node)
                learners.discard(node)
                learners_next.discard(node)
            case ChangeKind.ADD_LEARNER:
                voters.discard(node)
                if node in m.outgoing:
                    # Still a voter of the outgoing half until the joint config is left.
                    learners_next.add(node)
                else:
                    learners.add(node)
            case ChangeKind.REMOVE:
                if node not in m.members:
                    raise MembershipError(f"node {node} is not a member")
                voters.discard(node)
                learners.discard(node)
                learners_next.discard(node)
    if not voters:
        raise MembershipError("the change would remove every voter")
    return replace(
        m,
        voters=frozenset(voters),
        learners=frozenset(learners),
        learners_next=frozenset(learners_next),
    )
