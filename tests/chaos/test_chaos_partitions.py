"""Partition shapes of the chaos nemesis: which links each one cuts (pure, no namespace needed)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from eraft_trio.chaos import link_cuts, partitions
from eraft_trio.chaos.link_cuts import Link, between, both_ways
from eraft_trio.chaos.topology import Topology, build_topology


@pytest.fixture
def topology(tmp_path: Path) -> Topology:
    return build_topology(tmp_path, shard_groups=2)


def connected(links: set[Link], a: str, b: str) -> bool:
    return (a, b) not in links and (b, a) not in links


def test_cuts_are_symmetric_pairs() -> None:
    assert both_ways([("a", "b")]) == {("a", "b"), ("b", "a")}
    assert between(["a"], ["a", "b"]) == {("a", "b"), ("b", "a")}


def test_topology_gives_every_node_its_own_host_and_role_file(topology: Topology) -> None:
    hosts = topology.hosts()
    assert len(hosts) == len(set(hosts)) == 9
    assert topology.gids == [0, 1, 2]
    for node in topology.nodes:
        text = node.role_path.read_text()
        assert f'"{node.address}"' in text
        assert ('role = "config"' in text) == (node.gid == 0)


def test_isolate_cuts_the_victim_from_everyone_else(topology: Topology) -> None:
    victim = topology.group_nodes(1)[0]
    _, links = partitions.isolate(topology, victim)
    for node in topology.nodes:
        if node is not victim:
            assert not connected(links, victim.host, node.host)
    others = [node.host for node in topology.nodes if node is not victim]
    assert all(connected(links, a, b) for a in others for b in others)


def test_split_leaves_every_group_a_majority(topology: Topology) -> None:
    _, links = partitions.split_groups(topology, random.Random(1))
    for gid in topology.gids:
        hosts = topology.hosts(gid)
        cut_pairs = sum(1 for a in hosts for b in hosts if a < b and not connected(links, a, b))
        assert cut_pairs == 2  # one minority node cut from the two others


def test_config_off_cuts_only_config_to_shard_links(topology: Topology) -> None:
    _, links = partitions.config_off(topology)
    config, shards = topology.hosts(0), topology.hosts(1) + topology.hosts(2)
    assert links == between(config, shards)


def test_bridge_cuts_one_pair_per_group(topology: Topology) -> None:
    _, links = partitions.bridge(topology, random.Random(2))
    assert len(links) == 2 * len(topology.gids)
    for gid in topology.gids:
        hosts = topology.hosts(gid)
        assert sum(1 for a in hosts for b in hosts if (a, b) in links) == 2


def test_shapes_are_fixed_by_the_seed(topology: Topology) -> None:
    for shape in (partitions.split_groups, partitions.bridge, partitions.random_halves):
        assert shape(topology, random.Random(5)) == shape(topology, random.Random(5))
    assert partitions.swizzle_links(topology, random.Random(5)) == partitions.swizzle_links(
        topology, random.Random(5)
    )


def test_overlapping_cuts_heal_only_their_own_share(monkeypatch: pytest.MonkeyPatch) -> None:
    scripts: list[str] = []
    monkeypatch.setattr(link_cuts, "_nft", scripts.append)
    cuts = link_cuts.LinkCuts()
    cuts.install()
    partition, clog = between(["a"], ["b", "c"]), both_ways([("a", "b")])
    cuts.cut(partition)
    cuts.cut(clog)
    cuts.heal(partition)
    assert cuts.cut_links == clog  # the clog still holds a-b
    assert "a . b" in scripts[-1] and "a . c" not in scripts[-1]
    cuts.heal(clog)
    assert cuts.cut_links == frozenset()
    assert scripts[-1].strip() == f"flush set ip {link_cuts.TABLE} cuts"
