"""Hundreds of seeded random schedules of mixed faults, with every checker after every step (FoundationDB-style)."""

from __future__ import annotations

import pytest

from eraft_trio.sim.schedule import ScheduleSpec, run_schedule

SEEDS_PER_CHUNK = 25
CHUNKS = 8  # 200 seeds in all


def _run_all(spec_for_seed: dict[int, ScheduleSpec]) -> None:
    failures = []
    for seed, spec in spec_for_seed.items():
        result = run_schedule(seed, spec)
        assert result.committed > 0, f"seed {seed} committed nothing: the schedule is too harsh"
        if result.violation is not None:
            failures.append(str(result.violation))
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_random_schedules_are_safe_and_live(chunk: int) -> None:
    """Figure 3's safety properties, durability and read freshness under drops, duplicates,
    delays, reordering, clock skew, partitions (some one-way), isolation, swizzle-clogging
    and crashes at any point of a Ready; 3 and 5 nodes, with log compaction and snapshots.
    Then liveness: once every fault is healed, a new command commits on every node.
    """
    seeds = range(chunk * SEEDS_PER_CHUNK, (chunk + 1) * SEEDS_PER_CHUNK)
    _run_all(
        {seed: ScheduleSpec(nodes=3 if seed % 2 == 0 else 5, steps=1200) for seed in seeds},
    )


@pytest.mark.parametrize("chunk", range(2))
def test_random_schedules_without_pre_vote_or_check_quorum(chunk: int) -> None:
    """The same properties with the plain §5.2 election (no pre-vote, no check-quorum)."""
    seeds = range(1000 + chunk * SEEDS_PER_CHUNK, 1000 + (chunk + 1) * SEEDS_PER_CHUNK)
    options = {"pre_vote": False, "check_quorum": False}
    _run_all(
        {
            seed: ScheduleSpec(nodes=5, steps=1200, liveness=False, raft_options=options)
            for seed in seeds
        },
    )


@pytest.mark.slow
@pytest.mark.parametrize("nodes", [3, 5, 7])
def test_long_random_schedules(nodes: int) -> None:
    """Longer runs, more compaction (snapshots everywhere), 200 seeds per cluster size."""
    _run_all(
        {
            seed: ScheduleSpec(nodes=nodes, steps=4000, compact_every=5)
            for seed in range(10_000, 10_200)
        }
    )
