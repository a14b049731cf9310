"""An idle 3-node group keeps its leader and term: no spurious elections (long; `-m slow`)."""

from __future__ import annotations

import os

import pytest
import trio

from .cluster import ProcessGroup

# ERAFT_IDLE_MINUTES sets how long to watch (default 10); fractions are fine.
IDLE_MINUTES = float(os.environ.get("ERAFT_IDLE_MINUTES", "10"))
POLL_SECONDS = 1.0


@pytest.mark.slow
@pytest.mark.timeout(IDLE_MINUTES * 60 + 120)
async def test_idle_group_keeps_leader_and_term(config_group: ProcessGroup) -> None:
    group = config_group
    leader, term = await group.wait_for_leader()
    start = await group.statuses()
    commit = (start[leader] or {})["raft"]["commit"]
    await group.wait_applied(commit)
    polls = 0
    with trio.move_on_after(IDLE_MINUTES * 60):
        while True:
            statuses = await group.statuses()
            for node, status in statuses.items():
                assert status is not None, f"node {node} stopped answering after {polls} polls"
                raft = status["raft"]
                # Any election would raise the term; a new leader's no-op would move commit.
                assert (raft["term"], raft["leader"]) == (term, leader), (node, polls, raft)
                assert raft["commit"] == commit, (node, polls, raft)
            polls += 1
            await trio.sleep(POLL_SECONDS)
    assert polls > 1
    assert all(node.running for node in group.nodes)
