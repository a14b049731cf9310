"""Answers to MemberList and MemberChange: a group's members, changed one node at a time.

Members are named by address on the wire (operators know addresses, not ids); the
leader gives a new member the next unused id and replicates its address with the
change (Membership.addresses). The rules users of `eraft ctl member` rely on
(docs/reference.md, "Membership"):
- add: a new node joins as a learner; it votes only once promoted.
- promote: refused until the learner holds everything the leader had committed when
  asked ("not_caught_up": ask again), so a promotion never makes a slow voter count.
- remove: refused when the voters left that this leader reaches now would be fewer
  than a majority of the new voters; removing the leader first hands leadership to
  the most up-to-date voter ("not_leader" names it: ask it again).
Answers are Members, MemberChanged, or an ErrorReply whose message is one line; busy
(a change is still being committed) and not_caught_up are worth asking again.
"""

from __future__ import annotations

import trio

from eraft_trio.protocol.errors import ErrorCode, ErrorReply
from eraft_trio.protocol.node import MemberChange, MemberList
from eraft_trio.protocol.replies import MemberChanged, Members
from eraft_trio.raft.confchange import ChangeKind, ConfChange
from eraft_trio.raft.membership import MembershipError
from eraft_trio.runtime.errors import NotLeaderError, ProposalDropped
from eraft_trio.runtime.raft_node import RaftNode

# How long a leader removing itself waits for another voter to take over.
HAND_OFF_SECONDS = 5.0


def member_list(node: RaftNode, request: MemberList) -> Members:
    membership = node.core.membership
    return Members(node.members(), node.leader_address, membership.joint, membership.describe())


async def member_change(node: RaftNode, request: MemberChange) -> MemberChanged | ErrorReply:
    if not node.is_leader:
        return _not_leader(node.leader_address)
    if node.core.membership_pending:
        # One change at a time (docs/divergence.md): ask again once the last one commits.
        return ErrorReply(ErrorCode.BUSY, "another membership change is being committed")
    if not node.core.committed_in_term:
        # A leader just elected changes membership once its own no-op commits (core.py).
        return ErrorReply(ErrorCode.BUSY, "the new leader has not committed its first entry yet")
    by_addr = {addr: n for n, addr in node.addresses().items()}
    member = by_addr.get(request.addr)
    try:
        match request.action:
            case "add":
                if member is not None:
                    return _refused(f"{request.addr} is a member already")
                new = node.next_member_id()
                change = ConfChange(ChangeKind.ADD_LEARNER, new)
                await node.change_membership([change], addresses={new: request.addr})
                return MemberChanged(new)
            case "promote":
                if member is None:
                    return _refused(f"{request.addr} is not a member")
                if member in node.core.membership.voters:
                    return MemberChanged(member)
                if (node.match_index(member) or 0) < node.core.commit:
                    return ErrorReply(
                        ErrorCode.NOT_CAUGHT_UP,
                        f"{request.addr} has not caught up with the log yet",
                    )
                await node.change_membership([ConfChange(ChangeKind.ADD_VOTER, member)])
                return MemberChanged(member)
            case "remove":
                if member is None:
                    return _refused(f"{request.addr} is not a member")
                refusal = _removal_refusal(node, member, request.addr)
                if refusal is not None:
                    return _refused(refusal)
                if member == node.core.id:
                    return await _hand_off(node)
                await node.change_membership([ConfChange(ChangeKind.REMOVE, member)])
                return MemberChanged(member)
            case _:
                return _refused(f"unknown member action {request.action!r}")
    except MembershipError as exc:
        return _refused(str(exc))
    except NotLeaderError as exc:
        return _not_leader(exc.leader)
    except ProposalDropped as exc:
        return ErrorReply(ErrorCode.UNKNOWN, str(exc))


def _removal_refusal(node: RaftNode, member: int, addr: str) -> str | None:
    if member not in node.core.membership.all_voters:
        return None  # a learner: the group's majorities do not change
    voters = node.core.membership.voters - {member}
    if not voters:
        return f"removing {addr} would leave the group without voters"
    live = {n for n in voters if n == node.core.id or node.link.is_connected(n)}
    needed = len(voters) // 2 + 1
    if len(live) < needed:
        return (
            f"removing {addr} would leave {len(live)} live voter(s) of {len(voters)}, "
            f"fewer than a majority ({needed}); bring members back or add some first"
        )
    return None


async def _hand_off(node: RaftNode) -> ErrorReply:
    """This leader is to be removed: make the most up-to-date voter lead first."""
    target = node.core.hand_off()
    if target is None:
        return _refused("no other voter to hand leadership to")
    node.kick()
    with trio.move_on_after(HAND_OFF_SECONDS):
        while node.core.leader in (None, node.core.id):
            await node.wait_ready_handled()
    if node.core.leader in (None, node.core.id):
        return ErrorReply(ErrorCode.UNKNOWN, "leadership did not move in time; try again")
    return _not_leader(node.leader_address)


def _not_leader(leader: str | None) -> ErrorReply:
    return ErrorReply(ErrorCode.NOT_LEADER, "not the leader", leader=leader)


def _refused(message: str) -> ErrorReply:
    return ErrorReply(ErrorCode.REFUSED, message)
