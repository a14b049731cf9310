"""Three `eraft node` processes of a config group: election, replication, kill -9 of the leader."""

from __future__ import annotations

from eraft_trio.protocol.node import TransferLeadership
from eraft_trio.protocol.replies import Done

from .cluster import ProcessGroup
from .config_writes import ConfigWriter


async def test_elect_replicate_survive_leader_kill_and_catch_up(config_group: ProcessGroup) -> None:
    group = config_group
    leader, term = await group.wait_for_leader()
    writer = ConfigWriter(group, client_id=1)
    writer.leader = leader

    # Every join is acknowledged with the next config number: none lost, none doubled.
    acks = [await writer.join(gid) for gid in range(1, 101)]
    assert [ack.num for ack in acks] == list(range(1, 101))

    # Asked again: a busy machine may have forced an election since the first.
    old_leader, term = await group.wait_for_leader()
    commit = (await group.raft_status(old_leader) or {})["commit"]
    caught_up = await group.wait_applied(commit)
    applied_before_kill = caught_up[old_leader]["applied"]

    group.kill([old_leader])
    survivors = [n for n in range(group.size) if n != old_leader]
    new_leader, new_term = await group.wait_for_leader(survivors, min_term=term + 1)
    assert new_leader != old_leader
    writer.leader = new_leader
    more = [await writer.join(gid) for gid in range(101, 111)]
    assert [ack.num for ack in more] == list(range(101, 111))

    latest = await writer.query()
    commit = (await group.raft_status(writer.leader) or {})["commit"]
    group.start([old_leader])
    raft = (await group.wait_applied(commit, [old_leader]))[old_leader]
    # Its state came from its own disk: since the restart it applied only what it
    # missed, not the whole log again, and no snapshot was needed.
    assert raft["applied"] - raft["applied_commands"] >= applied_before_kill
    assert raft["snapshots_installed"] == 0
    assert raft["term"] >= new_term
    status = await group.status(old_leader)
    assert status is not None
    assert status["role"]["config"] == latest
    assert set(latest["groups"]) == {str(gid) for gid in range(1, 111)}

    # Led by the restarted node, the group serves the same config and takes writes.
    reply = await group.call(writer.leader, TransferLeadership(old_leader))
    assert reply == Done()
    leader, _ = await group.wait_for_leader(want=old_leader)
    writer.leader = leader
    assert await writer.query() == latest
    assert (await writer.join(111)).num == 111
