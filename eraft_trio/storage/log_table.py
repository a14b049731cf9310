"""Format 1 and 2 stores kept the Raft log in a `log` sub-db: 8-byte big-endian index keys,
msgpack [term, kind, data]. Read once, when such a store moves to the write-ahead log."""

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


def append(txn: lmdb.Transaction[bytes], db: Any, entries: Sequence[Entry]) -> None:
    """Store entries that go after every stored one (MDB_APPEND: no search, dense pages)."""
    for entry in entries:
        txn.put(index_key(entry.index), encode_entry(entry), db=db, append=True)
