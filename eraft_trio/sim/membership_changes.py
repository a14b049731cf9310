"""The membership nemesis: what an operator does to a group over its life, at random.

At the current leader, one of: add a new, empty node as a learner; promote a learner;
remove a voter or a learner; replace a voter by a new, empty node in one joint change
(etcd's `member add` / `promote` / `remove`, and the replacement of a dead machine).
The core refuses what it must (a change while another is pending, removing the last
voter); those refusals are part of what is exercised.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Protocol

from eraft_trio.raft.confchange import ChangeKind, ConfChange
from eraft_trio.sim.node import SimNode

# New nodes per run, beyond the first ones: each costs a little time on every tick.
MAX_ADDED_NODES = 6


class MembershipTarget(Protocol):
    @property
    def nodes(self) -> Sequence[SimNode]: ...

    def leader(self) -> int | None: ...

    def add_node(self) -> int: ...

    def propose_conf_change(self, node_id: int, changes: list[ConfChange]) -> int | None: ...


def propose_membership_change(
    target: MembershipTarget, rng: random.Random
) -> tuple[str, bool] | None:
    """Propose one random change at the leader: a line for the fault log and whether the
    leader took it; None if there was nothing to propose (no leader, one pending)."""
    leader = target.leader()
    if leader is None:
        return None
    core = target.nodes[leader].live_core()
    if core.membership_pending:
        return None
    membership = core.membership
    voters, learners = sorted(membership.voters), sorted(membership.learners)
    can_add = sum(1 for n in target.nodes if n.config.join) < MAX_ADDED_NODES
    actions = ["remove"]
    if can_add:
        actions += ["add-learner", "replace"]
    if learners:
        actions.append("promote")
    action = rng.choice(actions)
    changes: list[ConfChange]
    match action:
        case "add-learner":
            changes = [ConfChange(ChangeKind.ADD_LEARNER, target.add_node())]
        case "promote":
            changes = [ConfChange(ChangeKind.ADD_VOTER, rng.choice(learners))]
        case "replace":
            old = rng.choice(voters)
            new = target.add_node()
            changes = [ConfChange(ChangeKind.REMOVE, old), ConfChange(ChangeKind.ADD_VOTER, new)]
        case _:
            changes = [ConfChange(ChangeKind.REMOVE, rng.choice(voters + learners))]
    index = target.propose_conf_change(leader, changes)
    words = " ".join(c.describe() for c in changes)
    if index is None:
        return f"membership {action} {words} at {leader}: refused", False
    return f"membership {action} {words} at {leader}: index {index}", True
