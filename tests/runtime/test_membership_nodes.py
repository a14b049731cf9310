"""Membership changes on real RaftNodes over real stores, linked in memory.

A fourth node joins a three-node group as a learner and catches up by snapshot, is
promoted, and an old node (then the leader) is removed, with proposals answered
throughout; each node's link follows the membership; after a restart every node
(the joined one included) comes back with the membership it had.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import trio

from eraft_trio.protocol.replies import MemberChanged
from eraft_trio.raft.confchange import ChangeKind, ConfChange
from eraft_trio.raft.config import RaftConfig
from eraft_trio.raft.membership import Membership, MembershipError
from eraft_trio.raft.types import Message
from eraft_trio.runtime.raft_node import NodeSettings, RaftNode
from eraft_trio.storage.node_store import NodeStore
from eraft_trio.storage.view import TableView

ADDRESSES = {n: f"127.0.0.1:{7000 + n}" for n in range(4)}
BOOTSTRAP = tuple(ADDRESSES[n] for n in range(3))
JOINER = 3


class Echo:
    """Stores each command under its index and answers with it."""

    def apply(self, view: TableView, index: int, command: bytes) -> Any:
        view.put("kv", b"%08d" % index, command)
        return command

    def read(self, view: TableView, query: Any) -> Any:
        return view.get("kv", query)


class MemoryLink:
    """A PeerLink to the other nodes of `network`, only to the peers it was last given
    (as GroupLink), and delivered only to a node that knows the sender (as NodeService)."""

    def __init__(self, own: int, network: dict[int, RaftNode]) -> None:
        self.own = own
        self.network = network
        self.peers: dict[int, str] = {}

    def _reachable(self, peer: int) -> RaftNode | None:
        node = self.network.get(peer)
        if peer not in self.peers or node is None or not node.knows(self.own):
            return None
        return node

    def send(self, peer: int, message: Message) -> bool:
        node = self._reachable(peer)
        if node is None:
            return False
        node.step(message)
        return True

    def is_connected(self, peer: int) -> bool:
        return self._reachable(peer) is not None

    def heard_from(self, peer: int) -> None:
        pass

    def set_peers(self, addresses: Mapping[int, str]) -> None:
        self.peers = dict(addresses)

    async def call(self, peer: int, request: Any, timeout: float) -> Any:
        node = self._reachable(peer)
        if node is None:
            raise ConnectionError(f"node {peer} is not a peer")
        return await node.receive_snapshot_chunk(request)


def settings_of(node: int) -> NodeSettings:
    options: dict[str, Any] = {"heartbeat_ticks": 2, "election_ticks_min": 10}
    options["election_ticks_max"] = 20
    if node == JOINER:
        raft = RaftConfig(id=node, peers=(), join=True, **options)
        # What a joining node learned before starting: the members' addresses and its own.
        return NodeSettings(
            raft=raft, peers=(), join_addresses=tuple(ADDRESSES.items()), snapshot_entries=5
        )
    raft = RaftConfig(id=node, peers=(0, 1, 2), **options)
    return NodeSettings(raft=raft, peers=BOOTSTRAP, snapshot_entries=5)


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    with trio.move_on_after(20):
        while not condition():
            await trio.sleep(0.005)
    assert condition(), what


class Cluster:
    def __init__(self, tmp_path: Path, nursery: trio.Nursery) -> None:
        self.tmp_path = tmp_path
        self.nursery = nursery
        self.nodes: dict[int, RaftNode] = {}
        self.stores: dict[int, NodeStore] = {}
        self.scopes: dict[int, trio.CancelScope] = {}

    async def start(self, node: int) -> RaftNode:
        identity: dict[str, str | int] = {"cluster": "t", "role": "shard", "group": 1, "node": node}
        store = NodeStore.open(self.tmp_path / f"node{node}", identity)
        self.stores[node] = store
        raft_node = RaftNode(settings_of(node), Echo(), store, MemoryLink(node, self.nodes))
        self.nodes[node] = raft_node
        self.scopes[node] = await self.nursery.start(self._run, raft_node)
        return raft_node

    async def _run(self, node: RaftNode, *, task_status: Any) -> None:
        with trio.CancelScope() as scope:
            await self.nursery.start(node.run)
            task_status.started(scope)
            await trio.sleep_forever()

    def stop_all(self) -> None:
        self.nursery.cancel_scope.cancel()

    def leader(self) -> RaftNode | None:
        leaders = [n for n in self.nodes.values() if n.is_leader]
        return leaders[0] if len(leaders) == 1 else None

    async def wait_leader(self) -> RaftNode:
        await wait_until(lambda: self.leader() is not None, "a leader")
        leader = self.leader()
        assert leader is not None
        return leader

    async def put(self, command: bytes) -> None:
        """Propose through whoever leads, retrying across leader changes."""
        with trio.fail_after(20):
            while True:
                leader = await self.wait_leader()
                try:
                    assert await leader.propose(command) == command
                    return
                except Exception:
                    await trio.sleep(0.01)

    async def change(self, *changes: ConfChange, addresses: dict[int, str] | None = None) -> None:
        """Make the change through whoever leads, retrying across leader changes; a retry
        after an unknown outcome finds it made already (a slow machine elects often)."""
        with trio.fail_after(20):
            while True:
                leader = await self.wait_leader()
                if all(made(leader.core.membership, c) for c in changes):
                    return
                try:
                    await leader.change_membership(changes, addresses=addresses)
                    return
                except MembershipError as exc:
                    # A change in progress, or a new leader before its first commit.
                    if "not committed yet" not in str(exc) and "of this term" not in str(exc):
                        raise
                except Exception:
                    pass
                await trio.sleep(0.01)


def made(membership: Membership, change: ConfChange) -> bool:
    """Whether `membership` is the outcome of `change` (and not in the middle of one)."""
    if membership.joint:
        return False
    match change.kind:
        case ChangeKind.ADD_VOTER:
            return change.node in membership.voters
        case ChangeKind.ADD_LEARNER:
            return change.node in membership.learners
        case _:
            return change.node not in membership.members


def applied(node: RaftNode) -> int:
    return int(node.statistics()["state_applied"])


async def test_a_node_joins_is_promoted_and_old_members_leave_with_puts_throughout(
    tmp_path: Path,
) -> None:
    memberships: dict[int, Membership] = {}
    async with trio.open_nursery() as nursery:
        cluster = Cluster(tmp_path, nursery)
        for node in range(3):
            await cluster.start(node)
        for n in range(12):  # past snapshot_entries: the joiner needs a snapshot
            await cluster.put(b"before %d" % n)
        joiner = await cluster.start(JOINER)
        assert joiner.addresses() == ADDRESSES  # before it is added: whoever it was told of

        await cluster.change(ConfChange(ChangeKind.ADD_LEARNER, JOINER), addresses=ADDRESSES)
        leader = await cluster.wait_leader()
        assert leader.core.membership == Membership.of([0, 1, 2], [3]).with_addresses(ADDRESSES)
        await cluster.put(b"with a learner")
        await wait_until(lambda: applied(joiner) >= applied(leader), "the learner caught up")
        assert joiner.statistics()["snapshots_installed"] >= 1
        assert joiner.core.membership.learners == {JOINER}
        assert joiner.link.peers == {0: ADDRESSES[0], 1: ADDRESSES[1], 2: ADDRESSES[2]}  # type: ignore[attr-defined]

        await cluster.change(ConfChange(ChangeKind.ADD_VOTER, JOINER))
        await cluster.put(b"four voters")
        leader = await cluster.wait_leader()
        gone = next(n for n in range(3) if cluster.nodes[n] is not leader)
        await cluster.change(ConfChange(ChangeKind.REMOVE, gone))
        await cluster.put(b"without %d" % gone)
        for node, raft_node in cluster.nodes.items():
            if node != gone:
                await wait_until(
                    lambda r=raft_node: gone not in r.core.membership.members, "removal seen"
                )
                assert gone not in raft_node.link.peers  # type: ignore[attr-defined]

        # Removing the leader: it steps down once the change commits; another leads.
        old_leader = await cluster.wait_leader()
        old_id = old_leader.core.id
        await cluster.change(ConfChange(ChangeKind.REMOVE, old_id))
        await wait_until(lambda: not old_leader.is_leader, "the removed leader stepped down")
        await cluster.put(b"without the old leader")
        leader = await cluster.wait_leader()
        assert leader.core.id not in (gone, old_id)
        assert leader.core.membership.voters == set(range(4)) - {gone, old_id}
        assert len(leader.core.membership.voters) == 2
        for n in range(10):  # compact past the changes: the snapshots carry the membership
            await cluster.put(b"after %d" % n)
        for node in set(range(4)) - {gone, old_id}:
            raft_node = cluster.nodes[node]
            await wait_until(lambda r=raft_node: applied(r) >= applied(leader), "caught up")
            await wait_until(
                lambda r=raft_node: r.core.snapshot.index > r.core.log.commit - 6, "compacted"
            )
            memberships[node] = raft_node.core.membership
            assert raft_node.core.snapshot.membership == raft_node.core.membership
        cluster.stop_all()
    for store in cluster.stores.values():
        store.close()

    # A restart: every remaining node (the joined one too) has the membership it had.
    async with trio.open_nursery() as nursery:
        cluster = Cluster(tmp_path, nursery)
        for node in memberships:
            await cluster.start(node)
        for node, membership in memberships.items():
            assert cluster.nodes[node].core.membership == membership
            assert cluster.nodes[node].addresses() == {n: ADDRESSES[n] for n in membership.members}
        await cluster.put(b"after the restart")
        cluster.stop_all()
    for store in cluster.stores.values():
        store.close()


async def test_a_change_on_a_follower_is_refused_with_the_leader_address(tmp_path: Path) -> None:
    from eraft_trio.runtime.errors import NotLeaderError

    async with trio.open_nursery() as nursery:
        cluster = Cluster(tmp_path, nursery)
        for node in range(3):
            await cluster.start(node)
        leader = await cluster.wait_leader()
        follower = next(n for n in cluster.nodes.values() if n is not leader)
        await wait_until(lambda: follower.core.leader is not None, "the follower knows")
        with pytest.raises(NotLeaderError):
            await follower.change_membership([ConfChange(ChangeKind.REMOVE, 0)])
        with pytest.raises(MembershipError, match="not a member"):
            await leader.change_membership([ConfChange(ChangeKind.REMOVE, 9)])
        assert leader.next_member_id() == 3
        cluster.stop_all()
    for store in cluster.stores.values():
        store.close()


async def test_member_requests_refuse_a_removal_below_a_live_majority_and_move_a_leader_first(
    tmp_path: Path,
) -> None:
    from eraft_trio.protocol.node import MemberChange, MemberList
    from eraft_trio.runtime.membership_service import member_change, member_list

    async with trio.open_nursery() as nursery:
        cluster = Cluster(tmp_path, nursery)
        for node in range(3):
            await cluster.start(node)
        leader = await cluster.wait_leader()
        await wait_until(lambda: leader.core.committed_in_term, "the leader's first commit")
        listed = member_list(leader, MemberList())
        assert [(m["addr"], m["role"]) for m in listed.members] == [
            (ADDRESSES[n], "voter") for n in range(3)
        ]
        assert listed.leader == leader.leader_address == ADDRESSES[leader.core.id]

        # While a change is not committed (its followers cut off), another is "busy".
        followers = {n: cluster.nodes.pop(n) for n in range(3) if n != leader.core.id}
        answers: list[Any] = []

        async def add(addr: str) -> None:
            answers.append(await member_change(leader, MemberChange("add", addr)))

        async with trio.open_nursery() as adding:
            adding.start_soon(add, ADDRESSES[3])
            await wait_until(lambda: leader.core.membership_pending, "the first add appended")
            await add("127.0.0.1:7999")
            assert answers[0].code == "busy"
            cluster.nodes.update(followers)
        added = answers[1]
        assert added == MemberChanged(3), added
        again = await member_change(leader, MemberChange("add", ADDRESSES[3]))
        assert again.code == "refused" and "member already" in again.message
        # Node 3 never started: it cannot have caught up, so it is not promoted.
        promoted = await member_change(leader, MemberChange("promote", ADDRESSES[3]))
        assert promoted.code == "not_caught_up"
        removed = await member_change(leader, MemberChange("remove", ADDRESSES[3]))
        assert removed == MemberChanged(3)

        # One follower down: removing the other would leave 1 live voter of 2.
        down, other = [n for n in range(3) if n != leader.core.id]
        del cluster.nodes[down]
        refused = await member_change(leader, MemberChange("remove", ADDRESSES[other]))
        assert refused.code == "refused" and "fewer than a majority" in refused.message
        assert len(leader.core.membership.voters) == 3
        cluster.stop_all()
    for store in cluster.stores.values():
        store.close()


async def test_removing_the_leader_hands_leadership_off_first(tmp_path: Path) -> None:
    from eraft_trio.protocol.node import MemberChange
    from eraft_trio.runtime.membership_service import member_change

    async with trio.open_nursery() as nursery:
        cluster = Cluster(tmp_path, nursery)
        for node in range(3):
            await cluster.start(node)
        leader = await cluster.wait_leader()
        await wait_until(
            lambda: all(n.core.leader is not None for n in cluster.nodes.values()), "all know"
        )
        await wait_until(lambda: leader.core.committed_in_term, "the leader's first commit")
        own = ADDRESSES[leader.core.id]
        moved = await member_change(leader, MemberChange("remove", own))
        assert moved.code == "not_leader" and moved.leader not in (None, own)
        assert len(leader.core.membership.voters) == 3  # nothing removed yet
        new_leader = await cluster.wait_leader()
        # A new leader answers busy until its first entry commits (core.py).
        await wait_until(lambda: new_leader.core.committed_in_term, "the new leader's first commit")
        removed = await member_change(new_leader, MemberChange("remove", own))
        assert removed == MemberChanged(leader.core.id)
        assert leader.core.id not in new_leader.core.membership.members
        cluster.stop_all()
    for store in cluster.stores.values():
        store.close()
