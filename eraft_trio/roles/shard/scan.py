"""The scan query: one page of several buckets' rows whose keys start with a prefix (pure).

Keys in the "kv" table are the 4-byte bucket then the user key (tables.py), so the keys
of one bucket with a prefix are one contiguous range: [bucket + prefix, bucket +
prefix_end(prefix)), cut below by the bucket's cursor. A page reads each bucket named,
in the order named, from one view, which the leader opens after a read barrier.

Bounds: at most `max_rows` rows of each bucket, and about `max_bytes` for the whole page
(ROW_OVERHEAD per row on top of its key and value, so tiny rows count too); the row that
would overflow the page is left for the next one, unless the page has no row yet, so a
value larger than the page still makes progress. Buckets after the page filled up are
answered with no rows and `more`, and the client asks again from the same cursor.
"""

from __future__ import annotations

from typing import Any

from eraft_trio.protocol.errors import ErrorCode, ErrorReply
from eraft_trio.protocol.limits import MAX_KEY_BYTES
from eraft_trio.protocol.scan import (
    MAX_SCAN_BUCKETS,
    MAX_SCAN_BYTES,
    MAX_SCAN_ROWS,
    KvScan,
    ScanBucketPage,
    ScanPage,
)
from eraft_trio.roles.shard import replies, tables
from eraft_trio.roles.shard.buckets import Phase
from eraft_trio.storage.view import TableView

# What a row costs beyond its key and value: its version, revision and msgpack framing.
ROW_OVERHEAD = 24
_LAST_BUCKET = 2**32 - 1


def prefix_end(prefix: bytes) -> bytes | None:
    """The smallest byte string above every string that starts with `prefix`; None when
    there is none (an empty prefix, or one of 0xff bytes only: the range is unbounded)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


def key_range(bucket: int, prefix: bytes, after: bytes | None) -> tuple[bytes, bytes | None]:
    """The "kv" table range [start, end) of `bucket`'s keys with `prefix` after `after`
    (end None: to the table's end). A range with start >= end is empty."""
    base = tables.u32(bucket)
    start = base + prefix
    if after is not None:
        # The smallest key greater than `after` is `after` + NUL.
        start = max(start, base + after + b"\x00")
    suffix = prefix_end(prefix)
    if suffix is not None:
        return start, base + suffix
    return start, None if bucket == _LAST_BUCKET else tables.u32(bucket + 1)


def request_refusal(request: KvScan) -> ErrorReply | None:
    """Why a node refuses `request` before reading anything, or None when it is valid."""
    if len(request.prefix) > MAX_KEY_BYTES:
        return ErrorReply(
            ErrorCode.KEY_TOO_LONG,
            f"prefix of {len(request.prefix)} bytes; the limit is {MAX_KEY_BYTES}",
        )
    if not request.cursors or len(request.cursors) > MAX_SCAN_BUCKETS:
        return ErrorReply(ErrorCode.BAD_REQUEST, f"a scan names 1 to {MAX_SCAN_BUCKETS} buckets")
    if request.max_rows < 1 or request.max_bytes < 1:
        return ErrorReply(ErrorCode.BAD_REQUEST, "max_rows and max_bytes must be >= 1")
    seen: set[int] = set()
    for cursor in request.cursors:
        if cursor.bucket in seen or not 0 <= cursor.bucket <= _LAST_BUCKET:
            return ErrorReply(
                ErrorCode.BAD_REQUEST, f"bucket {cursor.bucket} named twice or out of range"
            )
        seen.add(cursor.bucket)
        if cursor.after is not None and len(cursor.after) > MAX_KEY_BYTES:
            return ErrorReply(
                ErrorCode.KEY_TOO_LONG,
                f"after key of {len(cursor.after)} bytes; the limit is {MAX_KEY_BYTES}",
            )
    return None


def query_of(request: KvScan) -> tuple[Any, ...]:
    """The state machine's read query for a valid request (caps applied)."""
    return (
        "scan",
        [(cursor.bucket, cursor.after) for cursor in request.cursors],
        request.prefix,
        min(request.max_rows, MAX_SCAN_ROWS),
        min(request.max_bytes, MAX_SCAN_BYTES),
        request.keys_only,
    )


def answer(view: TableView, args: list[Any]) -> dict[str, Any]:
    """The page a ("scan", cursors, prefix, max_rows, max_bytes, keys_only) query reads."""
    problem = _args_problem(args)
    if problem is not None:
        return replies.invalid(replies.BAD_QUERY, f"bad scan query: {problem}")
    cursors, prefix, max_rows, max_bytes, keys_only = args
    config = tables.current_config(view)
    nbuckets = len(config.buckets)
    pages: list[list[Any]] = []
    moved: list[int] = []
    page = _PageBudget(max_bytes)
    for bucket, after in cursors:
        if bucket >= nbuckets or tables.bucket_state(view, bucket).phase != Phase.SERVING:
            moved.append(bucket)
        elif page.full:
            pages.append([bucket, [], True])  # not reached: asked again from the same cursor
        else:
            rows, more = _bucket_rows(view, bucket, prefix, after, max_rows, keys_only, page)
            pages.append([bucket, rows, more])
    return {"pages": pages, "moved": moved, "num": config.num}


class _PageBudget:
    """The bytes left in the page; `full` once a row had to be left out."""

    def __init__(self, max_bytes: int) -> None:
        self.left = max_bytes
        self.rows = 0
        self.full = False

    def take(self, cost: int) -> bool:
        if self.rows and cost > self.left:
            self.full = True
            return False
        self.left -= cost
        self.rows += 1
        return True


def _bucket_rows(
    view: TableView,
    bucket: int,
    prefix: bytes,
    after: bytes | None,
    max_rows: int,
    keys_only: bool,
    page: _PageBudget,
) -> tuple[list[list[Any]], bool]:
    """Up to `max_rows` rows of one bucket that fit the page, and whether more may follow."""
    start, end = key_range(bucket, prefix, after)
    rows: list[list[Any]] = []
    if end is not None and start >= end:
        return rows, False
    # One row past max_rows tells whether the bucket has more.
    for row_key, record in view.scan(tables.KV, start, end, max_rows + 1):
        if len(rows) == max_rows:
            return rows, True
        key = row_key[4:]
        entry = tables.decode_record(record)
        value = None if keys_only else entry.value
        if not page.take(len(key) + (0 if value is None else len(value)) + ROW_OVERHEAD):
            return rows, True
        rows.append([bytes(key), value, entry.version, entry.mod_revision])
    return rows, False


def _args_problem(args: list[Any]) -> str | None:
    """What is wrong with a scan query's arguments (a query may come from any caller)."""
    if len(args) != 5:
        return "five arguments expected"
    cursors, prefix, max_rows, max_bytes, keys_only = args
    if not isinstance(prefix, bytes) or not isinstance(keys_only, bool):
        return "prefix must be bytes and keys_only a bool"
    if not (_positive_int(max_rows) and _positive_int(max_bytes)):
        return "max_rows and max_bytes must be integers >= 1"
    if not isinstance(cursors, list | tuple):
        return "cursors must be a list"
    for cursor in cursors:
        if not (isinstance(cursor, list | tuple) and len(cursor) == 2):
            return f"not a (bucket, after) cursor: {cursor!r}"
        bucket, after = cursor
        if not (_is_int(bucket) and 0 <= bucket <= _LAST_BUCKET):
            return f"not a bucket: {bucket!r}"
        if after is not None and not isinstance(after, bytes):
            return f"not an after key: {after!r}"
    return None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_int(value: object) -> bool:
    return _is_int(value) and value >= 1  # type: ignore[operator]


def to_scan_page(result: dict[str, Any]) -> ScanPage | ErrorReply:
    """The state machine's page as sent to the client."""
    refused = replies.error_of(result)
    if refused is not None:
        return refused
    pages = [
        ScanBucketPage(bucket, [(k, v, ver, rev) for k, v, ver, rev in rows], more)
        for bucket, rows, more in result["pages"]
    ]
    return ScanPage(pages, list(result["moved"]), result["num"])
