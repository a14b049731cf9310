"""Where the driver compacts the log: bounded by entries and by data bytes."""

from __future__ import annotations

from eraft_trio.raft.log import RaftLog
from eraft_trio.raft.types import Entry, SnapshotMeta


def log_of(sizes: list[int], applied: int) -> RaftLog:
    entries = [Entry(term=1, index=i + 1, data=b"x" * size) for i, size in enumerate(sizes)]
    return RaftLog(SnapshotMeta(), entries, commit=applied, applied=applied)


def test_within_both_bounds_nothing_is_compacted() -> None:
    assert log_of([10] * 100, applied=100).compaction_point(100, 10_000) is None


def test_past_the_entry_bound_a_fifth_is_kept_as_a_tail() -> None:
    assert log_of([10] * 101, applied=101).compaction_point(100, 1 << 30) == 81


def test_past_the_byte_bound_few_large_entries_are_compacted_keeping_a_fifth_of_the_bytes() -> None:
    log = log_of([1 << 20] * 40, applied=40)  # 40 MiB in 40 entries, bound 32 MiB
    point = log.compaction_point(10_000, 32 << 20)
    assert point is not None
    kept = sum(len(e.data) for e in log.entries[point:])
    assert kept <= (32 << 20) // 5
    assert point == 40 - 6  # six whole MiB entries fit in 6.4 MiB


def test_only_applied_entries_are_compacted() -> None:
    log = log_of([1 << 20] * 40, applied=2)
    assert log.compaction_point(10_000, 32 << 20) is None


def test_data_bytes_follow_appends_truncations_compactions_and_restores() -> None:
    log = log_of([5] * 10, applied=4)
    assert log.data_bytes == 50
    log.append([Entry(term=1, index=11, data=b"abc")])
    assert log.data_bytes == 53
    log.maybe_append(8, 1, 4, [Entry(term=2, index=9, data=b"z")])
    assert log.data_bytes == 8 * 5 + 1
    log.compact(4)
    assert log.data_bytes == 4 * 5 + 1
    log.restore(SnapshotMeta(index=20, term=3))
    assert log.data_bytes == 0
