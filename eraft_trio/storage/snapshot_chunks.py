"""The wire form of a snapshot chunk: msgpack of a list of [key, value] rows of the `sm` sub-db."""

from __future__ import annotations

from collections.abc import Sequence

import msgpack

from .errors import SnapshotError

# msgpack framing per row (array header, two bin headers) and per chunk (array header),
# counted so a chunk stays within its byte budget.
ROW_OVERHEAD = 11
CHUNK_OVERHEAD = 5


def row_size(key: bytes, value: bytes) -> int:
    return len(key) + len(value) + ROW_OVERHEAD


def encode_chunk(rows: Sequence[tuple[bytes, bytes]]) -> bytes:
    packed: bytes = msgpack.packb([[key, value] for key, value in rows], use_bin_type=True)
    return packed


def decode_chunk(chunk: bytes) -> list[tuple[bytes, bytes]]:
    """Rows of a chunk; SnapshotError when it is not a list of [bytes, bytes] pairs."""
    try:
        decoded = msgpack.unpackb(chunk, raw=False)
    except (ValueError, msgpack.UnpackException) as exc:
        raise SnapshotError(f"snapshot chunk is not valid msgpack: {exc}") from exc
    if not isinstance(decoded, list):
        raise SnapshotError(f"snapshot chunk is a {type(decoded).__name__}, not a list of rows")
    rows: list[tuple[bytes, bytes]] = []
    for number, row in enumerate(decoded):
        if (
            not isinstance(row, list)
            or len(row) != 2
            or not isinstance(row[0], bytes)
            or not isinstance(row[1], bytes)
            or not row[0]
        ):
            raise SnapshotError(f"snapshot chunk row {number} is not a [key, value] pair of bytes")
        rows.append((row[0], row[1]))
    return rows
