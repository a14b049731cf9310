"""Raft state survives close and reopen; suffix overwrite and compaction keep the log right."""

from __future__ import annotations

import pytest

from eraft_trio.raft.types import EntryKind, HardState, SnapshotMeta
from eraft_trio.storage.errors import InvalidBatchError, StorageError

from .conftest import StoreOpener, make_entries
from .write_batch import WriteBatch, write_batch


def test_entries_hard_state_and_snapshot_survive_reopen(open_store: StoreOpener) -> None:
    store = open_store()
    entries = make_entries(1, 1, 4) + make_entries(2, 5, 6)
    entries[2] = type(entries[2])(term=1, index=3, data=b"", kind=EntryKind.NOOP)
    write_batch(store, WriteBatch(entries=entries, hard_state=HardState(term=2, vote=1, commit=5)))
    write_batch(
        store, WriteBatch(applied_index=4, applied_term=1, compact_to=SnapshotMeta(index=3, term=1))
    )
    store.close()

    loaded = open_store().load()

    assert loaded.hard_state == HardState(term=2, vote=1, commit=5)
    assert loaded.snapshot == SnapshotMeta(index=3, term=1)
    assert loaded.entries == entries[3:]
    assert (loaded.applied, loaded.applied_term) == (4, 1)


def test_a_new_store_loads_empty_state(open_store: StoreOpener) -> None:
    loaded = open_store().load()

    assert loaded.hard_state == HardState()
    assert loaded.snapshot == SnapshotMeta()
    assert loaded.entries == []
    assert (loaded.applied, loaded.applied_term) == (0, 0)


def test_vote_none_round_trips(open_store: StoreOpener) -> None:
    store = open_store()
    write_batch(store, WriteBatch(hard_state=HardState(term=7, vote=None, commit=0)))

    assert store.load().hard_state == HardState(term=7, vote=None, commit=0)


def test_entries_replace_the_stored_suffix_from_their_first_index(
    open_store: StoreOpener,
) -> None:
    store = open_store()
    write_batch(store, WriteBatch(entries=make_entries(1, 1, 10)))

    write_batch(store, WriteBatch(entries=make_entries(3, 6, 7)))
    store.close()

    assert open_store().load().entries == make_entries(1, 1, 5) + make_entries(3, 6, 7)


def test_compaction_drops_entries_up_to_the_position(open_store: StoreOpener) -> None:
    store = open_store()
    write_batch(store, WriteBatch(entries=make_entries(1, 1, 8)))
    write_batch(store, WriteBatch(applied_index=6, applied_term=1))

    write_batch(store, WriteBatch(compact_to=SnapshotMeta(index=5, term=1)))

    loaded = store.load()
    assert loaded.snapshot == SnapshotMeta(index=5, term=1)
    assert [e.index for e in loaded.entries] == [6, 7, 8]
    stats = store.statistics()
    assert (stats["first_index"], stats["last_index"], stats["log_entries"]) == (6, 8, 3)


def test_compaction_to_an_older_position_changes_nothing(open_store: StoreOpener) -> None:
    store = open_store()
    write_batch(store, WriteBatch(entries=make_entries(1, 1, 8)))
    write_batch(
        store, WriteBatch(applied_index=6, applied_term=1, compact_to=SnapshotMeta(index=5, term=1))
    )

    write_batch(store, WriteBatch(compact_to=SnapshotMeta(index=3, term=1)))

    assert store.load().snapshot == SnapshotMeta(index=5, term=1)
    assert len(store.load().entries) == 3


def test_appending_after_a_compacted_log_continues_from_the_snapshot(
    open_store: StoreOpener,
) -> None:
    store = open_store()
    write_batch(store, WriteBatch(entries=make_entries(1, 1, 4)))
    write_batch(
        store, WriteBatch(applied_index=4, applied_term=1, compact_to=SnapshotMeta(index=4, term=1))
    )

    write_batch(store, WriteBatch(entries=make_entries(2, 5, 6)))

    assert store.load().entries == make_entries(2, 5, 6)


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        (WriteBatch(entries=make_entries(1, 7, 8)), "gap"),
        (WriteBatch(entries=make_entries(2, 1, 3)), "replacing compacted entries"),
        (WriteBatch(applied_index=2, applied_term=1), "does not advance"),
        (WriteBatch(compact_to=SnapshotMeta(index=4, term=1)), "only 3 is durably applied"),
        (WriteBatch(compact_to=SnapshotMeta(index=2, term=5)), "differs from the term"),
    ],
)
def test_batches_that_would_break_raft_invariants_are_refused_whole(
    open_store: StoreOpener, batch: WriteBatch, message: str
) -> None:
    store = open_store()
    write_batch(store, WriteBatch(entries=make_entries(1, 1, 4)))
    write_batch(
        store, WriteBatch(applied_index=3, applied_term=1, compact_to=SnapshotMeta(index=1, term=1))
    )
    before = store.load()

    with pytest.raises(InvalidBatchError, match=message):
        write_batch(
            store,
            WriteBatch(
                hard_state=HardState(term=9, vote=2, commit=4),
                entries=batch.entries,
                applied_index=batch.applied_index,
                applied_term=batch.applied_term,
                compact_to=batch.compact_to,
            ),
        )

    assert store.load() == before


def test_batch_entries_must_be_consecutive() -> None:
    entries = make_entries(1, 1, 3)

    with pytest.raises(InvalidBatchError, match="consecutive"):
        WriteBatch(entries=[entries[0], entries[2]])


def test_apply_without_an_applied_index_is_refused() -> None:
    with pytest.raises(InvalidBatchError, match="applied_index"):
        WriteBatch(apply=lambda view: [])


def test_a_closed_store_refuses_reads_and_writes(open_store: StoreOpener) -> None:
    store = open_store()
    store.close()

    with pytest.raises(StorageError, match="closed"):
        store.load()
    with pytest.raises(StorageError, match="closed"):
        write_batch(store, WriteBatch(hard_state=HardState(term=1)))


def test_the_applied_membership_survives_reopen_and_rides_with_a_snapshot(
    open_store: StoreOpener,
) -> None:
    from eraft_trio.raft.membership import Membership

    four = Membership.of([0, 1, 2], [3]).with_addresses({3: "127.0.0.1:6091"})
    store = open_store()
    write_batch(store, WriteBatch(entries=make_entries(1, 1, 2)))
    store.apply(None, 2, 1, four)
    store.close()

    store = open_store()
    reader = store.open_snapshot()
    try:
        assert reader.meta == SnapshotMeta(index=2, term=1, membership=four)
    finally:
        reader.close()
    write_batch(store, WriteBatch(entries=make_entries(1, 3, 3)))
    store.apply(None, 3, 1)  # no membership given: the bootstrap one
    reader = store.open_snapshot()
    try:
        assert reader.meta == SnapshotMeta(index=3, term=1) and reader.meta.membership is None
    finally:
        reader.close()
