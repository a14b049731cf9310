"""ClusterProbe's waits fail at once, with the node's log, when a node ended by itself.

Regression: a node that died at start-up (here a broken role file; in the failing run a
half-edited working tree made every `eraft node` exit with a traceback) is simply not
"running", and the waits only ask running nodes. So a whole dead group looked settled
and the wait timed out after 60 s naming another group's state ("group 2 pulling from
gid 1"), or the config query named an unreachable port, never the traceback.
"""

from __future__ import annotations

import pytest
import trio

from .cluster_factory import ClusterFactory
from .cluster_probe import ClusterProbe, NodeCrashed


async def test_waits_fail_at_once_naming_a_node_that_exited_by_itself(
    cluster_factory: ClusterFactory,
) -> None:
    cluster = cluster_factory((1,), start=False)
    group = cluster.shards[1]
    broken, killed = group.nodes[0], group.nodes[1]
    broken.role_path.write_text("this is not a role file [\n")
    group.start([0, 1])
    assert await broken.wait_exit() == 2
    group.kill([1])  # exits -9: what a test does on purpose is no crash
    assert broken.crashed and not killed.crashed

    async with ClusterProbe.open(cluster) as probe:
        # Far below the settle timeout: the check runs before any status call.
        with trio.fail_after(10):
            with pytest.raises(NodeCrashed, match="exited by themselves") as settle:
                await probe.wait_settled()
            with pytest.raises(NodeCrashed, match="exited by themselves"):
                await probe.wait_leader(cluster.config, [])
    message = str(settle.value)
    assert f"{broken.log_path} (exit 2)" in message
    assert f"eraft node: {broken.role_path}" in message  # the node's own last words
    assert killed.log_path.name not in message
    assert "last seen" not in message  # not some other group's state: the crash is the news
