"""Progress: changed only through its methods, and only a leader keeps it."""

from __future__ import annotations

import pytest

from eraft_trio.raft.core import RaftCore
from eraft_trio.raft.progress import Progress, ProgressState
from eraft_trio.raft.types import Role

from .datadriven import Command
from .interaction import InteractionEnv


def _run(env: InteractionEnv, *lines: str) -> None:
    for n, line in enumerate(lines):
        env.execute(Command.parse(line, n))


def _leader_of_three() -> tuple[InteractionEnv, RaftCore]:
    env = InteractionEnv()
    _run(env, "add-nodes 3", "campaign 1", "stabilize")
    leader = env.nodes[1]
    assert leader.role is Role.LEADER
    return env, leader


def test_progress_fields_are_read_only() -> None:
    pr = Progress(5)
    with pytest.raises(AttributeError):
        pr.match = 3  # type: ignore[misc]
    with pytest.raises(AttributeError):
        pr.state = ProgressState.REPLICATE  # type: ignore[misc]


def test_a_failed_snapshot_forgets_it_and_probes_after_the_match() -> None:
    pr = Progress(5)
    pr.maybe_update(3)
    pr.become_snapshot(10)
    assert pr.is_paused(max_inflight=8)
    pr.snapshot_failed()
    assert (pr.state, pr.pending_snapshot, pr.next) == (ProgressState.PROBE, 0, 4)


def test_snapshot_wait_times_out_after_its_ticks() -> None:
    pr = Progress(1)
    pr.become_snapshot(7)
    assert [pr.tick_snapshot(3) for _ in range(3)] == [False, False, True]


def test_step_down_clears_the_progress() -> None:
    """A deposed leader keeps no view of its old followers (etcd resets it on every
    role change): nothing stale can steer a later term's replication."""
    env, leader = _leader_of_three()
    assert set(leader.status()["progress"]) == {2, 3}
    # Cut off, the leader steps down at the second check-quorum round.
    _run(env, "tick-election 1", "process-ready 1", "deliver-msgs drop=2,3", "tick-election 1")
    assert leader.role is Role.FOLLOWER
    assert leader.status()["progress"] == {}
    # Reports from the driver about old followers are ignored, not a KeyError.
    leader.report_snapshot(2, False)
    leader.report_unreachable(3)
