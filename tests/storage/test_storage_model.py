"""Property tests: the store against simple in-memory models of the log and of the tables."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from eraft_trio.raft.types import Entry, HardState, SnapshotMeta
from eraft_trio.storage.node_store import NodeStore
from eraft_trio.storage.view import MemoryView, TableView

from .conftest import IDENTITY
from .write_batch import WriteBatch, write_batch


@dataclass
class LogModel:
    """What the store should hold, kept the obvious way."""

    entries: dict[int, Entry] = field(default_factory=dict)
    snapshot: SnapshotMeta = field(default_factory=SnapshotMeta)
    applied: SnapshotMeta = field(default_factory=SnapshotMeta)
    hard_state: HardState = field(default_factory=HardState)
    tables: dict[bytes, bytes] = field(default_factory=dict)

    @property
    def last(self) -> int:
        return max(self.entries, default=self.snapshot.index)

    def term_at(self, index: int) -> int:
        return self.snapshot.term if index == self.snapshot.index else self.entries[index].term

    def entries_from(self, first: int, count: int, term: int) -> list[Entry]:
        return [
            Entry(term=term, index=i, data=b"%d@%d" % (i, term))
            for i in range(first, first + count)
        ]


operations = st.one_of(
    st.tuples(st.just("append"), st.integers(1, 5), st.integers(0, 1)),
    st.tuples(st.just("overwrite"), st.integers(0, 1000), st.integers(1, 4)),
    st.tuples(st.just("apply"), st.integers(1, 6)),
    st.tuples(st.just("compact"), st.integers(0, 1000)),
    st.tuples(st.just("hard_state"), st.integers(0, 9), st.integers(0, 2)),
    st.tuples(st.just("reopen")),
)


def run_operation(store: NodeStore, model: LogModel, op: tuple[object, ...]) -> None:
    kind = op[0]
    if kind == "append":
        _, count, bump = op
        assert isinstance(count, int) and isinstance(bump, int)
        term = model.term_at(model.last) + bump
        entries = model.entries_from(model.last + 1, count, term)
        write_batch(store, WriteBatch(entries=entries))
        model.entries.update((e.index, e) for e in entries)
    elif kind == "overwrite":
        _, where, count = op
        assert isinstance(where, int) and isinstance(count, int)
        first = model.applied.index + 1 + where * (model.last - model.applied.index) // 1000
        entries = model.entries_from(first, count, model.term_at(model.last) + 1)
        write_batch(store, WriteBatch(entries=entries))
        model.entries = {i: e for i, e in model.entries.items() if i < first}
        model.entries.update((e.index, e) for e in entries)
    elif kind == "apply":
        _, count = op
        assert isinstance(count, int)
        target = min(model.last, model.applied.index + count)
        if target == model.applied.index:
            return
        indexes = range(model.applied.index + 1, target + 1)

        def apply(view: TableView) -> list[object]:
            for i in indexes:
                view.put("kv", b"%d" % (i % 7), model.entries[i].data)
            return list(indexes)

        term = model.term_at(target)
        assert write_batch(
            store, WriteBatch(apply=apply, applied_index=target, applied_term=term)
        ) == list(indexes)
        for i in indexes:
            model.tables[b"%d" % (i % 7)] = model.entries[i].data
        model.applied = SnapshotMeta(target, term)
    elif kind == "compact":
        _, where = op
        assert isinstance(where, int)
        if model.applied.index <= model.snapshot.index:
            return
        span = model.applied.index - model.snapshot.index - 1
        to = model.snapshot.index + 1 + where * span // 1000
        meta = SnapshotMeta(to, model.term_at(to))
        write_batch(store, WriteBatch(compact_to=meta))
        model.entries = {i: e for i, e in model.entries.items() if i > to}
        model.snapshot = meta
    elif kind == "hard_state":
        _, voted_term, vote = op
        assert isinstance(voted_term, int) and isinstance(vote, int)
        hard_state = HardState(term=voted_term, vote=vote or None, commit=model.applied.index)
        write_batch(store, WriteBatch(hard_state=hard_state))
        model.hard_state = hard_state


def check(store: NodeStore, model: LogModel) -> None:
    loaded = store.load()
    assert loaded.entries == [model.entries[i] for i in sorted(model.entries)]
    assert loaded.snapshot == model.snapshot
    assert (loaded.applied, loaded.applied_term) == (model.applied.index, model.applied.term)
    assert loaded.hard_state == model.hard_state
    stats = store.statistics()
    assert stats["log_entries"] == len(model.entries)  # nothing compacted is left behind
    assert (stats["first_index"], stats["last_index"]) == (model.snapshot.index + 1, model.last)
    with store.read_view() as view:
        assert dict(view.scan("kv")) == model.tables


@settings(max_examples=40, deadline=None)
@given(st.lists(operations, max_size=25))
def test_random_log_operations_match_the_model_after_reopen(ops: list[tuple[object, ...]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "node"
        model = LogModel()
        store = NodeStore.open(path, IDENTITY, map_size=1 << 20)
        try:
            for op in ops:
                if op[0] == "reopen":
                    store.close()
                    store = NodeStore.open(path, IDENTITY, map_size=1 << 20)
                else:
                    run_operation(store, model, op)
            store.close()
            store = NodeStore.open(path, IDENTITY, map_size=1 << 20)
            check(store, model)
        finally:
            store.close()


tables = st.sampled_from(["a", "ab", "b"])
keys = st.binary(max_size=3)
view_operations = st.one_of(
    st.tuples(st.just("put"), tables, keys, st.binary(max_size=4)),
    st.tuples(st.just("delete"), tables, keys),
    st.tuples(st.just("get"), tables, keys),
    st.tuples(st.just("scan"), tables, keys, st.none() | keys),
    st.tuples(st.just("scan_and_write"), tables),
)


def run_view_operation(view: TableView, op: tuple[object, ...]) -> object:
    kind, table = op[0], op[1]
    assert isinstance(table, str)
    if kind == "put":
        view.put(table, op[2], op[3])  # type: ignore[arg-type]
        return None
    if kind == "delete":
        view.delete(table, op[2])  # type: ignore[arg-type]
        return None
    if kind == "get":
        return view.get(table, op[2])  # type: ignore[arg-type]
    if kind == "scan":
        return list(view.scan(table, op[2], op[3]))  # type: ignore[arg-type]
    # Writing while scanning must behave the same in both views.
    seen = []
    for key, value in view.scan(table):
        seen.append(key)
        view.delete(table, key)
        view.put(table, key + b"+", value)
    return seen


@settings(max_examples=60, deadline=None)
@given(st.lists(view_operations, max_size=30))
def test_the_lmdb_view_behaves_like_the_memory_view(ops: list[tuple[object, ...]]) -> None:
    memory = MemoryView()
    expected = [run_view_operation(memory, op) for op in ops]
    with tempfile.TemporaryDirectory() as folder:
        store = NodeStore.open(Path(folder) / "node", IDENTITY, map_size=1 << 20)
        try:
            write_batch(store, WriteBatch(entries=[Entry(term=1, index=1)]))
            actual = write_batch(
                store,
                WriteBatch(
                    apply=lambda view: [run_view_operation(view, op) for op in ops],
                    applied_index=1,
                    applied_term=1,
                ),
            )
            with store.read_view() as view:
                stored = {t: list(view.scan(t)) for t in ("a", "ab", "b")}
        finally:
            store.close()
    assert actual == expected
    assert stored == {t: list(memory.scan(t)) for t in ("a", "ab", "b")}
