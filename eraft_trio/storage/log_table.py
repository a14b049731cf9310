"""The Raft log in the `log` sub-db: 8-byte big-endian index keys, msgpack [term, kind, data]."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

import lmdb
import msgpack

from eraft_trio.raft.types import Entry, EntryKind

from .errors import StorageError

_INDEX = struct.Struct(">Q")


def index_key(index: int) -> bytes:
    return _INDEX.pack(index)


def key_index(key: bytes) -> int:
    index: int = _INDEX.unpack(key)[0]
    return index


def encode_entry(entry: Entry) -> bytes:
    packed: bytes = msgpack.packb([entry.term, int(entry.kind), entry.data], use_bin_type=True)
    return packed


def decode_entry(index: int, value: bytes) -> Entry:
    term, kind, data = msgpack.unpackb(value, raw=False)
    return Entry(term=term, index=index, data=data, kind=EntryKind(kind))


def last_index(txn: lmdb.Transaction[bytes], db: Any) -> int | None:
    """Index of the last stored entry, or None when the log is empty."""
    cursor = txn.cursor(db=db)
    return key_index(cursor.key()) if cursor.last() else None


def term_at(txn: lmdb.Transaction[bytes], db: Any, index: int) -> int | None:
    value = txn.get(index_key(index), db=db)
    return None if value is None else decode_entry(index, value).term


def entries_after(txn: lmdb.Transaction[bytes], db: Any, index: int) -> list[Entry]:
    """Every stored entry with a larger index, checking that they follow one another."""
    entries: list[Entry] = []
    cursor = txn.cursor(db=db)
    if not cursor.set_range(index_key(index + 1)):
        return entries
    expected = index + 1
    for key, value in cursor:
        at = key_index(key)
        if at != expected:
            raise StorageError(
                f"the stored log has a gap: entry {expected} is missing, next is {at}"
            )
        entries.append(decode_entry(at, value))
        expected += 1
    return entries


def delete_from(txn: lmdb.Transaction[bytes], db: Any, index: int) -> None:
    """Delete every entry with index >= `index`."""
    cursor = txn.cursor(db=db)
    if not cursor.set_range(index_key(index)):
        return
    while cursor.delete():  # delete() moves to the next entry; False at the end
        pass


def delete_through(txn: lmdb.Transaction[bytes], db: Any, index: int) -> None:
    """Delete every entry with index <= `index`."""
    cursor = txn.cursor(db=db)
    end = index_key(index)
    if not cursor.first():
        return
    while cursor.key() <= end and cursor.delete():
        pass


def append(txn: lmdb.Transaction[bytes], db: Any, entries: Sequence[Entry]) -> None:
    """Store entries that go after every stored one (MDB_APPEND: no search, dense pages)."""
    for entry in entries:
        txn.put(index_key(entry.index), encode_entry(entry), db=db, append=True)
