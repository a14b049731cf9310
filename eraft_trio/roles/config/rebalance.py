"""Even bucket assignment with the fewest moves, deterministic on every replica."""

from __future__ import annotations

from collections.abc import Iterable

from eraft_trio.roles.config.model import NO_GROUP


def rebalance(buckets: tuple[int, ...], gids: Iterable[int]) -> tuple[int, ...]:
    """Spread every bucket over `gids` so loads differ by at most one, moving as few as possible.

    A bucket whose owner is not in `gids` (unassigned, or a group that is leaving) must
    move, and is placed first. Each group's target is the quotient or the quotient plus
    one; the plus-one targets go to the groups that already hold the most buckets, so
    the buckets taken from overloaded groups are exactly their surplus and no balanced
    group loses or gains anything: the number of moves is the minimum possible.

    Determinism: every choice is made over explicitly sorted lists, ties broken by gid,
    and never depends on set or dict iteration order or on hashing.
    """
    members = sorted(set(gids))
    if not members:
        return (NO_GROUP,) * len(buckets)

    held: dict[int, list[int]] = {gid: [] for gid in members}  # ascending bucket order
    to_place: list[int] = []
    for bucket, owner in enumerate(buckets):
        if owner in held:
            held[owner].append(bucket)
        else:
            to_place.append(bucket)

    quotient, remainder = divmod(len(buckets), len(members))
    most_loaded_first = sorted(members, key=lambda gid: (-len(held[gid]), gid))
    target = {
        gid: quotient + (1 if rank < remainder else 0) for rank, gid in enumerate(most_loaded_first)
    }

    for gid in members:
        surplus = len(held[gid]) - target[gid]
        if surplus > 0:
            # Give up the highest-numbered buckets: low buckets stay where they were.
            to_place.extend(held[gid][-surplus:])
            del held[gid][-surplus:]
    to_place.sort()

    assignment = list(buckets)
    least_loaded_first = sorted(members, key=lambda gid: (len(held[gid]), gid))
    placing = iter(to_place)
    for gid in least_loaded_first:
        for _ in range(target[gid] - len(held[gid])):
            assignment[next(placing)] = gid
    assert next(placing, None) is None, "targets sum to the bucket count"
    return tuple(assignment)
