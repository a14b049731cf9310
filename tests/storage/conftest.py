"""Fixtures for the storage tests: real LMDB stores in pytest's tmp_path."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from eraft_trio.raft.types import Entry
from eraft_trio.storage.node_store import NodeStore

IDENTITY: dict[str, str | int] = {"cluster": "test", "role": "shard", "group": 1, "node": 0}

StoreOpener = Callable[..., NodeStore]


def make_entries(term: int, first: int, last: int) -> list[Entry]:
    """Entries first..last (inclusive) of `term`, each carrying its own index as data."""
    return [Entry(term=term, index=i, data=f"e{i}t{term}".encode()) for i in range(first, last + 1)]


@pytest.fixture
def open_store(tmp_path: Path) -> Iterator[StoreOpener]:
    """Opens stores (default: tmp_path/node, IDENTITY) and closes whatever is left open."""
    opened: list[NodeStore] = []

    def opener(
        data_dir: Path | None = None, identity: dict[str, str | int] | None = None, **kwargs: int
    ) -> NodeStore:
        store = NodeStore.open(data_dir or tmp_path / "node", identity or IDENTITY, **kwargs)
        opened.append(store)
        return store

    yield opener
    for store in opened:
        store.close()
