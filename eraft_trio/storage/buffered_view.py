"""BufferedView: one apply batch's TableView, reading each row once and writing rows together.

The runtime applies a batch of committed commands in one transaction, and nothing else
touches the tables meanwhile. Commands of a batch read the same rows again and again
(every put reads the current config and its bucket's state) and write rows one at a
time, each a Python call into LMDB and a B-tree descent. Over this view a row is read
from the transaction once per batch, writes are kept until `write_back()`, and then go
to the transaction table by table in key order, in one call each (one cursor pass in
LMDB). What a state machine sees is exactly what the wrapped view would show: reads see
the batch's own writes, and `scan` follows the TableView rules (keys listed when it
starts, each value read when its row is reached, rows deleted meanwhile skipped).
"""

from __future__ import annotations

from collections.abc import Iterator

from .view import TableView, put_or_delete_each

_MISSING = object()


class BufferedView:
    """A TableView over `view` for one batch; call `write_back()` once it is applied."""

    def __init__(self, view: TableView) -> None:
        self._view = view
        self._rows: dict[str, dict[bytes, bytes | None]] = {}  # read or written; None: absent
        self._pending: dict[str, dict[bytes, bytes | None]] = {}  # written; None: deleted

    def get(self, table: str, key: bytes) -> bytes | None:
        rows = self._rows.get(table)
        if rows is None:
            rows = self._rows[table] = {}
        value = rows.get(key, _MISSING)
        if value is _MISSING:
            value = rows[bytes(key)] = self._view.get(table, key)
        return value  # type: ignore[return-value]

    def put(self, table: str, key: bytes, value: bytes) -> None:
        key, value = bytes(key), bytes(value)
        self._rows.setdefault(table, {})[key] = value
        self._pending.setdefault(table, {})[key] = value

    def delete(self, table: str, key: bytes) -> None:
        key = bytes(key)
        self._rows.setdefault(table, {})[key] = None
        self._pending.setdefault(table, {})[key] = None

    def scan(
        self, table: str, start: bytes = b"", end: bytes | None = None, limit: int | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        # The rows written so far go down first, so the wrapped view lists the right keys
        # (and the right first `limit` of them); a row written while the scan runs is
        # looked up here when the scan reaches it.
        self._write_table(table)
        for key, value in self._view.scan(table, start, end, limit):
            pending = self._pending.get(table)
            if pending is not None and key in pending:
                changed = pending[key]
                if changed is None:
                    continue
                value = changed
            yield key, value

    def write_rows(self, table: str, rows: list[tuple[bytes, bytes | None]]) -> None:
        put_or_delete_each(self, table, rows)

    def write_back(self) -> None:
        """Write every row changed through this view to the wrapped one."""
        for table in list(self._pending):
            self._write_table(table)

    def _write_table(self, table: str) -> None:
        pending = self._pending.pop(table, None)
        if pending:
            self._view.write_rows(table, sorted(pending.items()))
