"""A node that missed more than the leader's log holds catches up by snapshot, and restarts
from its own snapshot and log (short snapshot_entries so compaction happens quickly)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .cluster import ProcessGroup, wait_for
from .config_writes import ConfigWriter
from .ports import free_addresses
from .role_files import GroupLayout

SNAPSHOT_ENTRIES = 20


async def test_lagging_node_catches_up_by_snapshot_and_restarts_from_it(tmp_path: Path) -> None:
    layout = GroupLayout.config_group(
        free_addresses(3), raft={"snapshot_entries": SNAPSHOT_ENTRIES}
    )
    async with ProcessGroup(layout, tmp_path) as group:
        group.start()
        leader, _ = await group.wait_for_leader()
        writer = ConfigWriter(group, client_id=1)
        writer.leader = leader
        for gid in range(1, 11):
            await writer.join(gid)
        leader, _ = await group.wait_for_leader()
        lagging = next(n for n in range(group.size) if n != leader)
        commit = (await group.raft_status(leader) or {})["commit"]
        last_seen = (await group.wait_applied(commit, [lagging]))[lagging]["last_index"]
        group.kill([lagging])

        for gid in range(11, 111):
            await writer.join(gid)
        leader, _ = await group.wait_for_leader([n for n in range(group.size) if n != lagging])
        raft = await group.raft_status(leader)
        assert raft is not None
        # The entries the lagging node needs are gone from the leader's log.
        assert raft["snapshot_index"] > last_seen
        latest = await writer.query()

        group.start([lagging])

        async def installed() -> dict[str, Any] | None:
            status = await group.status(lagging)
            if status is None or status["raft"]["snapshots_installed"] < 1:
                return None
            return status if status["storage"]["applied_index"] >= raft["commit"] else None

        status = await wait_for(installed, timeout=30, what="the snapshot to install")
        assert status["storage"]["snapshot_index"] > last_seen
        assert status["role"]["config"] == latest

        # Restarted again, it starts from the snapshot and log on its own disk.
        applied = status["raft"]["applied"]
        group.kill([lagging])
        group.start([lagging])
        restarted = (await group.wait_applied(applied, [lagging]))[lagging]
        assert restarted["snapshots_installed"] == 0
        assert restarted["applied"] - restarted["applied_commands"] >= applied
        again = await group.status(lagging)
        assert again is not None and again["role"]["config"] == latest

        # And the group, compacted everywhere, still takes writes through any leader.
        group.kill([leader])
        writer.leader = lagging
        assert (await writer.join(111)).num == latest["num"] + 1
