"""Where leases are kept: the byte layout of the lease tables and every read/write of them.

Tables (deterministic bytes, so replicas are byte-identical):
  "lease"  8-byte lease id -> msgpack([ttl_ms, deadline_ms, keys]) (the lease's header)
           8-byte lease id + 32-byte SHA-256 of a user key -> the user key (a key row: the
           key was attached to the lease)
           8-byte (bucket << 40) -> 8-byte last lease counter of the bucket (id counter 0,
           never a lease)
           8-byte (bucket << 40) + 32-byte SHA-256 of a user key -> 8-byte lease id (the
           holder row: the lease the key's current record belongs to)
  "ldl"    8-byte deadline ms + 8-byte lease id -> b"" (leases by deadline: expiry reads
           only what is due)
  "meta"   b"lease_promoted" -> 8-byte ms: the group clock at the last leader promotion
           b"lease_served" + 4-byte bucket -> 8-byte ms: the group clock when the bucket,
           moved here, began to be served (its leases' promotion; not transferred)
A lease id is `bucket << 40 | counter`: it names its bucket, so keep-alive and revoke are
routed by the id alone, and every row of a bucket's leases is one contiguous key range of
"lease" (which the bucket transfer copies and a drop deletes), holder rows included.

Key and holder rows are named by the key's digest, not the key: their length is fixed
(40 bytes), so they never collide with an 8-byte header or counter (an empty key once
did, and broke the lease on every replica) and fit LMDB's 511-byte key limit for every
key the kv table accepts (b"lease\0" + 8 + a 500-byte key would not).

A key is attached while its holder row names the lease: a leased put writes it, and
every other write of the key (tables.put_entry and delete_entry: plain puts, deletes,
txns, another lease's put first) deletes it. So the answer is the key's own state, the
same in whichever group the bucket lives (a record's mod revision is not: revisions are
per group, and a key detached and written again after a move could carry the attaching
revision again). A key row stays until its lease ends (it counts toward the lease's keys).

Promotion (a new leader extends every lease, as etcd does): the header keeps the
deadline as last written, and the effective one is max(deadline, promoted + ttl, served +
ttl); expiry rewrites a promoted lease's deadline when it meets it in the index. A bucket
that arrives by a move promotes its own leases the same way, in O(1), when its last chunk
is installed (the chunk's stamp moves the group clock first: this group's clock may be
stale, and the leases' holders could not keep them alive during the move).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import msgpack

from eraft_trio.protocol.limits import MAX_KEY_BYTES
from eraft_trio.storage.view import TableView

LEASES = "lease"
DEADLINES = "ldl"
META = "meta"  # tables.META: shared with the group's clock and config
_PROMOTED = b"lease_promoted"
_SERVED = b"lease_served"
_LAST_EXPIRY = b"lease_last_expiry"

COUNTER_BITS = 40
MAX_COUNTER = (1 << COUNTER_BITS) - 1
MAX_LEASE_BUCKET = (1 << (64 - COUNTER_BITS)) - 1
_ID_BYTES = 8
_DIGEST_BYTES = 32
_KEY_ROW_BYTES = _ID_BYTES + _DIGEST_BYTES


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease's TTL, its deadline on the group's clock (before promotion) and how many key
    rows it has (attached keys, a detached key's row counted until the lease ends)."""

    ttl_ms: int
    deadline_ms: int
    keys: int = 0

    def encode(self) -> bytes:
        return msgpack.packb([self.ttl_ms, self.deadline_ms, self.keys])

    @classmethod
    def decode(cls, raw: bytes) -> Lease:
        ttl_ms, deadline_ms, keys = msgpack.unpackb(raw)
        return cls(ttl_ms, deadline_ms, keys)


def _u64(value: int) -> bytes:
    return value.to_bytes(8, "big")


def _digest(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()


def _key_row(lease_id: int, key: bytes) -> bytes:
    return _u64(lease_id) + _digest(key)


def lease_bucket(lease_id: int) -> int:
    return lease_id >> COUNTER_BITS


def _bucket_start(bucket: int) -> bytes:
    return _u64(bucket << COUNTER_BITS)


def _bucket_end(bucket: int) -> bytes | None:
    return None if bucket >= MAX_LEASE_BUCKET else _u64((bucket + 1) << COUNTER_BITS)


def is_lease_id(lease_id: int) -> bool:
    """Whether `lease_id` could name a lease (a counter of 0 never does)."""
    return 0 < lease_id < 2**64 and lease_id & MAX_COUNTER != 0


# --- ids -----------------------------------------------------------------------------------


def new_lease_id(view: TableView, bucket: int) -> int | None:
    """The bucket's next lease id, counted in the bucket's own row (None: the counter ran out)."""
    key = _bucket_start(bucket)
    raw = view.get(LEASES, key)
    counter = 1 + (0 if raw is None else int.from_bytes(raw, "big"))
    if counter > MAX_COUNTER:
        return None
    view.put(LEASES, key, _u64(counter))
    return bucket << COUNTER_BITS | counter


# --- headers and the deadline index --------------------------------------------------------


def load(view: TableView, lease_id: int) -> Lease | None:
    raw = view.get(LEASES, _u64(lease_id))
    return None if raw is None else Lease.decode(raw)


def store(view: TableView, lease_id: int, lease: Lease, previous: Lease | None) -> None:
    """Write the header and keep the deadline index in step (`previous`: the header replaced)."""
    view.put(LEASES, _u64(lease_id), lease.encode())
    if previous is not None and previous.deadline_ms == lease.deadline_ms:
        return
    if previous is not None:
        view.delete(DEADLINES, _u64(previous.deadline_ms) + _u64(lease_id))
    view.put(DEADLINES, _u64(lease.deadline_ms) + _u64(lease_id), b"")


def promoted_ms(view: TableView) -> int:
    raw = view.get(META, _PROMOTED)
    return 0 if raw is None else int.from_bytes(raw, "big")


def promote(view: TableView, now_ms: int) -> None:
    """Extend every lease to at least `now_ms` + its TTL (in O(1): see the module docstring)."""
    if now_ms > promoted_ms(view):
        view.put(META, _PROMOTED, _u64(now_ms))


def serve_bucket(view: TableView, bucket: int, now_ms: int) -> None:
    """The moved `bucket` is served from `now_ms` on: its leases live at least a TTL more."""
    view.put(META, _SERVED + bucket.to_bytes(4, "big"), _u64(now_ms))


def _promoted_for(view: TableView, bucket: int) -> int:
    """The latest promotion that covers `bucket`'s leases (the group's, or its arrival)."""
    raw = view.get(META, _SERVED + bucket.to_bytes(4, "big"))
    return max(promoted_ms(view), 0 if raw is None else int.from_bytes(raw, "big"))


def effective_deadline(view: TableView, lease_id: int, lease: Lease) -> int:
    return max(lease.deadline_ms, _promoted_for(view, lease_bucket(lease_id)) + lease.ttl_ms)


def due(view: TableView, now_ms: int, limit: int) -> Iterator[tuple[int, int]]:
    """(deadline, lease id) of up to `limit` leases whose stored deadline is <= now_ms."""
    for key, _ in view.scan(DEADLINES, b"", _u64(now_ms + 1), limit):
        yield int.from_bytes(key[:8], "big"), int.from_bytes(key[8:], "big")


def next_deadline(view: TableView) -> int | None:
    """The earliest stored deadline (None: no lease), what the leader polls."""
    for key, _ in view.scan(DEADLINES, limit=1):
        return int.from_bytes(key[:8], "big")
    return None


# --- attached keys -------------------------------------------------------------------------


def attach(view: TableView, lease_id: int, key: bytes) -> bool:
    """Attach `key` (just written) to the lease; True if the lease's key row is new."""
    digest = _digest(key)
    row = _u64(lease_id) + digest
    is_new = view.get(LEASES, row) is None
    view.put(LEASES, row, key)
    view.put(LEASES, _bucket_start(lease_bucket(lease_id)) + digest, _u64(lease_id))
    return is_new


def has_key_row(view: TableView, lease_id: int, key: bytes) -> bool:
    return view.get(LEASES, _key_row(lease_id, key)) is not None


def holder(view: TableView, bucket: int, key: bytes) -> int | None:
    """The lease `key`'s current record belongs to (None: none)."""
    if bucket > MAX_LEASE_BUCKET:
        return None
    raw = view.get(LEASES, _bucket_start(bucket) + _digest(key))
    return None if raw is None else int.from_bytes(raw, "big")


def detach(view: TableView, bucket: int, key: bytes) -> None:
    """`key` is written (or deleted) by a write without a lease: no lease holds it now."""
    if bucket <= MAX_LEASE_BUCKET:  # a bucket past it can have no lease at all
        view.delete(LEASES, _bucket_start(bucket) + _digest(key))


def key_rows(view: TableView, lease_id: int) -> Iterator[bytes]:
    """The user keys of the lease's key rows, in digest order."""
    start = _u64(lease_id)
    end = None if lease_id == 2**64 - 1 else _u64(lease_id + 1)
    for row, raw in view.scan(LEASES, start, end):
        if len(row) == _ID_BYTES:
            continue  # the header
        yield bytes(raw)


def remove(view: TableView, lease_id: int, lease: Lease) -> list[bytes]:
    """Delete the lease (header, key rows, index row); the keys its key rows named."""
    keys = list(key_rows(view, lease_id))
    for key in keys:
        view.delete(LEASES, _key_row(lease_id, key))
    view.delete(LEASES, _u64(lease_id))
    view.delete(DEADLINES, _u64(lease.deadline_ms) + _u64(lease_id))
    return keys


def record_expiry(view: TableView, index: int, leases: int, keys: int) -> None:
    """Remember the last expiry that removed leases (status shows it on every replica)."""
    view.put(META, _LAST_EXPIRY, msgpack.packb([index, leases, keys]))


def last_expiry(view: TableView) -> dict[str, int] | None:
    raw = view.get(META, _LAST_EXPIRY)
    if raw is None:
        return None
    index, leases, keys = msgpack.unpackb(raw)
    return {"index": index, "leases": leases, "keys": keys}


# --- whole buckets (transfer and drop) -----------------------------------------------------


def bucket_rows(view: TableView, bucket: int, after: bytes | None) -> Iterator[tuple[bytes, bytes]]:
    """The bucket's raw "lease" rows with key > after (None: all), in key order; headers
    carry their effective deadline, so a lease promoted here moves promoted."""
    start = _bucket_start(bucket) if after is None else after + b"\x00"
    promoted = _promoted_for(view, bucket)
    for row, raw in view.scan(LEASES, start, _bucket_end(bucket)):
        if len(row) == _ID_BYTES and is_lease_id(int.from_bytes(row, "big")):
            lease = Lease.decode(raw)
            deadline = max(lease.deadline_ms, promoted + lease.ttl_ms)
            raw = Lease(lease.ttl_ms, deadline, lease.keys).encode()
        yield row, raw


def row_problem(bucket: int, row: bytes, raw: bytes) -> str | None:
    """Why a transferred lease row does not belong to `bucket`'s leases, or None: every
    row must be one this module writes (a bad one would raise on every replica later)."""
    if len(row) < _ID_BYTES or lease_bucket(int.from_bytes(row[:8], "big")) != bucket:
        return f"lease row {row!r} is not in bucket {bucket}"
    is_lease = is_lease_id(int.from_bytes(row[:8], "big"))
    if len(row) == _ID_BYTES and is_lease:
        try:
            Lease.decode(raw)
        except Exception:  # msgpack raises several unrelated types for bad input
            return f"lease row {row!r} is not a lease header"
    elif len(row) == _ID_BYTES:
        if len(raw) != 8:
            return f"lease row {row!r} is not a bucket's lease counter"
    elif len(row) == _KEY_ROW_BYTES and is_lease:
        if len(raw) > MAX_KEY_BYTES or _digest(raw) != row[8:]:
            return f"lease row {row!r} is not a key row (the key it digests)"
    elif len(row) == _KEY_ROW_BYTES:
        held_by = int.from_bytes(raw, "big") if len(raw) == 8 else 0
        if not is_lease_id(held_by) or lease_bucket(held_by) != bucket:
            return f"lease row {row!r} is not a holder row (a lease id of bucket {bucket})"
    else:
        return f"lease row {row!r} is not a lease row"
    return None


def install_row(view: TableView, row: bytes, raw: bytes, now_ms: int) -> None:
    """Install a transferred row. A header's deadline is at least `now_ms` + its TTL: the
    lease arrives on another group's clock, which it must not expire early by (the
    promotion a new leader gives, given by a move)."""
    if len(row) == _ID_BYTES and is_lease_id(int.from_bytes(row, "big")):
        lease_id = int.from_bytes(row, "big")
        carried = Lease.decode(raw)
        lease = Lease(
            carried.ttl_ms, max(carried.deadline_ms, now_ms + carried.ttl_ms), carried.keys
        )
        store(view, lease_id, lease, load(view, lease_id))
        return
    view.put(LEASES, row, raw)


def unindex_bucket(view: TableView, bucket: int) -> None:
    """Take a handed-off bucket's leases out of the deadline index: frozen, they must not
    expire here (the new owner has them now); their rows stay for the transfer."""
    for row, raw in list(view.scan(LEASES, _bucket_start(bucket), _bucket_end(bucket))):
        if len(row) == _ID_BYTES and is_lease_id(int.from_bytes(row, "big")):
            view.delete(DEADLINES, _u64(Lease.decode(raw).deadline_ms) + row)


def delete_bucket_leases(view: TableView, bucket: int) -> None:
    """Delete every lease row of `bucket` and their index rows (the bucket left this group)."""
    view.delete(META, _SERVED + bucket.to_bytes(4, "big"))
    for row, raw in list(view.scan(LEASES, _bucket_start(bucket), _bucket_end(bucket))):
        if len(row) == _ID_BYTES and is_lease_id(int.from_bytes(row, "big")):
            lease = Lease.decode(raw)
            view.delete(DEADLINES, _u64(lease.deadline_ms) + row)
        view.delete(LEASES, row)
