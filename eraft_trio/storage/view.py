"""The table interface a replicated state machine sees, and an in-memory version of it.

State machines (config and shard roles) are pure: they read and write their tables
only through a `TableView`, which the storage layer backs with an LMDB transaction
(so the applied index commits atomically with the state it describes) and tests and
the simulator back with `MemoryView`. Keys and values are bytes; tables are short
ASCII names fixed by each state machine.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from typing import Protocol


class TableView(Protocol):
    def get(self, table: str, key: bytes) -> bytes | None: ...

    def put(self, table: str, key: bytes, value: bytes) -> None: ...

    def delete(self, table: str, key: bytes) -> None:
        """Delete `key`; deleting a missing key is not an error."""
        ...

    def scan(
        self, table: str, start: bytes = b"", end: bytes | None = None, limit: int | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        """Yield (key, value) with start <= key < end (end None: to the table's end), in key
        order, the first `limit` rows only (None: all)."""
        ...

    def write_rows(self, table: str, rows: list[tuple[bytes, bytes | None]]) -> None:
        """Put each (key, value), or delete the key where value is None; `rows` are in key
        order with each key once, so a store can write them in one pass."""
        ...


class MemoryView:
    """A dict-backed TableView for tests and the simulator (sorted keys per table)."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[bytes, bytes]] = {}

    def get(self, table: str, key: bytes) -> bytes | None:
        return self.tables.get(table, {}).get(key)

    def put(self, table: str, key: bytes, value: bytes) -> None:
        self.tables.setdefault(table, {})[bytes(key)] = bytes(value)

    def delete(self, table: str, key: bytes) -> None:
        self.tables.get(table, {}).pop(key, None)

    def write_rows(self, table: str, rows: list[tuple[bytes, bytes | None]]) -> None:
        put_or_delete_each(self, table, rows)

    def scan(
        self, table: str, start: bytes = b"", end: bytes | None = None, limit: int | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        rows = self.tables.get(table, {})
        keys = sorted(rows)
        lo = bisect.bisect_left(keys, start)
        hi = len(keys) if end is None else bisect.bisect_left(keys, end)
        if limit is not None:
            hi = min(hi, lo + limit)
        # Materialise the keys first so callers may write to the table while iterating;
        # a key deleted meanwhile is skipped, as the LMDB view does.
        for key in keys[lo:hi]:
            value = rows.get(key)
            if value is not None:
                yield key, value

    def copy(self) -> MemoryView:
        clone = MemoryView()
        clone.tables = {name: dict(rows) for name, rows in self.tables.items()}
        return clone


def put_or_delete_each(view: TableView, table: str, rows: list[tuple[bytes, bytes | None]]) -> None:
    """write_rows for a view with nothing faster than one put or delete per row."""
    for key, value in rows:
        if value is None:
            view.delete(table, key)
        else:
            view.put(table, key, value)
