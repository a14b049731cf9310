"""Bring a shard cluster to a chosen set of joined groups, whatever earlier tests left behind."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .cluster_probe import ClusterProbe


async def arrange_groups(probe: ClusterProbe, gids: Iterable[int]) -> dict[str, Any]:
    """Every node running and resumed, exactly `gids` joined (rebalanced), all settled.

    Module-scoped clusters are shared by tests that kill and pause nodes and change the
    config; this puts one back into a known state, so tests do not depend on their order.
    """
    cluster = probe.cluster
    cluster.resume_all()
    cluster.start()
    wanted = set(gids)
    await probe.wait_settled()
    config = await probe.latest_config()
    joined = {int(gid) for gid in config["groups"]}
    for gid in sorted(wanted - joined):
        await probe.config_client.join({gid: cluster.addresses(gid)}, rejoin=True)
    leaving = tuple(sorted(joined - wanted))
    if leaving:
        await probe.config_client.leave(leaving)
    return await probe.wait_settled()
