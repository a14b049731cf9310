"""BufferedView (one apply batch's view) shows a state machine exactly what the view it
wraps would, reads each row from it once, and writes the batch's rows back in key order."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lmdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eraft_trio.storage.buffered_view import BufferedView
from eraft_trio.storage.lmdb_view import LmdbTableView
from eraft_trio.storage.state_env import open_sub_dbs
from eraft_trio.storage.view import MemoryView

TABLES = ("a", "b")
KEYS = [bytes([k]) for k in range(8)]

keys = st.sampled_from(KEYS)
tables = st.sampled_from(TABLES)
values = st.binary(max_size=3)
# An operation, or a scan during which some writes happen as its rows are reached.
operations = st.one_of(
    st.tuples(st.just("get"), tables, keys),
    st.tuples(st.just("put"), tables, keys, values),
    st.tuples(st.just("delete"), tables, keys),
    st.tuples(st.just("write_rows"), tables, st.dictionaries(keys, st.none() | values)),
    st.tuples(
        st.just("scan"),
        tables,
        keys,
        st.none() | keys,
        st.lists(st.tuples(keys, st.none() | values), max_size=3),
    ),
)


def run(view: Any, ops: list[tuple[Any, ...]]) -> list[Any]:
    """What a state machine would observe doing `ops` on `view`."""
    seen: list[Any] = []
    for op in ops:
        kind, table = op[0], op[1]
        if kind == "get":
            seen.append(view.get(table, op[2]))
        elif kind == "put":
            view.put(table, op[2], op[3])
        elif kind == "delete":
            view.delete(table, op[2])
        elif kind == "write_rows":
            view.write_rows(table, sorted(op[2].items()))
        else:
            _, _, start, end, writes = op
            rows = []
            for n, (key, value) in enumerate(view.scan(table, start, end)):
                rows.append((key, value))
                if n < len(writes):  # write while scanning: delete or change some row
                    target, new = writes[n]
                    if new is None:
                        view.delete(table, target)
                    else:
                        view.put(table, target, new)
            seen.append(rows)
    return seen


def seeded(view: Any) -> None:
    for table in TABLES:
        for key in KEYS[::2]:
            view.put(table, key, b"old" + key)


@settings(max_examples=300, deadline=None)
@given(st.lists(operations, max_size=25))
def test_a_batch_sees_what_the_plain_view_would_and_leaves_the_same_tables(
    ops: list[tuple[Any, ...]],
) -> None:
    plain = MemoryView()
    seeded(plain)
    under = MemoryView()
    seeded(under)
    buffered = BufferedView(under)
    assert run(buffered, ops) == run(plain, ops)
    buffered.write_back()
    assert {t: r for t, r in under.tables.items() if r} == {
        t: r for t, r in plain.tables.items() if r
    }


class CountingView(MemoryView):
    def __init__(self) -> None:
        super().__init__()
        self.gets = 0
        self.writes: list[tuple[str, list[tuple[bytes, bytes | None]]]] = []

    def get(self, table: str, key: bytes) -> bytes | None:
        self.gets += 1
        return super().get(table, key)

    def put(self, table: str, key: bytes, value: bytes) -> None:
        raise AssertionError("a buffered batch writes rows only through write_rows")

    def write_rows(self, table: str, rows: list[tuple[bytes, bytes | None]]) -> None:
        self.writes.append((table, rows))
        for key, value in rows:
            if value is None:
                self.tables.get(table, {}).pop(key, None)
            else:
                self.tables.setdefault(table, {})[key] = value


def test_each_row_is_read_once_and_written_once_in_key_order() -> None:
    under = CountingView()
    under.tables = {"meta": {b"config": b"c1"}}
    batch = BufferedView(under)
    for n in (5, 3, 9, 3):  # four "puts", each reading the same config row
        assert batch.get("meta", b"config") == b"c1"
        batch.put("kv", b"k%d" % n, b"v%d" % n)
    batch.delete("kv", b"k9")
    assert batch.get("kv", b"k3") == b"v3"  # its own write, not the wrapped view's
    assert under.gets == 1 and under.writes == []
    batch.write_back()
    assert under.writes == [("kv", [(b"k3", b"v3"), (b"k5", b"v5"), (b"k9", None)])]
    assert under.tables["kv"] == {b"k3": b"v3", b"k5": b"v5"}


@contextmanager
def lmdb_view(path: Path) -> Iterator[LmdbTableView]:
    env = lmdb.open(str(path), max_dbs=8, map_size=1 << 24)
    try:
        dbs = open_sub_dbs(env)
        with env.begin(write=True) as txn:
            yield LmdbTableView(txn, dbs.sm, writable=True)
    finally:
        env.close()


@pytest.mark.parametrize("seed", range(5))
def test_over_lmdb_a_batch_matches_memory(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    ops: list[tuple[Any, ...]] = []
    for _ in range(200):
        table, key = rng.choice(TABLES), rng.choice(KEYS)
        kind = rng.choice(["get", "put", "delete", "scan"])
        if kind == "put":
            ops.append(("put", table, key, rng.randbytes(rng.randrange(4))))
        elif kind == "scan":
            writes = [(rng.choice(KEYS), rng.choice([None, b"s"])) for _ in range(2)]
            ops.append(("scan", table, key, None, writes))
        else:
            ops.append((kind, table, key))
    plain = MemoryView()
    seeded(plain)
    with lmdb_view(tmp_path / "db") as view:
        seeded(view)
        buffered = BufferedView(view)
        assert run(buffered, ops) == run(plain, ops)
        buffered.write_back()
        for table in TABLES:
            assert dict(view.scan(table)) == plain.tables.get(table, {})


def test_lmdb_write_rows_puts_and_deletes(tmp_path: Path) -> None:
    with lmdb_view(tmp_path / "db") as view:
        view.put("t", b"gone", b"x")
        view.write_rows("t", [(b"a", b"1"), (b"b", b""), (b"gone", None), (b"never", None)])
        assert list(view.scan("t")) == [(b"a", b"1"), (b"b", b"")]
        assert list(view.scan("u")) == []  # another table untouched


def test_a_scan_with_a_limit_lists_the_first_rows_including_those_written_in_the_batch() -> None:
    """Session expiry scans its age index with a limit through the apply's buffered view."""
    inner = MemoryView()
    for key in (b"b", b"d"):
        inner.put("t", key, b"old")
    view = BufferedView(inner)
    view.put("t", b"a", b"new")
    view.delete("t", b"b")
    assert list(view.scan("t", limit=2)) == [(b"a", b"new"), (b"d", b"old")]
