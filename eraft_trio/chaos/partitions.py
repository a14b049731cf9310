"""Partition shapes as sets of links to cut, chosen from a seeded random source (pure, no I/O).

Each shape returns a description and the links (both ways) to cut. The client
workload runs on 127.0.0.1, which no shape cuts: clients can still reach a node on
the minority side, which is exactly where stale reads would come from.
"""

from __future__ import annotations

import itertools
import random

from eraft_trio.chaos.link_cuts import Link, between, both_ways
from eraft_trio.chaos.topology import NodeSpec, Topology

Shape = tuple[str, set[Link]]


def isolate(topology: Topology, victim: NodeSpec) -> Shape:
    """One node alone against every other node of the run."""
    others = [node.host for node in topology.nodes if node is not victim]
    return f"isolate {victim.name}", between([victim.host], others)


def split_groups(topology: Topology, rng: random.Random) -> Shape:
    """Every group split majority / minority: one node of each group on the minority side.

    The minority nodes of different groups still see each other, so a minority shard
    node can reach a minority config node, and both may believe they still lead.
    """
    minority = [rng.choice(topology.group_nodes(gid)) for gid in topology.gids]
    minority_hosts = {node.host for node in minority}
    majority = [host for host in topology.hosts() if host not in minority_hosts]
    names = ", ".join(node.name for node in minority)
    return f"split every group, minority {{{names}}}", between(minority_hosts, majority)


def config_off(topology: Topology) -> Shape:
    """The config group cut off from every shard node (clients still reach it)."""
    shard_hosts = [node.host for node in topology.nodes if node.gid != 0]
    return "cut the config group off", between(topology.hosts(0), shard_hosts)


def bridge(topology: Topology, rng: random.Random) -> Shape:
    """In every group, two nodes cannot see each other but both see the third (the bridge)."""
    links: set[Link] = set()
    bridges = []
    for gid in topology.gids:
        a, middle, c = rng.sample(topology.group_nodes(gid), 3)
        links |= both_ways([(a.host, c.host)])
        bridges.append(middle.name)
    return f"bridge through {', '.join(bridges)}", links


def random_halves(topology: Topology, rng: random.Random) -> Shape:
    """All nodes shuffled into two halves; some groups may lose their majority altogether."""
    hosts = topology.hosts()
    rng.shuffle(hosts)
    half = len(hosts) // 2
    return "random halves", between(hosts[:half], hosts[half:])


def swizzle_links(topology: Topology, rng: random.Random) -> list[tuple[str, str]]:
    """Node pairs to clog one by one: a random share of the pairs, in random order."""
    pairs = list(itertools.combinations(topology.hosts(), 2))
    rng.shuffle(pairs)
    return pairs[: rng.randint(max(1, len(pairs) // 4), max(1, len(pairs) // 2))]
