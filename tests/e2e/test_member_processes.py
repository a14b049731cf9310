"""Membership change on real processes: a fourth node joins a three-node shard group (a
role file with `join = true`, an empty data dir), catches up as a learner, is promoted,
and an old node is removed, while a client keeps putting; every acknowledged put reads
back at the end, and puts were acknowledged in every phase."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio
from integration.cluster import ProcessGroup, wait_for
from integration.ports import free_addresses
from integration.role_files import GroupLayout, render_toml

from eraft_trio.chaos.node_processes import NodeProcess
from eraft_trio.client import Client
from eraft_trio.protocol.errors import ErrorReply
from eraft_trio.protocol.node import MemberChange, MemberList
from eraft_trio.protocol.replies import MemberChanged
from eraft_trio.transport.errors import TransportError

from .ctl_process import ctl

TIMEOUT = 60.0


def joiner_role_file(layout: GroupLayout, folder: Path, listen: str) -> Path:
    path = folder / "group1-joiner.toml"
    sections: dict[str, Any] = {
        "node": {"role": "shard", "data_dir": "data/group1-joiner", "listen": listen},
        "raft": {"peers": list(layout.addresses), "join": True, **layout.raft},
        "shard": {"group": layout.gid, "config_servers": list(layout.config_servers)},
    }
    path.write_text(render_toml(sections))
    return path


class Load:
    """Puts k0, k1, ... one at a time through the client; remembers what was acknowledged."""

    def __init__(self) -> None:
        self.acked: dict[str, str] = {}
        self.errors = 0

    async def run(self, servers: tuple[str, ...], stop: trio.Event) -> None:
        async with Client.connect(list(servers)) as kv:
            n = 0
            while not stop.is_set():
                key, value = f"k{n}", f"v{n}"
                try:
                    await kv.put(key, value)
                    self.acked[key] = value
                except Exception:
                    self.errors += 1  # outcome unknown: not counted as acknowledged
                n += 1


async def change(group: ProcessGroup, action: str, addr: str) -> Any:
    """Send MemberChange to whichever node leads, until it is done (or refused)."""

    async def attempt() -> Any:
        for node in range(group.size):
            try:
                reply = await group.call(node, MemberChange(action, addr), timeout=10.0)
            except TransportError:
                continue
            if type(reply) is MemberChanged or (
                type(reply) is ErrorReply and reply.code == "refused"
            ):
                return reply
        return None

    return await wait_for(attempt, timeout=TIMEOUT, what=f"member {action} {addr}")


async def test_a_fourth_node_joins_is_promoted_and_an_old_one_leaves_under_load(
    tmp_path: Path,
) -> None:
    addresses = free_addresses(5)
    config = GroupLayout.config_group(addresses[:1])
    raft = {"snapshot_entries": 50}
    shard = GroupLayout.shard_group(1, addresses[1:4], addresses[:1], raft=raft)
    new_addr = addresses[4]
    joiner = NodeProcess(
        joiner_role_file(shard, tmp_path, new_addr), tmp_path / "group1-joiner.log"
    )
    async with ProcessGroup(config, tmp_path) as cfg, ProcessGroup(shard, tmp_path) as group:
        try:
            cfg.start()
            group.start()
            joined = await ctl(cfg.layout.addresses, "join", "1", ",".join(shard.addresses))
            assert joined.code == 0, joined.describe()
            load, stop = Load(), trio.Event()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(load.run, cfg.layout.addresses, stop)
                await wait_for(
                    lambda: _async(len(load.acked) >= 100 or None), timeout=TIMEOUT, what="puts"
                )
                joiner.start()  # waits to be added
                added = await change(group, "add", new_addr)
                assert added == MemberChanged(3), added
                # Promotion waits for the learner to catch up (from a snapshot).
                seen = len(load.acked)

                async def promoted() -> Any:
                    reply = await change(group, "promote", new_addr)
                    return reply if type(reply) is MemberChanged else None

                await wait_for(promoted, timeout=TIMEOUT, what="promotion")
                assert len(load.acked) > seen, "no put acknowledged while the node joined"
                leader, _ = await group.wait_for_leader()
                gone = next(n for n in range(3) if n != leader)
                seen = len(load.acked)
                removed = await change(group, "remove", shard.addresses[gone])
                assert type(removed) is MemberChanged, removed
                group.kill([gone])
                await wait_for(
                    lambda: _async(len(load.acked) > seen + 100 or None),
                    timeout=TIMEOUT,
                    what="puts after the removal",
                )
                stop.set()

            listed = await group.call(leader, MemberList())
            assert sorted((m["addr"], m["role"]) for m in listed.members) == sorted(
                [(shard.addresses[n], "voter") for n in range(3) if n != gone]
                + [(new_addr, "voter")]
            )
            async with Client.connect(list(cfg.layout.addresses)) as kv:
                for key, value in load.acked.items():
                    assert await kv.get(key) == value.encode(), key
        finally:
            joiner.cleanup()


async def _async(value: Any) -> Any:
    """`value` as the awaitable wait_for polls."""
    return value
