"""A TableView over one LMDB transaction: every table in the `sm` sub-db as table NUL key."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import lmdb

from .errors import StorageError

_SEPARATOR = b"\x00"
# The byte after the separator, so [table NUL, table \x01) holds exactly one table's keys.
_PAST_SEPARATOR = b"\x01"


@lru_cache(maxsize=256)
def table_prefix(table: str) -> bytes:
    """The key prefix of `table`; names are short ASCII without NUL so prefixes never overlap."""
    if not table or "\x00" in table or not table.isascii():
        raise ValueError(f"table name {table!r}: must be non-empty ASCII without NUL")
    return table.encode("ascii") + _SEPARATOR


def table_key(table: str, key: bytes) -> bytes:
    return table_prefix(table) + bytes(key)


class LmdbTableView:
    """TableView over `txn`'s `sm` sub-db; read-only unless made for a write transaction."""

    def __init__(self, txn: lmdb.Transaction[bytes], sm_db: Any, *, writable: bool) -> None:
        self._txn = txn
        self._db = sm_db
        self._writable = writable

    def get(self, table: str, key: bytes) -> bytes | None:
        value: bytes | None = self._txn.get(table_key(table, key), db=self._db)
        return value

    def put(self, table: str, key: bytes, value: bytes) -> None:
        self._check_writable()
        self._txn.put(table_key(table, key), bytes(value), db=self._db)

    def delete(self, table: str, key: bytes) -> None:
        self._check_writable()
        self._txn.delete(table_key(table, key), db=self._db)

    def write_rows(self, table: str, rows: list[tuple[bytes, bytes | None]]) -> None:
        """The puts in one cursor pass (one call into LMDB, keys in order), then the deletes."""
        self._check_writable()
        prefix = table_prefix(table)
        puts = [(prefix + key, value) for key, value in rows if value is not None]
        if puts:
            self._txn.cursor(db=self._db).putmulti(puts)
        for key, value in rows:
            if value is None:
                self._txn.delete(prefix + key, db=self._db)

    def scan(
        self, table: str, start: bytes = b"", end: bytes | None = None, limit: int | None = None
    ) -> Iterator[tuple[bytes, bytes]]:
        """Rows with start <= key < end in key order, the first `limit` of them (None: all).

        In a writable view this follows MemoryView exactly, so a state machine that
        writes while scanning acts the same on every replica and in the simulator: the
        keys in range (up to `limit`) are listed before the first row is yielded, and
        each value is read when its row is reached (rows deleted meanwhile are skipped).
        Read-only views stream straight from the cursor.
        """
        prefix = table_prefix(table)
        low = prefix + bytes(start)
        high = prefix[:-1] + _PAST_SEPARATOR if end is None else prefix + bytes(end)
        if not self._writable:
            yield from itertools.islice(self._rows(prefix, low, high), limit)
            return
        keys = [key for key, _ in itertools.islice(self._rows(prefix, low, high), limit)]
        for key in keys:
            value = self._txn.get(prefix + key, db=self._db)
            if value is not None:
                yield key, value

    def _rows(self, prefix: bytes, low: bytes, high: bytes) -> Iterator[tuple[bytes, bytes]]:
        cursor = self._txn.cursor(db=self._db)
        if not cursor.set_range(low):
            return
        strip = len(prefix)
        for key, value in cursor:
            if key >= high:
                return
            yield key[strip:], value

    def _check_writable(self) -> None:
        if not self._writable:
            raise StorageError("this TableView is read-only (it is on a read transaction)")
