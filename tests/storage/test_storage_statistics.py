"""Group commit is one durable commit per batch, and statistics report the store's shape."""

from __future__ import annotations

import ast
from pathlib import Path

import eraft_trio.storage
from eraft_trio.raft.types import HardState, SnapshotMeta
from eraft_trio.storage.view import TableView

from .conftest import StoreOpener, make_entries
from .write_batch import WriteBatch, write_batch


def test_a_batch_with_every_duty_is_one_durable_commit(open_store: StoreOpener) -> None:
    store = open_store()
    write_batch(store, WriteBatch(entries=make_entries(1, 1, 3)))
    before = store.statistics()["fsyncs"]

    def apply(view: TableView) -> list[object]:
        view.put("kv", b"k", b"v")
        return ["ok"]

    result = write_batch(
        store,
        WriteBatch(
            entries=make_entries(1, 4, 9),
            hard_state=HardState(term=1, vote=0, commit=5),
            apply=apply,
            applied_index=5,
            applied_term=1,
            compact_to=SnapshotMeta(index=4, term=1),
        ),
    )

    stats = store.statistics()
    assert result == ["ok"]
    assert stats["fsyncs"] == before + 1
    assert stats["commit_latency_mean_ms"] >= 0.0
    assert {
        key: stats[key]
        for key in ("first_index", "last_index", "log_entries", "snapshot_index", "applied_index")
    } == {
        "first_index": 5,
        "last_index": 9,
        "log_entries": 5,
        "snapshot_index": 4,
        "applied_index": 5,
    }
    assert 0 < stats["used_bytes"] <= stats["map_size"]


def test_the_storage_package_does_not_import_trio() -> None:
    # The trio driver calls storage from worker threads; storage itself stays synchronous.
    folder = Path(eraft_trio.storage.__file__).parent
    imported: set[str] = set()
    for source in folder.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split(".")[0])
    assert "lmdb" in imported
    assert "trio" not in imported
