"""Scans (type ids 128-135): a page of several buckets' keys from the group that serves them.

A client scanning the key space (docs/reference.md, "Scans") asks each owning group for
the buckets it serves, each from its own cursor, and merges the answers in key order.

`KvScan` names the buckets (at most MAX_SCAN_BUCKETS), each with the user key to read
after (None: from the first key with `prefix`); every row's key starts with `prefix`.
`max_rows` caps the rows of each bucket, `max_bytes` the page as a whole (keys, values
and a small overhead per row), except that a page always holds at least one row when
any bucket named has one, so a single value larger than `max_bytes` still makes
progress. The leader reads every bucket in one view after a read barrier (ReadIndex),
so one page is a linearizable read of the buckets it covers.

The answer, `ScanPage`, holds one `ScanBucketPage` per bucket served here, in the
request's order, and lists in `moved` the buckets this group does not serve at its
config `num` (moved away, not yet pulled in): the client refreshes its config and asks
the new owner from the same cursor. A bucket page's `more` says rows may follow its
last one (or that it was not reached because the page was full, then with no rows).
A refusal is an ErrorReply: not_leader, retry, bad_request, key_too_long.
"""

from __future__ import annotations

from dataclasses import dataclass

# Caps a node applies whatever a client asks, so one request costs bounded memory.
MAX_SCAN_BUCKETS = 1024
MAX_SCAN_ROWS = 10_000
MAX_SCAN_BYTES = 4 << 20


@dataclass(frozen=True, slots=True)
class ScanCursor:
    """Where to resume in one bucket: after user key `after` (None: from the start)."""

    bucket: int
    after: bytes | None = None


@dataclass(frozen=True, slots=True)
class KvScan:
    cursors: list[ScanCursor]
    prefix: bytes
    max_rows: int
    max_bytes: int
    keys_only: bool = False


# One row: key, value (None with keys_only), version, mod revision.
ScanRow = tuple[bytes, bytes | None, int, int]


@dataclass(frozen=True, slots=True)
class ScanBucketPage:
    """One bucket's rows after its cursor, in key order; `more`: rows may follow them."""

    bucket: int
    rows: list[ScanRow]
    more: bool


@dataclass(frozen=True, slots=True)
class ScanPage:
    """The answer to KvScan: pages of the buckets served here, and the buckets that are not."""

    pages: list[ScanBucketPage]
    moved: list[int]
    num: int
