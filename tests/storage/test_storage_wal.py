"""The write-ahead log: replay after restarts, torn tails, conflicts, rotation, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from eraft_trio.raft.types import Entry, HardState, SnapshotMeta
from eraft_trio.storage import wal as wal_module
from eraft_trio.storage.errors import InvalidBatchError, StorageError
from eraft_trio.storage.node_store import NodeStore
from eraft_trio.storage.wal import SUFFIX, WriteAheadLog, encode_record

from .conftest import IDENTITY, make_entries


def segments(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"*{SUFFIX}"))


def reopened(folder: Path, **kwargs: int) -> WriteAheadLog:
    return WriteAheadLog(folder, **kwargs)


def test_entries_hard_state_compaction_and_reset_replay_after_a_restart(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path)
    wal.write(entries=make_entries(1, 1, 5), hard_state=HardState(term=1, vote=0, commit=3))
    wal.write(compact_to=SnapshotMeta(index=2, term=1), durable_applied=3)
    wal.write(hard_state=HardState(term=2, vote=1, commit=5))
    wal.close()

    state = reopened(tmp_path).state
    assert state.base == SnapshotMeta(index=2, term=1)
    assert state.entries == make_entries(1, 3, 5)
    assert state.hard_state == HardState(term=2, vote=1, commit=5)

    again = reopened(tmp_path)
    again.write(reset_to=SnapshotMeta(index=9, term=3), entries=make_entries(3, 10, 11))
    again.close()
    state = reopened(tmp_path).state
    assert (state.base, state.entries) == (SnapshotMeta(index=9, term=3), make_entries(3, 10, 11))


def test_a_conflicting_suffix_replaces_the_entries_from_its_first_index(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path)
    wal.write(entries=make_entries(1, 1, 5))
    wal.write(entries=make_entries(2, 3, 4))
    wal.close()

    assert reopened(tmp_path).state.entries == make_entries(1, 1, 2) + make_entries(2, 3, 4)


@pytest.mark.parametrize(
    "tear", [b"garbage!", encode_record([1, 6, []])[:-1], b"\x00" * 8 + b"later page"]
)
def test_replay_stops_at_a_torn_tail_and_writing_goes_on_in_a_new_segment(
    tmp_path: Path, tear: bytes
) -> None:
    wal = WriteAheadLog(tmp_path)
    wal.write(entries=make_entries(1, 1, 5))
    end = wal.statistics()["segment_bytes"]
    wal.close()
    (only,) = segments(tmp_path)
    with only.open("r+b") as f:
        f.seek(end)
        f.write(tear)  # a write that never finished (so was never acknowledged)
    torn = only.read_bytes()

    wal = reopened(tmp_path)
    assert wal.state.entries == make_entries(1, 1, 5)
    wal.write(entries=make_entries(1, 6, 6))
    wal.close()
    assert len(segments(tmp_path)) == 2  # the torn segment is kept as it was, never written
    assert only.read_bytes() == torn
    assert reopened(tmp_path).state.entries == make_entries(1, 1, 6)


def test_zeroes_after_the_last_record_are_the_preallocated_tail_not_a_tear(
    tmp_path: Path,
) -> None:
    wal = WriteAheadLog(tmp_path, segment_bytes=1 << 20)
    wal.write(entries=make_entries(1, 1, 5))
    wal.close()
    (only,) = segments(tmp_path)
    assert only.stat().st_size == 1 << 20

    wal = reopened(tmp_path, segment_bytes=1 << 20)
    wal.write(entries=make_entries(1, 6, 6))
    wal.close()
    assert segments(tmp_path) == [only]  # appended in place
    assert reopened(tmp_path).state.entries == make_entries(1, 1, 6)


def test_a_zero_length_before_later_records_is_a_tear_never_written_over(tmp_path: Path) -> None:
    """Regression (issue 12, bug 4): a write whose first page never reached the disk but
    whose later pages did left a zero length that replay took for the end of the log; the
    next write went over it, and a replay after that read the torn write's stale hard
    state after the acknowledged one: the term went backwards."""
    wal = WriteAheadLog(tmp_path)
    wal.write(entries=make_entries(1, 1, 2), hard_state=HardState(term=4, vote=0, commit=2))
    end = wal.statistics()["segment_bytes"]
    wal.close()
    acknowledged_next = encode_record([2, 6, 1, 2])  # what the node writes after the restart
    stale = encode_record([2, 3, 2, 2])  # the torn write's later page: an older hard state
    (only,) = segments(tmp_path)
    with only.open("r+b") as f:
        f.seek(end)
        f.write(b"\x00" * len(acknowledged_next) + stale)

    wal = reopened(tmp_path)
    assert wal.state.hard_state == HardState(term=4, vote=0, commit=2)
    wal.write(hard_state=HardState(term=6, vote=1, commit=2))
    wal.close()

    assert reopened(tmp_path).state.hard_state == HardState(term=6, vote=1, commit=2)


def test_each_write_appends_its_own_records_only_whatever_the_log_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression (issue 12, bug 1): once the live log passed the segment size, every write
    started a new segment holding a copy of every live entry (and synced three times)."""
    written: list[int] = []
    syncs: list[int] = []
    real_pwrite, real_fdatasync = wal_module._pwrite_all, wal_module.os.fdatasync

    def counted_pwrite(fd: int, data: bytes, offset: int) -> None:
        written.append(len(data))
        real_pwrite(fd, data, offset)

    def counted_fdatasync(fd: int) -> None:
        syncs.append(fd)
        real_fdatasync(fd)

    monkeypatch.setattr(wal_module, "_pwrite_all", counted_pwrite)
    monkeypatch.setattr(wal_module.os, "fdatasync", counted_fdatasync)
    wal = WriteAheadLog(tmp_path, segment_bytes=64 << 10)
    value = b"v" * 1024
    for index in range(1, 1001):  # 1 MiB of live log, never compacted: 16 segments' worth
        wal.write(entries=[Entry(term=1, index=index, data=value)])
    wal.close()

    assert sum(written) < 1.2 * 1000 * len(value)
    assert len(syncs) <= 1000 + 16
    replayed = reopened(tmp_path, segment_bytes=64 << 10).state.entries
    assert replayed is not None
    assert [e.index for e in replayed] == list(range(1, 1001))


def test_segments_holding_only_compacted_entries_are_deleted_oldest_first(
    tmp_path: Path,
) -> None:
    wal = WriteAheadLog(tmp_path, segment_bytes=4096)
    for first in range(1, 400, 10):
        wal.write(entries=make_entries(1, first, first + 9))
        if first > 100:
            wal.write(compact_to=SnapshotMeta(index=first - 50, term=1), durable_applied=first)
    wal.close()

    assert wal.statistics()["segments_deleted"] > 0
    assert len(segments(tmp_path)) <= 3  # the live entries (59 small ones) span one or two
    state = reopened(tmp_path, segment_bytes=4096).state
    assert state.base == SnapshotMeta(index=341, term=1)
    assert state.entries == make_entries(1, 342, 400)


def test_live_entries_spanning_segments_replay_and_a_missing_one_is_refused(
    tmp_path: Path,
) -> None:
    wal = WriteAheadLog(tmp_path, segment_bytes=1)  # every write starts a new segment
    wal.write(entries=make_entries(1, 1, 3))
    wal.write(entries=make_entries(1, 4, 4), hard_state=HardState(term=1, vote=2, commit=4))
    wal.write(entries=make_entries(2, 4, 5))  # a conflict replaces entry 4
    wal.close()

    assert len(segments(tmp_path)) == 3
    state = reopened(tmp_path).state
    assert state.entries == make_entries(1, 1, 3) + make_entries(2, 4, 5)
    assert state.hard_state == HardState(term=1, vote=2, commit=4)

    segments(tmp_path)[0].unlink()  # entries 1-3 are not compacted: they cannot be missing
    with pytest.raises(StorageError, match="missing"):
        reopened(tmp_path)


def test_a_segment_whose_start_never_reached_the_disk_is_dropped(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path)
    wal.write(entries=make_entries(1, 1, 3))
    wal.close()
    (only,) = segments(tmp_path)
    (tmp_path / f"{1:016x}{SUFFIX}").write_bytes(b"\x00" * 4096)  # created, nothing written

    assert reopened(tmp_path).state.entries == make_entries(1, 1, 3)
    assert segments(tmp_path) == [only]


def test_damage_in_a_segment_that_is_not_the_newest_is_refused(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path, segment_bytes=1)
    wal.write(entries=make_entries(1, 1, 3))
    (old,) = segments(tmp_path)
    kept = old.read_bytes()
    wal.write(entries=make_entries(1, 4, 4))
    wal.close()
    old.write_bytes(kept[:-3])  # the older of two segments, cut short

    with pytest.raises(StorageError, match="damaged"):
        reopened(tmp_path)


@pytest.mark.parametrize(
    ("write", "message"),
    [
        ({"entries": make_entries(1, 9, 9)}, "gap"),
        ({"entries": make_entries(1, 2, 2)}, "replacing compacted"),
        ({"compact_to": SnapshotMeta(index=5, term=1), "durable_applied": 4}, "durably applied"),
        ({"compact_to": SnapshotMeta(index=4, term=7), "durable_applied": 5}, "differs from"),
    ],
)
def test_writes_that_would_break_the_log_are_refused_whole(
    tmp_path: Path, write: dict[str, object], message: str
) -> None:
    wal = WriteAheadLog(tmp_path)
    wal.write(entries=make_entries(1, 1, 5))
    wal.write(compact_to=SnapshotMeta(index=2, term=1), durable_applied=2)

    with pytest.raises(InvalidBatchError, match=message):
        wal.write(hard_state=HardState(term=9), **write)  # type: ignore[arg-type]
    wal.close()

    state = reopened(tmp_path).state
    assert (state.base.index, state.last_index, state.hard_state) == (2, 5, HardState())


def test_the_base_membership_survives_compaction_reset_and_new_segments(tmp_path: Path) -> None:
    from eraft_trio.raft.membership import Membership

    four = Membership.of([0, 1, 2], [3]).with_addresses({3: "127.0.0.1:6091"})
    wal = WriteAheadLog(tmp_path, segment_bytes=1)  # every write starts a segment: START
    wal.write(entries=make_entries(1, 1, 5))
    wal.write(compact_to=SnapshotMeta(index=3, term=1, membership=four), durable_applied=3)
    wal.write(entries=make_entries(1, 6, 6))  # in a new segment, after the BASE's
    wal.close()
    assert reopened(tmp_path, segment_bytes=1).state.base.membership == four
    assert len(segments(tmp_path)) >= 2

    three = Membership.of([0, 1, 3])
    again = reopened(tmp_path)
    again.write(reset_to=SnapshotMeta(index=9, term=3, membership=three))
    again.close()
    assert reopened(tmp_path).state.base == SnapshotMeta(index=9, term=3, membership=three)


def test_a_base_record_written_before_memberships_reads_as_the_bootstrap_one(
    tmp_path: Path,
) -> None:
    wal = WriteAheadLog(tmp_path)
    wal.write(entries=make_entries(1, 1, 5))
    wal.close()
    with open(segments(tmp_path)[-1], "r+b") as f:  # an older build's BASE: no membership
        f.seek(wal.statistics()["segment_bytes"])
        f.write(encode_record([3, 2, 1]))
    state = reopened(tmp_path).state
    assert state.base == SnapshotMeta(index=2, term=1) and state.base.membership is None


def test_a_store_preallocates_its_segments_to_the_size_it_was_opened_with(
    tmp_path: Path,
) -> None:
    # [raft] wal_segment_bytes reaches the disk: the first segment takes that much, not
    # the 32 MiB default (a full test run once filled its machine's disk with those).
    store = NodeStore.open(tmp_path / "node", IDENTITY, wal_segment_bytes=256 << 10)
    try:
        segments = sorted((tmp_path / "node").rglob("*.wal"))
        assert [s.stat().st_size for s in segments] == [256 << 10]
        assert segments[0].stat().st_blocks * 512 <= 1 << 20
    finally:
        store.close()


def test_records_larger_than_the_smallest_segment_replay_across_compactions(
    tmp_path: Path,
) -> None:
    # [raft] wal_segment_bytes may be as small as 64 KiB while a value may be 1 MiB: each
    # such record grows a segment of its own. 1 MiB and 10 KiB values interleaved, past
    # many segments and compactions, replay whole after a restart (about 26 MiB written).
    small = wal_module.MIN_SEGMENT_BYTES
    wal = WriteAheadLog(tmp_path, segment_bytes=small)
    expected: list[Entry] = []
    index = 0
    for round_ in range(24):
        batch = [Entry(term=1, index=index + 1, data=bytes([round_]) * (1 << 20))]
        batch += [
            Entry(term=1, index=index + 2 + i, data=bytes([i]) * (10 << 10)) for i in range(8)
        ]
        index += len(batch)
        wal.write(entries=batch)
        expected += batch
        if round_ % 6 == 5:  # compact all but the last two batches
            base = expected[-19]
            wal.write(compact_to=SnapshotMeta(index=base.index, term=1), durable_applied=base.index)
            expected = expected[-18:]
    wal.close()

    assert wal.statistics()["segments_deleted"] > 0
    state = reopened(tmp_path, segment_bytes=small).state
    assert state.entries == expected
    assert len(segments(tmp_path)) < 24
