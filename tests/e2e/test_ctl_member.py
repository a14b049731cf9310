"""`eraft ctl member` on real processes: a shard node is lost for good (kill -9, data dir
deleted) and `member replace` brings a fresh node in on a new port while a client keeps
putting; every acknowledged put reads back. Then a removal that would leave fewer live
voters than a majority is refused with exit 2 and one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import trio
from integration.cluster import ProcessGroup, wait_for
from integration.ports import free_addresses
from integration.role_files import GroupLayout, render_toml

from eraft_trio.chaos.node_processes import NodeProcess
from eraft_trio.client import Client

from .ctl_process import ctl
from .test_member_processes import Load, _async, joiner_role_file

TIMEOUT = 60.0


async def test_member_replace_brings_in_a_fresh_node_for_a_lost_one_under_load(
    tmp_path: Path,
) -> None:
    addresses = free_addresses(5)
    config = GroupLayout.config_group(addresses[:1])
    shard = GroupLayout.shard_group(1, addresses[1:4], addresses[:1], raft={"snapshot_entries": 50})
    new_addr = addresses[4]
    joiner = NodeProcess(
        joiner_role_file(shard, tmp_path, new_addr), tmp_path / "group1-joiner.log"
    )
    async with ProcessGroup(config, tmp_path) as cfg, ProcessGroup(shard, tmp_path) as group:
        try:
            servers = cfg.layout.addresses
            cfg.start()
            group.start()
            joined = await ctl(servers, "join", "1", ",".join(shard.addresses), timeout=TIMEOUT)
            assert joined.code == 0, joined.describe()
            listed = await ctl(servers, "member", "list", "1", "--json")
            assert listed.code == 0, listed.describe()
            before = json.loads(listed.stdout)
            assert before["group"] == "1"
            assert sorted(m["addr"] for m in before["members"]) == sorted(shard.addresses)
            assert sum(m["leader"] for m in before["members"]) == 1

            load, stop = Load(), trio.Event()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(load.run, servers, stop)
                await wait_for(
                    lambda: _async(len(load.acked) >= 100 or None), timeout=TIMEOUT, what="puts"
                )
                leader, _ = await group.wait_for_leader()
                lost = next(n for n in range(3) if n != leader)
                group.kill([lost])  # kill -9, and its disk is gone for good
                shutil.rmtree(tmp_path / shard.data_dir(lost))
                joiner.start()
                seen = len(load.acked)
                replaced = await ctl(
                    servers,
                    "member",
                    "replace",
                    "1",
                    shard.addresses[lost],
                    new_addr,
                    timeout=TIMEOUT,
                )
                assert replaced.code == 0, replaced.describe()
                ok, recorded = replaced.stdout.splitlines()
                assert ok == f"OK: {shard.addresses[lost]} replaced by {new_addr} in group 1"
                assert recorded.startswith("config ") and "records group 1 at" in recorded
                await wait_for(
                    lambda: _async(len(load.acked) > seen + 100 or None),
                    timeout=TIMEOUT,
                    what="puts after the replacement",
                )
                stop.set()

            after = await ctl(servers, "member", "list", "1")
            assert after.code == 0, after.describe()
            rows = after.stdout.splitlines()
            expected = {shard.addresses[n] for n in range(3) if n != lost} | {new_addr}
            assert {row.split()[0] for row in rows} == expected
            assert all(row.split()[1] == "voter" for row in rows)
            # The chain records the group as it is now: clients find the new node.
            query = await ctl(servers, "query", "--json")
            assert query.code == 0, query.describe()
            assert set(json.loads(query.stdout)["groups"]["1"]) == expected
            async with Client.connect(list(servers)) as kv:
                for key, value in load.acked.items():
                    assert await kv.get(key) == value.encode(), key

            # Another node down: removing a live one would leave 1 live voter of 2.
            down = next(n for n in range(3) if n != lost)
            group.kill([down])
            alive = next(n for n in range(3) if n not in (lost, down))
            refused = await ctl(servers, "member", "remove", "1", shard.addresses[alive])
            assert refused.code == 2, refused.describe()
            assert refused.stderr.count("\n") == 1 and "fewer than a majority" in refused.stderr
            missing = await ctl(servers, "member", "remove", "1", shard.addresses[lost])
            assert missing.code == 2 and "is not a member" in missing.stderr, missing.describe()
        finally:
            joiner.cleanup()


async def test_member_replace_works_for_the_config_group(tmp_path: Path) -> None:
    addresses = free_addresses(5)
    config = GroupLayout.config_group(addresses[:3], raft={"snapshot_entries": 20})
    shard = GroupLayout.shard_group(1, addresses[3:4], addresses[:3])
    new_addr = addresses[4]
    path = tmp_path / "config-joiner.toml"
    path.write_text(
        render_toml(
            {
                "node": {"role": "config", "data_dir": "data/config-joiner", "listen": new_addr},
                # The addresses the cluster was created with: its cluster id derives from them.
                "raft": {"peers": list(config.addresses), "join": True, **config.raft},
                "config": {"buckets": config.buckets},
            }
        )
    )
    joiner = NodeProcess(path, tmp_path / "config-joiner.log")
    async with ProcessGroup(config, tmp_path) as cfg, ProcessGroup(shard, tmp_path) as group:
        try:
            servers = cfg.layout.addresses
            cfg.start()
            group.start()
            joined = await ctl(servers, "join", "1", shard.addresses[0], timeout=TIMEOUT)
            assert joined.code == 0, joined.describe()
            leader, _ = await cfg.wait_for_leader()
            lost = next(n for n in range(3) if n != leader)
            cfg.kill([lost])
            shutil.rmtree(tmp_path / config.data_dir(lost))
            joiner.start()
            replaced = await ctl(
                servers, "member", "replace", "config", servers[lost], new_addr, timeout=TIMEOUT
            )
            assert replaced.code == 0, replaced.describe()
            now = tuple(a for a in servers if a != servers[lost]) + (new_addr,)
            listed = await ctl(now, "member", "list", "config", "--json")
            members = json.loads(listed.stdout)["members"]
            assert sorted(m["addr"] for m in members) == sorted(now)
            assert {m["role"] for m in members} == {"voter"}
            # The group takes config changes with the new node as one of its three voters.
            moved = await ctl(now, "move", "0-4", "1", timeout=TIMEOUT)
            assert moved.code == 0, moved.describe()
            put = await ctl(now, "put", "k", "v", timeout=TIMEOUT)
            assert put.code == 0, put.describe()
            assert (await ctl(now, "get", "k")).stdout == "v\n"
        finally:
            joiner.cleanup()
