"""The write-ahead log: replay after restarts, torn tails, conflicts, rotation, refusals."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from eraft_trio.raft.types import HardState, SnapshotMeta
from eraft_trio.storage.errors import InvalidBatchError, StorageError
from eraft_trio.storage.wal import SUFFIX, WriteAheadLog, encode_record

from .conftest import make_entries


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


@pytest.mark.parametrize("tear", [b"\x00\x00", b"garbage!", encode_record([1, 6, []])[:-1]])
def test_replay_stops_at_a_torn_tail_and_writing_goes_on_in_a_new_segment(
    tmp_path: Path, tear: bytes
) -> None:
    wal = WriteAheadLog(tmp_path)
    wal.write(entries=make_entries(1, 1, 5))
    wal.close()
    (only,) = segments(tmp_path)
    with only.open("ab") as f:
        f.write(tear)  # a write that never finished (so was never acknowledged)

    wal = reopened(tmp_path)
    assert wal.state.entries == make_entries(1, 1, 5)
    wal.write(entries=make_entries(1, 6, 6))
    wal.close()
    assert [p.name for p in segments(tmp_path)] != [only.name]  # the torn one is gone
    assert reopened(tmp_path).state.entries == make_entries(1, 1, 6)


def test_segments_rotate_keeping_only_the_live_state(tmp_path: Path) -> None:
    wal = WriteAheadLog(tmp_path, segment_bytes=4096)
    for first in range(1, 400, 10):
        wal.write(entries=make_entries(1, first, first + 9))
        if first > 100:
            wal.write(compact_to=SnapshotMeta(index=first - 50, term=1), durable_applied=first)
    wal.close()

    assert len(segments(tmp_path)) == 1
    state = reopened(tmp_path, segment_bytes=4096).state
    assert state.base == SnapshotMeta(index=341, term=1)
    assert state.entries == make_entries(1, 342, 400)


def test_a_crash_between_starting_a_segment_and_deleting_the_old_one_replays_both(
    tmp_path: Path,
) -> None:
    wal = WriteAheadLog(tmp_path, segment_bytes=1)  # every write starts a new segment
    wal.write(entries=make_entries(1, 1, 3))
    (old,) = segments(tmp_path)
    kept = tmp_path / "kept"
    shutil.copy(old, kept)
    wal.write(entries=make_entries(1, 4, 4), hard_state=HardState(term=1, vote=2, commit=4))
    wal.close()
    shutil.copy(kept, old)  # as if the old segment had not been deleted yet
    kept.unlink()

    assert len(segments(tmp_path)) == 2
    state = reopened(tmp_path).state
    assert state.entries == make_entries(1, 1, 4)
    assert state.hard_state == HardState(term=1, vote=2, commit=4)
    assert len(segments(tmp_path)) == 1  # and opening tidied up


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
