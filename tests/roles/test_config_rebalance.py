"""Rebalancing: balanced, and the fewest moves possible (checked against brute force)."""

from __future__ import annotations

from itertools import combinations

from hypothesis import given, settings
from hypothesis import strategies as st

from eraft_trio.roles.config.rebalance import rebalance


def loads(buckets: tuple[int, ...], gids: list[int]) -> list[int]:
    return [buckets.count(gid) for gid in gids]


def fewest_moves(buckets: tuple[int, ...], gids: list[int]) -> int:
    """Brute force: over every choice of which groups get the extra bucket, the cheapest moves."""
    quotient, remainder = divmod(len(buckets), len(gids))
    placed_elsewhere = sum(1 for owner in buckets if owner not in gids)
    best = None
    for extra in combinations(gids, remainder):
        surplus = sum(max(0, buckets.count(gid) - (quotient + (gid in extra))) for gid in gids)
        best = surplus if best is None else min(best, surplus)
    assert best is not None
    return placed_elsewhere + best


assignments = (
    st.integers(1, 24)
    .flatmap(lambda n: st.tuples(st.lists(st.integers(0, 6), min_size=n, max_size=n).map(tuple)))
    .map(lambda t: t[0])
)


@settings(max_examples=300, deadline=None)
@given(assignments, st.sets(st.integers(1, 6), max_size=6))
def test_rebalance_is_even_complete_and_minimal(
    buckets: tuple[int, ...], gid_set: set[int]
) -> None:
    gids = sorted(gid_set)
    result = rebalance(buckets, gids)
    assert len(result) == len(buckets)
    if not gids:
        assert result == (0,) * len(buckets)
        return
    assert all(owner in gid_set for owner in result)
    counts = loads(result, gids)
    assert max(counts) <= min(counts) + 1
    moved = sum(1 for old, new in zip(buckets, result, strict=True) if old != new)
    assert moved == fewest_moves(buckets, gids)


def test_rebalance_does_not_depend_on_gid_order() -> None:
    buckets = (0, 3, 3, 3, 3, 1, 0, 0, 2, 2)
    assert rebalance(buckets, [1, 2, 3, 4]) == rebalance(buckets, [4, 3, 2, 1])
    assert rebalance(buckets, (4, 1, 3, 2)) == rebalance(buckets, {1, 2, 3, 4})


def test_rebalance_of_balanced_assignment_moves_nothing() -> None:
    buckets = (1, 1, 1, 2, 2, 2, 3, 3, 3, 1)
    assert rebalance(buckets, [1, 2, 3]) == buckets


def test_rebalance_fills_unassigned_first_and_low_buckets_stay() -> None:
    # Group 1 holds 6 of 10 with 2 groups: it keeps its 5 lowest, the rest go to group 2.
    assert rebalance((1, 1, 1, 1, 1, 1, 0, 0, 0, 0), [1, 2]) == (1, 1, 1, 1, 1, 2, 2, 2, 2, 2)


def test_more_groups_than_buckets_leaves_some_groups_empty() -> None:
    result = rebalance((0, 0, 0), [1, 2, 3, 4, 5])
    assert sorted(result) == [1, 2, 3]
